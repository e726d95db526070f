/**
 * Messages between the bench orchestrator and its child processes (targets and generator
 * workers). Every request carries `rid`; the child answers with the same `rid`.
 */
import type { HistogramData } from './histogram.js';

/**
 * The servers under test (`bare-ws` answers WebSocket only: see `npm run bench -- websocket`;
 * `bayeux-metrics` is `bayeux` whose Prometheus metrics the bench turns on and off: see `npm run bench -- metrics`;
 * `faye-redis` is Faye on the faye-redis engine, the Redis peer of `npm run bench -- redis`;
 * `bayeux-redis-logs` is `bayeux-redis` with `fanout: 'logs'`).
 */
export type TargetName = 'bayeux' | 'faye' | 'cometd' | 'limit' | 'bayeux-redis' | 'bayeux-redis-logs' | 'faye-redis' | 'bare-ws' | 'bayeux-metrics';
/** The targets `compare` runs by default. */
export const TARGET_NAMES: readonly TargetName[] = ['bayeux', 'faye', 'cometd', 'limit'];
/** The targets that keep their state in Redis: each run gets a fresh redis-server, measured from its side. */
export const REDIS_TARGET_NAMES: readonly TargetName[] = ['bayeux-redis', 'bayeux-redis-logs', 'faye-redis'];
/** Every target `--targets` accepts: also the Redis ones (see `npm run bench -- redis`). */
export const ALL_TARGET_NAMES: readonly TargetName[] = [...TARGET_NAMES, ...REDIS_TARGET_NAMES, 'bayeux-metrics'];

/** Whether a target needs the Redis the bench starts for it (`TargetConfig.redisUrl`). */
export function usesRedis(name: TargetName): boolean {
  return REDIS_TARGET_NAMES.includes(name);
}

/** Settings a target process starts with (argv[2], JSON). */
export interface TargetConfig {
  /** How long a /meta/connect is held, ms (the same for every target in a run). */
  timeout: number;
  /** How long a session lives without a connect, ms (Faye has no such option: 2 × timeout). */
  maxInterval: number;
  path: string;
  /** bayeux-redis, bayeux-redis-logs, faye-redis: the Redis to use (the bench starts its own redis-server). */
  redisUrl?: string;
  /** bayeux-redis, bayeux-redis-logs: bound on one Redis command, ms (the engine's `commandTimeoutMs`; unset: its default). */
  redisCommandTimeout?: number;
}

/** What a target reports about itself. */
export interface TargetStats {
  /** process.cpuUsage(), µs. */
  cpuUser: number;
  cpuSystem: number;
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  /** Requests whose response has not been ended yet (held connects, mostly). */
  openRequests: number;
  /** Requests received since start. */
  requests: number;
  /** TCP connections open now (`server.getConnections`; upgraded WebSocket sockets included). */
  connections: number;
  /** Live sessions according to the server itself. */
  sessions: number;
}

export type TargetRequest =
  | { rid: number; cmd: 'stats'; gc: boolean }
  | { rid: number; cmd: 'publish'; channel: string; count: number; intervalMs: number; tag: string }
  | { rid: number; cmd: 'profile'; action: 'start' | 'stop'; file: string }
  | { rid: number; cmd: 'heapSnapshot'; file: string }
  | { rid: number; cmd: 'metrics'; on: boolean }
  | { rid: number; cmd: 'stop' };

export interface PublishResult {
  /** Epoch ms (sub-ms precision) of the first and last publish call. */
  t0: number;
  t1: number;
  published: number;
}

/** Settings a generator worker starts with (argv[2], JSON). */
export interface WorkerConfig {
  host: string;
  port: number;
  /** Several target processes: each new connection goes to the next port, round-robin (`port` is then unused). */
  ports?: number[];
  path: string;
  /** Loopback source addresses, used round-robin per connection. */
  addrs: string[];
  index: number;
}

/** How a simulated client talks to the server. */
export type ClientTransport = 'long-polling' | 'websocket';

/** A group of simulated clients to create in one worker. */
export interface SpawnSpec {
  /** Default long-polling. */
  transport?: ClientTransport;
  /** Global index of the first client (channel assignment uses it). */
  first: number;
  count: number;
  /** Subscribe to `${channelPrefix}${(index % channelModulo)}`, or to `channelPrefix` when modulo is 0. */
  subscribePrefix: string | null;
  subscribeModulo: number;
  /** Publishers publish to `${publishPrefix}${index % publishModulo}` on a second connection. */
  publishPrefix: string | null;
  publishModulo: number;
  /** Clients being set up at once (bounds the ramp). */
  concurrency: number;
}

export interface ChurnSpec {
  /** Default long-polling; over WebSocket a session disconnects (or vanishes) on its own socket. */
  transport?: ClientTransport;
  /** Stop starting new sessions after this long, ms (0: use `sessions`). */
  durationMs: number;
  /** Or run exactly this many sessions (when durationMs is 0). */
  sessions: number;
  concurrency: number;
  /** Fraction of sessions that vanish (socket destroyed while a connect is held) instead of disconnecting. */
  vanish: number;
  channels: number;
  /** advice.timeout sent on the held connect (ms); the server holds it at most this long. */
  holdMs: number;
}

export interface TagCounters {
  count: number;
  hist: HistogramData;
  /** Epoch ms of the first and last receipt. */
  firstAt: number;
  lastAt: number;
}

export interface WorkerSnapshot {
  /** process.cpuUsage() user + system, µs. */
  cpu: number;
  /** Held-connect round trips completed (replies to non-first connects). */
  connectReplies: number;
  deliveries: Record<string, TagCounters>;
  /** Clients whose held connect is out right now. */
  holding: number;
  clients: number;
  errors: number;
  /** Connections re-opened after the server closed one. */
  reconnects: number;
  /** Sessions the server forgot (402) and that had to handshake again. */
  rehandshakes: number;
  acks: number;
  nacks: number;
  firstError: string | null;
}

export type WorkerRequest =
  | { rid: number; cmd: 'spawn'; spec: SpawnSpec }
  | { rid: number; cmd: 'snapshot'; reset: boolean }
  | { rid: number; cmd: 'publish'; durationMs: number; tag: string }
  | { rid: number; cmd: 'churn'; spec: ChurnSpec }
  | { rid: number; cmd: 'close' };

export interface SpawnResult {
  established: number;
  failed: number;
}

export interface PublishLoopResult {
  acks: number;
  nacks: number;
  /** Publishes sent but not answered by the end (counted as failed). */
  unanswered: number;
}

export interface ChurnResult {
  created: number;
  disconnected: number;
  vanished: number;
  failed: number;
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}
