/**
 * Options of the Redis engine: their types, their one-time check, and the ioredis
 * connections they describe (a single Redis, Sentinel, Cluster, or a client passed in).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { codedTypeError } from '../../coded-errors.js';

/** A Redis node address. */
export interface RedisNodeAddress {
  /** Host name or IP address. */
  host: string;
  /** TCP port. */
  port: number;
}

/** Options of `redisEngine()`. Give one of `url`/`redis`, `sentinels`, `cluster` or `client`. */
export interface RedisEngineOptions {
  /** `redis://[:password@]host:port[/db]` of a single Redis. */
  url?: string;
  /** ioredis options (host, port, password, tls…), merged over the engine's defaults; with `cluster`, used for every node. */
  redis?: RedisOptions;
  /** Redis Sentinel: the sentinels to ask for the master named `name`. */
  sentinels?: RedisNodeAddress[];
  /** Redis Sentinel: the master's name (`sentinel monitor <name> …`). */
  name?: string;
  /** Redis Cluster: some of its nodes (ioredis discovers the rest). */
  cluster?: (RedisNodeAddress | string)[];
  /** Redis Cluster: ioredis Cluster options, merged over the engine's defaults. */
  clusterOptions?: ClusterOptions;
  /**
   * An ioredis client or cluster you created. The engine uses it for commands, opens a
   * duplicate for pub/sub, and does not close it. Its own options apply (with ioredis's
   * defaults, commands wait in an offline queue while Redis is down, instead of failing at once).
   */
  client?: Redis | Cluster;
  /**
   * Number of buckets sessions are spread over (each a hash slot). Every process of the
   * deployment must use the same value. Default 1 on a single Redis or Sentinel, 16 on a Cluster.
   */
  buckets?: number;
  /**
   * Report cluster events (sessions added and removed, subscribe, unsubscribe) to every
   * process (`BayeuxServer` events `clusterSessionAdded`…). Turn it on in every process:
   * each publishes the events of the changes it makes. Default false (nothing published).
   */
  clusterEvents?: boolean;
  /** Prefix of every key and pub/sub channel (several servers can share one Redis). Default `bayeux`. */
  prefix?: string;
  /** Safety TTL of a stored payload, ms (a queue normally releases it sooner). Default 10 minutes. */
  messageTtlMs?: number;
  /**
   * How long a session in a connect (or holding one) lives without news, ms: covers a
   * process that died while holding it. Must exceed the server's `timeout`. Default 2 minutes.
   */
  connectLeaseMs?: number;
  /**
   * How long Redis may stay silent while commands wait, ms; past it they fail as
   * unavailable. Counted from the last reply, not per command, so a command queued behind
   * many others (a publish waking thousands of connects) waits its turn. Default 2000.
   */
  commandTimeoutMs?: number;
  /** Retry advice (`interval`) sent to clients while Redis is unreachable, ms. Default 1000. */
  retryMs?: number;
  /** Most sessions removed per sweep (per bucket). Default 1000. */
  sweepBatch?: number;
  /**
   * With more than one bucket: how long a bucket stays in the channel index after a
   * subscription while it looks empty, ms (covers a subscribe still on its way). Default 60000.
   */
  indexGraceMs?: number;
  /**
   * How a publish reaches its subscribers. `'logs'` (default): the message is appended once
   * to a log per subscription key (the channel, and each wildcard pattern matching it, with
   * subscribers in the bucket), and each process reads a log once for all the sessions it
   * holds, after their own read positions; mail for one session (`deliver`, service replies)
   * still goes to its own queue, in order with the logs. The bound `maxQueue` then applies
   * per log (a session subscribed to two busy channels may fall `maxQueue` behind on each,
   * each drop reported) and to what one take returns; mail published before an unsubscribe
   * and not yet taken is not delivered after it. `'queues'` (the only mode of 0.1.0): the
   * message's id is appended to every subscriber's queue, so a publish costs Redis
   * O(subscribers). Every process of a deployment must use the same value: the first
   * records it in Redis, and a process with another stays down with an error that says so
   * (docs/scaling.md, "Fan-out mode").
   */
  fanout?: 'queues' | 'logs';
  /**
   * On a Redis Cluster: carry the engine's notices (wakes, log notices, cluster events) by
   * sharded pub/sub (SPUBLISH, Redis 7.0+), each on a channel of its bucket's hash slot, so a
   * notice stays on the node that owns the bucket; plain PUBLISH is copied to every node of
   * the Cluster. Default true on a Cluster, where every master runs Redis 7.0 or later
   * (checked when the engine opens; with an older one it falls back to PUBLISH). Only for a
   * Cluster. Every process of a deployment must use the same value.
   */
  shardedPubSub?: boolean;
}

/** Largest useful bucket count: Redis Cluster has 16384 hash slots. */
export const MAX_BUCKETS = 16384;

