/**
 * The Redis engine: sessions, subscriptions, queues and expiry in Redis, so several
 * processes serve the same clients and any process answers any request.
 *
 * - A published payload is stored once (`P:m:<mid>`, reference-counted, with a TTL as a
 *   safety net); session queues hold message ids only.
 * - Every operation is one Lua script: one round trip, whatever the number of subscribers.
 * - The process holding a session's connect is recorded in the session; a publish wakes
 *   only the processes that hold a subscriber, once each, on their own pub/sub channel.
 * - Expiry is swept once for the cluster, by whichever process takes the sweep lock.
 * - When Redis cannot be reached, calls reject at once with {@link EngineUnavailableError}
 *   (no offline queue, bounded command time): the core answers `503` with retry advice.
 *
 * See lib/redis/scripts.ts for the key layout.
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import { Redis, type RedisOptions } from 'ioredis';
import { expandChannel } from './channel-name.js';
import {
  EngineUnavailableError,
  type ConnectResult,
  type Engine,
  type EngineConfig,
  type EngineListener,
  type Mail,
  type SessionRemovedReason,
  type SubscribeResult,
} from './engine.js';
import { SCRIPTS, type ScriptName } from './redis/scripts.js';

const debug = createDebug('bayeux:engine:redis');

/** Options of {@link redisEngine}. */
export interface RedisEngineOptions {
  /** `redis://[:password@]host:port[/db]` (ignored when `redis` gives host/port/sentinels). */
  url?: string;
  /** ioredis options (host, port, sentinels, name, password, tls…); merged over the engine's defaults. */
  redis?: RedisOptions;
  /** Prefix of every key and pub/sub channel (several servers can share one Redis). Default `bayeux`. */
  prefix?: string;
  /** Safety TTL of a stored payload, ms (a queue normally releases it sooner). Default 10 minutes. */
  messageTtlMs?: number;
  /**
   * How long a session in a connect (or holding one) lives without news, ms: covers a
   * process that died while holding it. Must exceed the server's `timeout`. Default 2 minutes.
   */
  connectLeaseMs?: number;
  /** Bound on one Redis command, ms; past it the call fails as unavailable. Default 2000. */
  commandTimeoutMs?: number;
  /** Retry advice (`interval`) sent to clients while Redis is unreachable, ms. Default 1000. */
  retryMs?: number;
  /** Most sessions removed per sweep. Default 1000. */
  sweepBatch?: number;
}

type Reply = null | number | string | Reply[];
type ScriptCall = (...args: (string | number)[]) => Promise<Reply>;

const EMPTY_FIRST: ConnectResult = Object.freeze({ first: true, messages: null, held: false });
const HELD: ConnectResult = Object.freeze({ first: false, messages: null, held: true });
const AGAIN_EMPTY: ConnectResult = Object.freeze({ first: false, messages: null, held: false });

const REASONS = new Set<SessionRemovedReason>(['disconnect', 'timeout', 'server']);

/** Mail from a script reply: payloads from `from` on; the batch number (0: none) just before them. */
function mail(r: Reply[], from: number): Mail {
  const m: Mail = r.slice(from) as string[];
  const batch = r[from - 1] as number;
  if (batch > 0) m.batch = batch;
  return m;
}

/** The Redis engine. Create it with {@link redisEngine}. */
export class RedisEngine implements Engine {
  /** This process's id in the cluster (names its wake channel). */
  readonly processId = randomBytes(8).toString('hex');
  readonly prefix: string;
  private readonly options: RedisEngineOptions;
  private redis: Redis | null = null;
  private sub: Redis | null = null;
  private listener: EngineListener | null = null;
  private maxQueue = 10_000;
  private sweepInterval = 1000;
  private sweeper: NodeJS.Timeout | null = null;
  private sweeping = false;
  /** Sessions whose connect this process holds (to wake them all after a pub/sub reconnect). */
  private readonly heldHere = new Set<string>();
  /** Sessions with a holding beginConnect in flight, and wakes that arrived meanwhile. */
  private readonly connecting = new Map<string, number>();
  private readonly lateWakes = new Set<string>();
  private readonly barriers: (() => void)[] = [];
  private subscribedOnce = false;

  constructor(options: RedisEngineOptions = {}) {
    this.options = options;
    this.prefix = options.prefix ?? 'bayeux';
  }

  private get wakeChannel(): string {
    return `${this.prefix}:w:${this.processId}`;
  }

  /** The command connection (for specs and tools: e.g. counting round trips). */
  get client(): Redis {
    if (!this.redis) throw new Error('bayeux-server: the Redis engine is not open');
    return this.redis;
  }

  private connection(forSubscriber: boolean): Redis {
    const o = this.options;
    const base: RedisOptions = forSubscriber
      ? { maxRetriesPerRequest: null, enableOfflineQueue: true }
      : { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: o.commandTimeoutMs ?? 2000 };
    const opts: RedisOptions = {
      retryStrategy: (times) => Math.min(50 * times, 1000),
      ...base,
      ...o.redis,
      ...(forSubscriber ? { enableOfflineQueue: true, maxRetriesPerRequest: null } : {}),
    };
    const r = o.url ? new Redis(o.url, opts) : new Redis(opts);
    r.on('error', (err: Error) => debug('%s connection: %s', forSubscriber ? 'pub/sub' : 'command', err.message));
    return r;
  }

  async open(listener: EngineListener, config: EngineConfig): Promise<void> {
    this.listener = listener;
    this.maxQueue = config.maxQueue;
    this.sweepInterval = config.sweepInterval;
    const redis = (this.redis = this.connection(false));
    for (const [name, [keys, lua]] of Object.entries(SCRIPTS)) {
      redis.defineCommand(name, keys >= 0 ? { numberOfKeys: keys, lua } : { lua });
    }
    const sub = (this.sub = this.connection(true));
    sub.on('message', (_channel: string, message: string) => this.onNotice(message));
    sub.on('ready', () => {
      // After a reconnect, wakes sent meanwhile were lost: look at every hold once.
      if (this.subscribedOnce) for (const id of this.heldHere) this.listener?.wake(id);
    });
    this.sweeper = setInterval(() => void this.sweep(), config.sweepInterval);
    this.sweeper.unref();
    // Wait (bounded) for both connections; if Redis is down, calls fail with 503 until it is back.
    const ready = (r: Redis) =>
      r.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => r.once('ready', () => resolve()));
    await Promise.race([
      Promise.all([ready(redis), sub.subscribe(this.wakeChannel).then(() => void (this.subscribedOnce = true))]),
      new Promise((r) => setTimeout(r, this.options.commandTimeoutMs ?? 2000).unref()),
    ]).catch((err) => debug('open: %O', err));
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const all = [this.redis, this.sub];
    this.redis = this.sub = null;
    this.heldHere.clear();
    for (const b of this.barriers.splice(0)) b();
    await Promise.all(
      all.map(async (r) => {
        if (!r) return;
        try {
          if (r.status === 'ready') await r.quit();
          else r.disconnect();
        } catch {
          r.disconnect();
        }
      }),
    );
  }

  /**
   * Resolves once every notice Redis sent to this process before now has been handled
   * (a message to ourselves through the same pub/sub channel). For specs and tools.
   */
  async barrier(): Promise<void> {
    const done = new Promise<void>((resolve) => this.barriers.push(resolve));
    await this.run(() => this.client.publish(this.wakeChannel, ''));
    return done;
  }

  private onNotice(message: string): void {
    const listener = this.listener;
    if (!listener) return;
    if (message === '') {
      this.barriers.shift()?.();
      return;
    }
    if (message.charCodeAt(0) === 33 /* ! */) {
      const colon = message.indexOf(':');
      const reason = message.slice(1, colon) as SessionRemovedReason;
      const id = message.slice(colon + 1);
      this.heldHere.delete(id);
      listener.sessionRemoved(id, REASONS.has(reason) ? reason : 'server');
      return;
    }
    for (const id of message.split(',')) {
      if (this.connecting.has(id)) this.lateWakes.add(id);
      else listener.wake(id);
    }
  }

  /** Runs a command, turning connection failures into {@link EngineUnavailableError}. */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.redis) throw new EngineUnavailableError('the Redis engine is closed', this.options.retryMs ?? 1000);
    try {
      return await fn();
    } catch (err) {
      if ((err as Error)?.name === 'ReplyError') throw err;
      throw new EngineUnavailableError(`Redis unavailable: ${(err as Error)?.message ?? String(err)}`, this.options.retryMs ?? 1000, {
        cause: err,
      });
    }
  }

  private script(name: ScriptName, ...args: (string | number)[]): Promise<Reply> {
    return this.run(() => (this.client as unknown as Record<ScriptName, ScriptCall>)[name](...args));
  }

  private key(clientId: string): string {
    return `{${this.prefix}:${clientId}}:s`;
  }

  private get leaseMs(): number {
    return this.options.connectLeaseMs ?? 120_000;
  }

  private get ttlMs(): number {
    return this.options.messageTtlMs ?? 600_000;
  }

  async createSession(clientId: string, expiresInMs: number): Promise<void> {
    await this.script('bxCreate', this.key(clientId), this.prefix, clientId, Date.now() + expiresInMs);
  }

  async destroySession(clientId: string, reason: SessionRemovedReason): Promise<boolean> {
    this.heldHere.delete(clientId);
    const r = await this.script('bxDestroy', this.key(clientId), this.prefix, clientId, reason, this.processId);
    return r === 1;
  }

  async hasSession(clientId: string): Promise<boolean> {
    return (await this.run(() => this.client.exists(this.key(clientId)))) === 1;
  }

  async sessionCount(): Promise<number> {
    return this.run(() => this.client.zcard(`${this.prefix}:exp`));
  }

  async beginConnect(clientId: string, hold: boolean): Promise<ConnectResult | null> {
    if (hold) this.connecting.set(clientId, (this.connecting.get(clientId) ?? 0) + 1);
    let r: Reply;
    try {
      r = await this.script('bxBegin', this.key(clientId), this.prefix, clientId, this.processId, hold ? '1' : '0', Date.now() + this.leaseMs);
    } finally {
      if (hold) {
        const n = this.connecting.get(clientId)! - 1;
        if (n === 0) this.connecting.delete(clientId);
        else this.connecting.set(clientId, n);
      }
    }
    if (r === null) return null;
    const a = r as Reply[];
    const first = a[0] === 1;
    if (a[1] === 1) {
      this.heldHere.add(clientId);
      // A wake that arrived while we waited for the answer: deliver it now; the core
      // registers the hold before the wake is flushed (HeldConnects flushes on setImmediate).
      if (this.lateWakes.delete(clientId)) this.listener?.wake(clientId);
      return HELD;
    }
    this.lateWakes.delete(clientId);
    if (a.length > 3) return { first, messages: mail(a, 3), held: false };
    return first ? EMPTY_FIRST : AGAIN_EMPTY;
  }

  async endConnect(clientId: string, expiresInMs: number, take: boolean): Promise<Mail | null> {
    this.heldHere.delete(clientId);
    const r = await this.script('bxEnd', this.key(clientId), this.prefix, clientId, this.processId, Date.now() + expiresInMs, take ? '1' : '0');
    return r === null ? null : mail(r as Reply[], 1);
  }

  async takeQueued(clientId: string, piggyback = false): Promise<Mail | null> {
    const r = await this.script('bxTake', this.key(clientId), this.prefix, clientId, piggyback ? '1' : '0');
    if (r === null) return null;
    const m = mail(r as Reply[], 1);
    return m.length === 0 ? null : m;
  }

  async enableAcknowledgement(clientId: string): Promise<boolean> {
    return (await this.script('bxAckOn', this.key(clientId), this.prefix, clientId)) === 1;
  }

  async acknowledge(clientId: string, batch: number): Promise<number> {
    return (await this.script('bxAck', this.key(clientId), this.prefix, clientId, batch)) as number;
  }

  async requeue(clientId: string, payloads: string[]): Promise<void> {
    if (payloads.length === 0) return;
    const dropped = await this.script('bxRequeue', this.key(clientId), this.prefix, clientId, this.ttlMs, this.maxQueue, ...payloads);
    this.overflowed(clientId, dropped as number);
  }

  async subscribe(clientId: string, channels: readonly string[], max: number): Promise<SubscribeResult> {
    const r = await this.script('bxSubscribe', this.key(clientId), this.prefix, clientId, max, ...channels);
    return r === 1 ? 'ok' : r === 0 ? 'limit' : 'unknown-session';
  }

  async unsubscribe(clientId: string, channels: readonly string[]): Promise<boolean> {
    return (await this.script('bxUnsubscribe', this.key(clientId), this.prefix, clientId, ...channels)) === 1;
  }

  async subscriptions(clientId: string): Promise<string[] | null> {
    return (await this.script('bxSubscriptions', this.key(clientId), this.prefix, clientId)) as string[] | null;
  }

  async publish(channel: string, payload: string, exclude?: string): Promise<number> {
    const keys = expandChannel(channel).map((c) => `${this.prefix}:ch:${c}`);
    const r = (await this.script('bxPublish', keys.length, ...keys, this.prefix, exclude ?? '', this.ttlMs, this.maxQueue, payload)) as Reply[];
    for (let i = 1; i + 1 < r.length; i += 2) this.overflowed(r[i] as string, r[i + 1] as number);
    return r[0] as number;
  }

  async deliver(clientId: string, payload: string): Promise<boolean> {
    const dropped = (await this.script('bxDeliver', this.key(clientId), this.prefix, clientId, this.ttlMs, this.maxQueue, payload)) as number;
    if (dropped < 0) return false;
    this.overflowed(clientId, dropped);
    return true;
  }

  private overflowed(clientId: string, dropped: number): void {
    if (dropped > 0) {
      debug('session %s queue full: dropped %d', clientId, dropped);
      this.listener?.queueOverflow(clientId, dropped);
    }
  }

  /** One sweep attempt: only the process that takes the lock removes anything. */
  private async sweep(): Promise<void> {
    if (this.sweeping || !this.redis || this.redis.status !== 'ready') return;
    this.sweeping = true;
    try {
      const batch = this.options.sweepBatch ?? 1000;
      const removed = (await this.script('bxSweep', this.prefix, Date.now(), batch, this.processId, this.sweepInterval)) as string[] | null;
      if (removed === null || this.redis === null) return;
      for (const id of removed) {
        debug('session %s expired', id);
        this.listener?.sessionRemoved(id, 'timeout');
      }
    } catch (err) {
      debug('sweep failed: %s', (err as Error).message);
    } finally {
      this.sweeping = false;
    }
  }
}

/**
 * Creates a Redis engine: `new BayeuxServer({ engine: redisEngine({ url: 'redis://127.0.0.1:6379' }) })`.
 * Every process of the cluster uses the same Redis and prefix.
 */
export function redisEngine(options: RedisEngineOptions = {}): RedisEngine {
  return new RedisEngine(options);
}