function positive(name: string, v: number | undefined): void {
  if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine option ${name} must be a positive number, got ${String(v)}`);
  }
}

export function nodeAddress(n: RedisNodeAddress | string): RedisNodeAddress {
  if (typeof n === 'string') {
    const m = /^(.+):(\d+)$/.exec(n);
    if (!m) throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine cluster node ${JSON.stringify(n)} is not host:port`);
    return { host: m[1]!, port: Number(m[2]) };
  }
  if (typeof n?.host !== 'string' || !Number.isInteger(n.port)) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine cluster node ${JSON.stringify(n)} needs a host and a port`);
  }
  return n;
}

/** Checks the options once, so a mistake is a clear error at start-up. */
export function validateOptions(o: RedisEngineOptions): void {
  if (typeof o !== 'object' || o === null) throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'redisEngine options must be an object');
  const targets = [o.url !== undefined, o.sentinels !== undefined, o.cluster !== undefined, o.client !== undefined].filter(Boolean).length;
  if (targets > 1) throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'give redisEngine only one of url, sentinels, cluster and client');
  if (o.url !== undefined && (typeof o.url !== 'string' || !/^rediss?:\/\//.test(o.url))) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine url must be redis://… or rediss://…, got ${JSON.stringify(o.url)}`);
  }
  if (o.sentinels !== undefined) {
    if (!Array.isArray(o.sentinels) || o.sentinels.length === 0) throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'redisEngine sentinels must be a non-empty array');
    o.sentinels.forEach(nodeAddress);
    if (typeof o.name !== 'string' || o.name === '') throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'redisEngine sentinels need the master name (option name)');
  }
  if (o.cluster !== undefined) {
    if (!Array.isArray(o.cluster) || o.cluster.length === 0) throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'redisEngine cluster must be a non-empty array of nodes');
    o.cluster.forEach(nodeAddress);
  }
  if (o.client !== undefined && !(o.client instanceof Redis || o.client instanceof Cluster)) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'redisEngine client must be an ioredis Redis or Cluster');
  }
  if (o.prefix !== undefined && (typeof o.prefix !== 'string' || o.prefix === '' || /[{}]/.test(o.prefix))) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine prefix must be a non-empty string without { or }, got ${JSON.stringify(o.prefix)}`);
  }
  if (o.buckets !== undefined && !(Number.isInteger(o.buckets) && o.buckets >= 1 && o.buckets <= MAX_BUCKETS)) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine buckets must be an integer from 1 to ${MAX_BUCKETS}, got ${String(o.buckets)}`);
  }
  if (o.shardedPubSub !== undefined && typeof o.shardedPubSub !== 'boolean') {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine shardedPubSub must be a boolean, got ${JSON.stringify(o.shardedPubSub)}`);
  }
  if (o.shardedPubSub === true && o.cluster === undefined && !(o.client instanceof Cluster)) {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', 'redisEngine shardedPubSub is for a Redis Cluster (options cluster, or a Cluster client)');
  }
  if (o.fanout !== undefined && o.fanout !== 'queues' && o.fanout !== 'logs') {
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `redisEngine fanout must be 'queues' or 'logs', got ${JSON.stringify(o.fanout)}`);
  }
  for (const k of ['messageTtlMs', 'connectLeaseMs', 'commandTimeoutMs', 'retryMs', 'sweepBatch', 'indexGraceMs'] as const) positive(k, o[k]);
}

/**
 * Opens the command connection (no offline queue, bounded command time: calls fail at once
 * while Redis is unreachable) or the pub/sub connection (reconnects and re-subscribes by
 * itself). A client passed in is used as it is, and duplicated for pub/sub.
 */
export function createConnection(o: RedisEngineOptions, forSubscriber: boolean): Redis | Cluster {
  // Sharded pub/sub on a Cluster: one subscriber connection per master (ioredis routes SSUBSCRIBE by slot).
  const sharded = forSubscriber && o.shardedPubSub !== false;
  if (o.client) {
    if (!forSubscriber) return o.client;
    return o.client instanceof Cluster ? o.client.duplicate(undefined, sharded ? { shardedSubscribers: true } : {}) : o.client.duplicate();
  }
  // The engine bounds commands itself (reply-watchdog.ts: Redis silent for commandTimeoutMs,
  // not one command that long, so a busy process's late reads fail nothing). A Cluster keeps
  // a per-command cap too, at 10 × the bound: there one node can fall silent while the
  // others answer, which the watchdog, counting every node's replies, would not see.
  const commandTimeout = (o.commandTimeoutMs ?? 2000) * 10;
  const retryStrategy = (times: number) => Math.min(50 * times, 1000);
  if (o.cluster) {
    return new Cluster(o.cluster.map(nodeAddress), {
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: forSubscriber,
      ...o.clusterOptions,
      ...(forSubscriber ? { enableOfflineQueue: true } : {}),
      ...(sharded ? { shardedSubscribers: true } : {}),
      redisOptions: {
        ...(forSubscriber ? {} : { commandTimeout, maxRetriesPerRequest: 0 }),
        ...o.redis,
        ...o.clusterOptions?.redisOptions,
      },
    });
  }
  const base: RedisOptions = forSubscriber
    ? { maxRetriesPerRequest: null, enableOfflineQueue: true }
    : { maxRetriesPerRequest: 0, enableOfflineQueue: false };
  const opts: RedisOptions = {
    retryStrategy,
    ...base,
    ...(o.sentinels ? { sentinels: o.sentinels, name: o.name } : {}),
    ...o.redis,
    ...(forSubscriber ? { enableOfflineQueue: true, maxRetriesPerRequest: null } : {}),
  };
  return o.url ? new Redis(o.url, opts) : new Redis(opts);
}
