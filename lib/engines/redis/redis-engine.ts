/**
 * The Redis engine: sessions, subscriptions, queues and expiry in Redis, so several
 * processes serve the same clients and any process answers any request. Works with a
 * single Redis, with Redis Sentinel and with Redis Cluster.
 *
 * - Sessions are spread over `buckets` hash-tagged buckets (1 on a single Redis, 16 on a
 *   Cluster by default); every script touches one bucket, so one hash slot.
 * - A published payload is stored once per bucket that has subscribers (once, on a single
 *   Redis), reference-counted, with a TTL as a safety net; session queues hold ids only.
 * - A publish costs one script per bucket with subscribers, all sent at once; with more
 *   than one bucket a channel index is asked first which buckets those are. Round trips
 *   per publish: 1 on a single Redis, 2 on a Cluster, whatever the number of subscribers.
 * - The process holding a session's connect is recorded in the session; a publish wakes
 *   only the processes that hold a subscriber, once each per bucket, on their own channel.
 * - The connect cycle's calls (begin a connect, take mail, end a hold) asked for in one
 *   tick go out merged, one script call per bucket (lib/engines/redis/op-batch.ts): a publish
 *   waking thousands of held connects costs a few round trips, not two per session.
 * - Expiry is swept once for the cluster, by whichever process takes the sweep lock.
 * - Cluster events (sessions added and removed, subscriptions), when turned on, go to every
 *   process over one pub/sub channel, published by the scripts that change the state.
 * - When Redis cannot be reached, calls reject at once with {@link EngineUnavailableError}
 *   (no offline queue, bounded command time): the core answers `503` with retry advice.
 *   The engine reports the outage to the server once, when it begins, and once more when
 *   it ends (`EngineListener.health`): from the connections' events, or from a command
 *   failing as unavailable while they looked ready (then a read of every bucket every
 *   `retryMs` tells when Redis answers again).
 * - With `fanout: 'logs'` (the default) a publish appends once to a log per subscription
 *   key instead of to every subscriber's queue (`fanout: 'queues'`), and a take reads the
 *   session's logs after its positions: the same calls, served by the scripts of
 *   lib/engines/redis/log-scripts.ts. A publish then sends one notice per log instead of
 *   waking holders; the process reads each log once for the sessions it holds and the
 *   core's takes commit their positions (lib/engines/redis/log-reader.ts).
 *
 * See lib/engines/redis/scripts.ts for the key layout (log-scripts.ts for logs mode's).
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import { Cluster, type Redis } from 'ioredis';
import { expandChannel } from '../../channel-name.js';
import {
  EngineUnavailableError,
  NO_MAIL,
  type ClusterEvent,
  type ConnectResult,
  type Engine,
  type EngineConfig,
  type EngineListener,
  type Mail,
  type SessionRemovedReason,
  type SubscribeResult,
} from '../engine.js';
import { OpBatch, type BatchOp } from './op-batch.js';
import { ReplyWatchdog } from './reply-watchdog.js';
import { createConnection, validateOptions, type RedisEngineOptions } from './options.js';
import { LogReader, type Commit } from './log-reader.js';
import { LOG_SCRIPTS, LOG_VARIANTS } from './log-scripts.js';
import { SCRIPTS, type ScriptName } from './scripts.js';

export type { RedisEngineOptions, RedisNodeAddress } from './options.js';

const debug = createDebug('bayeux:engine:redis');

type Reply = null | number | string | Reply[];
type ScriptCall = (...args: (string | number)[]) => Promise<Reply>;
type Connection = Redis | Cluster;

const { first: FIRST_CONNECT, held: HELD, again: AGAIN_EMPTY } = NO_MAIL;

const REASONS = new Set<SessionRemovedReason>(['disconnect', 'timeout', 'server']);
/** Redis errors that mean "not now" (a failover, a cluster reconfiguring), not a bug. */
const TRANSIENT = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY|NOREPLICAS)\b/;

/** Mail from a script reply: payloads from `from` on; the batch number (-1: none) just before them. */
function mail(r: Reply[], from: number): Mail {
  const m: Mail = r.slice(from) as string[];
  const batch = r[from - 1] as number;
  if (batch >= 0) m.batch = batch;
  return m;
}

/** The Redis engine. Create it with {@link redisEngine}. */
export class RedisEngine implements Engine {
  /** @internal This process's id in the cluster (names its wake channel). */
  readonly processId = randomBytes(8).toString('hex');
  /** The prefix of every key and channel name this engine uses (option `prefix`). */
  readonly prefix: string;
  /** Number of buckets sessions are spread over. */
  readonly buckets: number;
  private readonly options: RedisEngineOptions;
  /** `{P:b<k>}` for each bucket. */
  private readonly tags: string[];
  /** The channel index's tag, `{P:i}`. */
  private readonly indexTag: string;
  /** Flags passed to every bucket script (`e` events, `i` index, `s` sharded pub/sub). */
  private flags: string;
  /** Notices by sharded pub/sub (a Cluster of Redis 7+, option `shardedPubSub`): per bucket channels. */
  private sharded: boolean;
  /** The channels this process listens to for its own notices and for cluster events. */
  private own = { wake: new Set<string>(), events: new Set<string>() };
  /** `fanout: 'logs'`: the bucket scripts of LOG_VARIANTS run in place of queues mode's. */
  private readonly logs: boolean;
  /** Logs mode: the held sessions' positions, the log notices listened to, the process reads. */
  private readonly reader: LogReader | null;
  /** Logs mode: subscriptions ('+' notices) of sessions whose holding connect is on its way. */
  private readonly lateSubs = new Map<string, string[]>();
  private redis: Connection | null = null;
  private sub: Connection | null = null;
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
  /** Barriers waiting for their messages: token → [messages still to come, resolve]. */
  private readonly barriers = new Map<string, { left: number; resolve: () => void }>();
  private barrierCount = 0;
  /** Index entries reported stale since the last sweep tick (not sent again until then). */
  private readonly staleSent = new Set<string>();
  private subscribedOnce = false;
  /** Connect-cycle calls (begin, take, end) waiting to go out merged at the end of the tick. */
  private readonly ops = new OpBatch<Reply>((b, ops) => this.sendMerged(b, ops), 256, 16);
  /** The health last reported to the listener; null until the first verdict. */
  private healthy: boolean | null = null;
  /** The last connection error seen (the cause of an outage it starts); cleared on ready. */
  private lastFault: Error | null = null;
  /** A command failed as unavailable while the connections looked ready; a probe or a new connection clears it. */
  private commandFault = false;
  /** This process's fan-out mode is not the deployment's (see {@link checkFanout}): down until closed. */
  private fanoutFault: EngineUnavailableError | null = null;
  /** The mode was checked: until then the engine serves nothing (a session of its own would look like 0.1.0's). */
  private fanoutChecked = false;
  private probeTimer: NodeJS.Timeout | null = null;
  /** The bound on commands: Redis silent for commandTimeoutMs while some wait. */
  private readonly watchdog: ReplyWatchdog;
  /** Mail of takes that failed by the bound yet ran in Redis (late replies), to put back; see {@link salvage}. */
  private salvaged = new Map<string, string[]>();
  /** Sessions whose take failed: woken when Redis answers again, so their mail does not wait for the next publish. */
  private readonly retakes = new Set<string>();
  /** Takes the engine's listeners off the app's own client (option `client`), on close. */
  private unhookClient: (() => void) | null = null;

  constructor(options: RedisEngineOptions = {}) {
    validateOptions(options);
    this.options = options;
    this.prefix = options.prefix ?? 'bayeux';
    const clustered = options.cluster !== undefined || options.client instanceof Cluster;
    this.buckets = options.buckets ?? (clustered ? 16 : 1);
    this.tags = Array.from({ length: this.buckets }, (_, k) => `{${this.prefix}:b${k}}`);
    this.indexTag = `{${this.prefix}:i}`;
    this.sharded = options.shardedPubSub ?? clustered;
    this.flags = (options.clusterEvents ? 'e' : '') + (this.buckets > 1 ? 'i' : '') + (this.sharded ? 's' : '');
    // Logs by default (issue 14); 'queues' is 0.1.0's mode.
    this.logs = options.fanout !== 'queues';
    this.reader = this.logs ? this.logReader() : null;
    this.watchdog = new ReplyWatchdog(options.commandTimeoutMs ?? 2000, (err) => debug('%s', err.message));
  }

  private logReader(): LogReader {
    const engine = this;
    return new LogReader({
      channel: (b, key) => `${this.tags[b]}:l:${key}`,
      read: (b, args) => {
        const tag = this.tags[b]!;
        // Not behind merged calls (run): a read overtaking them changes nothing, the commits compare.
        return this.exec(() => (this.client as unknown as Record<string, ScriptCall>)['lxRead']!(`${tag}:exp`, tag, this.prefix, this.flags, ...args));
      },
      subscribe: (channel) => (!this.sub ? Promise.reject(new Error('closed')) : this.sharded ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel)),
      unsubscribe: (channel) => (!this.sub ? Promise.resolve() : this.sharded ? this.sub.sunsubscribe(channel) : this.sub.unsubscribe(channel)),
      wake: (id) => this.wakeHeld(id),
      get maxQueue() {
        return engine.maxQueue;
      },
    });
  }

  /** Where this process's notices come: its wake channel (one per bucket when sharded). */
  private get wakeChannels(): string[] {
    return this.sharded ? this.tags.map((t) => `${t}:w:${this.processId}`) : [`${this.prefix}:w:${this.processId}`];
  }

  /** Where cluster events come (one per bucket when sharded). */
  private get eventsChannels(): string[] {
    return this.sharded ? this.tags.map((t) => `${t}:ev`) : [`${this.prefix}:ev`];
  }

  /** @internal The command connection (for specs and tools: e.g. counting round trips). */
  get client(): Connection {
    if (!this.redis) throw new EngineUnavailableError('the Redis engine is not open', this.options.retryMs ?? 1000);
    return this.redis;
  }

  /** @internal The bucket of a session: a hash of its id (FNV-1a), the same in every process. */
  bucketOf(clientId: string): number {
    if (this.buckets === 1) return 0;
    let h = 0x811c9dc5;
    for (let i = 0; i < clientId.length; i++) h = Math.imul(h ^ clientId.charCodeAt(i), 0x01000193);
    return (h >>> 0) % this.buckets;
  }

  /** @internal The key of a session's hash (its other keys share its hash slot). For specs and tools. */
  sessionKey(clientId: string): string {
    return `${this.tags[this.bucketOf(clientId)]}:s:${clientId}`;
  }

  private get retryMs(): number {
    return this.options.retryMs ?? 1000;
  }

  private connection(forSubscriber: boolean): Connection {
    const conn = createConnection(this.options, forSubscriber);
    const onError = (err: Error): void => {
      debug('%s connection: %s', forSubscriber ? 'pub/sub' : 'command', err.message);
      this.lastFault = err;
      this.checkHealth(err);
    };
    // ioredis sets `status` before it emits, so each event reads the state as it now is.
    const onClose = (): void => this.checkHealth(this.lastFault ?? new Error('connection closed'));
    const onReady = (): void => {
      this.lastFault = null;
      // A new command connection: commands that failed on the old one say nothing about it.
      if (!forSubscriber) this.commandFault = false;
      this.checkHealth();
    };
    conn.on('error', onError);
    conn.on('close', onClose);
    conn.on('end', onClose);
    conn.on('ready', onReady);
    if (conn === this.options.client) {
      this.unhookClient = () => {
        conn.off('error', onError);
        conn.off('close', onClose);
        conn.off('end', onClose);
        conn.off('ready', onReady);
      };
    }
    return conn;
  }

  /**
   * Reports a change of health to the listener, on transitions only: up when both
   * connections are ready and no command failure is pending, down otherwise. `failure` is
   * what just went wrong; while opening, only a failure (not a connection still on its way)
   * makes the engine down.
   */
  private checkHealth(failure?: unknown): void {
    const { redis, sub, listener } = this;
    if (redis === null || sub === null || listener === null) return; // closed
    const up = !this.commandFault && this.fanoutChecked && this.fanoutFault === null && redis.status === 'ready' && sub.status === 'ready';
    if (up === this.healthy || (!up && this.healthy === null && failure === undefined)) return;
    this.healthy = up;
    if (up) {
      debug('Redis reachable');
      listener.health?.('up');
      const retakes = [...this.retakes];
      this.retakes.clear();
      for (const id of retakes) listener.wake(id);
      return;
    }
    const cause =
      failure instanceof EngineUnavailableError
        ? failure
        : new EngineUnavailableError(`Redis unavailable: ${(failure as Error | undefined)?.message ?? 'connection lost'}`, this.retryMs, { cause: failure });
    debug('Redis unreachable: %s', cause.message);
    listener.health?.('down', cause);
  }

  /** A command failed as unavailable: the engine is down until Redis answers again. */
  private commandFailed(err: EngineUnavailableError): void {
    if (this.redis === null) return;
    this.commandFault = true;
    this.checkHealth(err);
    if (this.probeTimer === null) this.scheduleProbe();
  }

  /**
   * While a command failure is pending, reads every bucket's expiry set (as `sessionCount`
   * does: each bucket's hash slot, through the Cluster's routing) every `retryMs`, and clears
   * the failure once all answer. The connections may never drop (a command timeout, a busy
   * script, a Cluster node failing over), so their events alone would not tell.
   */
  private scheduleProbe(): void {
    this.probeTimer = setTimeout(() => {
      const redis = this.redis;
      if (redis === null || !this.commandFault) {
        this.probeTimer = null;
        return;
      }
      const probe = redis.status === 'ready' ? this.watchdog.watch(this.bucketSizes(redis)) : Promise.reject(new Error('not connected'));
      probe.then(
        () => {
          this.probeTimer = null;
          if (this.redis !== redis) return;
          this.commandFault = false;
          this.checkHealth();
        },
        (err: Error) => {
          debug('probe: %s', err.message);
          if (this.redis === redis && this.commandFault) this.scheduleProbe();
          else this.probeTimer = null;
        },
      );
    }, this.retryMs);
    this.probeTimer.unref();
  }

  async open(listener: EngineListener, config: EngineConfig): Promise<void> {
    this.listener = listener;
    this.maxQueue = config.maxQueue;
    this.sweepInterval = config.sweepInterval;
    const redis = (this.redis = this.connection(false));
    for (const [name, [keys, lua]] of Object.entries(this.logs ? { ...SCRIPTS, ...LOG_SCRIPTS } : SCRIPTS)) {
      redis.defineCommand(name, keys >= 0 ? { numberOfKeys: keys, lua } : { lua });
    }
    const sub = (this.sub = this.connection(true));
    const onMessage = (channel: string, message: string): void => {
      if (this.own.wake.has(channel)) this.onNotice(message);
      else if (this.own.events.has(channel)) this.onClusterEvent(message);
      else this.reader?.notice(channel, Number(message));
    };
    sub.on('message', onMessage);
    sub.on('smessage', onMessage);
    const resync = (): void => {
      // After a reconnect, wakes sent meanwhile were lost: look at every hold once.
      if (!this.subscribedOnce) return;
      for (const id of this.heldHere) this.listener?.wake(id);
      this.reader?.resync();
    };
    sub.on('ready', resync);
    // Sharded subscribers connect per node, and a lost one is replaced (not reconnected) by
    // a reset of the group, which ends with this event: notices to that node meanwhile were lost.
    if (sub instanceof Cluster) sub.on('subscribersReady', resync);
    this.sweeper = setInterval(() => void this.sweep(), config.sweepInterval);
    this.sweeper.unref();
    // Wait (bounded) for both connections; if Redis is down, calls fail with 503 until it is back.
    const ready = (r: Connection) =>
      r.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => r.once('ready', () => resolve()));
    const bound = this.options.commandTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const listen = async (): Promise<void> => {
      if (this.sharded) {
        // Sharded pub/sub needs Redis 7.0 on every master: looked at before listening.
        await ready(redis);
        await this.checkShardedSupport(redis);
      }
      this.own = { wake: new Set(this.wakeChannels), events: new Set(this.options.clusterEvents ? this.eventsChannels : []) };
      const channels = [...this.own.wake, ...this.own.events];
      // SSUBSCRIBE takes channels of one slot: one call per bucket channel.
      await (this.sharded ? Promise.all(channels.map((c) => sub.ssubscribe(c))) : sub.subscribe(...channels));
      this.subscribedOnce = true;
    };
    await Promise.race([
      Promise.all([ready(redis).then(() => this.checkFanout(redis)), listen()]),
      new Promise((r) => (timer = setTimeout(r, redis instanceof Cluster ? bound * 2 : bound))),
    ])
      .catch((err) => debug('open: %O', err))
      .finally(() => clearTimeout(timer));
    // Not connected within the bound (and no error seen): down from the start.
    this.checkHealth(this.lastFault ?? new Error(`not connected within ${bound} ms`));
  }

  /**
   * Every process of a deployment must use the same `fanout` (the two modes keep mail in
   * different places, so mixed processes lose messages without a word). The first process
   * records its mode in Redis; a process whose mode differs, or that uses `'logs'` on a Redis
   * holding sessions of a version that recorded no mode (0.1.0, queues only), stays down
   * with an error that says so: its readiness probe fails and a rolling deploy stops there,
   * while the other processes go on. Retried every `retryMs` while Redis cannot be asked;
   * nothing else is served until it is done, so sessions without a recorded mode are
   * always another version's (a process that finds some re-reads the mode first: another
   * new process may have recorded it meanwhile).
   */
  private async checkFanout(redis: Connection): Promise<void> {
    const mode = this.logs ? 'logs' : 'queues';
    const key = `${this.indexTag}:fanout`;
    let found: string | null;
    try {
      found = await this.watchdog.watch(redis.get(key));
      if (found === null) {
        const sessions = mode === 'logs' && (await this.watchdog.watch(this.bucketSizes(redis))).some((n) => n > 0);
        if (sessions) found = (await this.watchdog.watch(redis.get(key))) ?? 'queues (sessions without a recorded mode: bayeux-server 0.1.0)';
        else if ((await this.watchdog.watch(redis.set(key, mode, 'NX'))) !== 'OK') found = await this.watchdog.watch(redis.get(key));
      }
    } catch (err) {
      debug('fanout check: %s', (err as Error).message);
      if (this.redis !== redis) return;
      await new Promise((r) => setTimeout(r, this.retryMs).unref());
      if (this.redis === redis) return this.checkFanout(redis);
      return;
    }
    if (this.redis !== redis) return;
    if (found === null || found === mode) {
      this.fanoutChecked = true;
      this.checkHealth();
      return;
    }
    this.fanoutFault = new EngineUnavailableError(
      `redisEngine fanout '${mode}' does not match this deployment's: Redis (prefix '${this.prefix}') runs fanout ${found.startsWith('queues (') ? found : `'${found}'`}. ` +
        'Every process must use the same value: set the option fanout to match, or move to the other mode with a full stop (or a new prefix)',
      this.retryMs,
    );
    debug('%s', this.fanoutFault.message);
    this.checkHealth(this.fanoutFault);
  }

  /** Sharded pub/sub needs Redis 7.0 on every master; with an older one, notices go by PUBLISH. */
  private async checkShardedSupport(redis: Connection): Promise<void> {
    const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
    try {
      const infos = await this.watchdog.watch(Promise.all(nodes.map((n) => n.info('server'))));
      const old = infos.map((i) => /redis_version:([\d.]+)/.exec(i)?.[1] ?? '').filter((v) => Number(v.split('.')[0]) < 7);
      if (old.length === 0) return;
      debug('Redis %s has no sharded pub/sub (7.0+): notices go by PUBLISH', old[0]);
      this.sharded = false;
      this.flags = this.flags.replace('s', '');
    } catch (err) {
      debug('could not read the Redis version (sharded pub/sub kept): %s', (err as Error).message);
    }
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.watchdog.stop();
    this.unhookClient?.();
    this.unhookClient = null;
    const all = this.options.client ? [this.sub] : [this.redis, this.sub];
    this.redis = this.sub = null;
    this.heldHere.clear();
    this.retakes.clear();
    this.reader?.close();
    this.lateSubs.clear();
    for (const b of this.barriers.values()) b.resolve();
    this.barriers.clear();
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
   * @internal Resolves once every notice Redis sent to this process before now has been handled (a
   * message to ourselves through our own pub/sub channel; on a Cluster, one through each
   * master, as notices from different nodes travel separately). For specs and tools.
   */
  async barrier(): Promise<void> {
    const redis = this.client;
    const token = `#${++this.barrierCount}`;
    // Sharded: through each bucket's channel (each bucket's notices travel on their own).
    const via: Redis[] = this.sharded ? [] : redis instanceof Cluster ? redis.nodes('master') : [redis];
    if (!this.sharded && via.length === 0) throw new EngineUnavailableError('Redis unavailable: no Cluster node known yet', this.options.retryMs ?? 1000);
    const left = this.sharded ? this.buckets : via.length;
    const done = new Promise<void>((resolve) => this.barriers.set(token, { left, resolve }));
    try {
      await this.run(() =>
        this.sharded ? Promise.all(this.wakeChannels.map((c) => redis.spublish(c, token))) : Promise.all(via.map((n) => n.publish(this.wakeChannels[0]!, token))),
      );
    } catch (err) {
      this.barriers.delete(token);
      throw err;
    }
    await done;
    // Logs mode: and every notice subscription, read and hand-out they started is done.
    if (this.reader) await this.reader.settled();
  }

  /** @internal Logs mode: the log notice channels this process listens to (for specs and tools). */
  get noticeChannels(): string[] {
    return this.reader?.channels ?? [];
  }

  private onNotice(message: string): void {
    const listener = this.listener;
    if (!listener) return;
    const c = message.charCodeAt(0);
    if (c === 35 /* # */) {
      const b = this.barriers.get(message);
      if (b && --b.left === 0) {
        this.barriers.delete(message);
        b.resolve();
      }
      return;
    }
    if (c === 33 /* ! */) {
      const colon = message.indexOf(':');
      const reason = message.slice(1, colon) as SessionRemovedReason;
      const id = message.slice(colon + 1);
      this.heldHere.delete(id);
      this.reader?.forget(id);
      listener.sessionRemoved(id, REASONS.has(reason) ? reason : 'server');
      return;
    }
    if (c === 43 /* + */) return this.onSubscribed(message);
    for (const id of message.split(',')) this.wakeHeld(id);
  }

  /** A held session's wake; one whose holding connect is on its way is woken once it holds. */
  private wakeHeld(id: string): void {
    if (this.connecting.has(id)) this.lateWakes.add(id);
    else this.listener?.wake(id);
  }

  /** Logs mode: a session held here subscribed ("+id\nseq\nkey\nposition…"): listen to those logs too. */
  private onSubscribed(message: string): void {
    const lines = message.slice(1).split('\n');
    const id = lines[0]!;
    if (this.connecting.has(id)) {
      // The hold's reply may not know these keys yet: applied once it is in.
      const late = this.lateSubs.get(id);
      if (late) late.push(message);
      else this.lateSubs.set(id, [message]);
    }
    this.reader?.subscribed(id, Number(lines[1]), lines.slice(2));
  }

  private onClusterEvent(message: string): void {
    const listener = this.listener;
    if (!listener?.clusterEvent) return;
    let e: unknown;
    try {
      e = JSON.parse(message);
    } catch {
      debug('cluster event not JSON: %s', message);
      return;
    }
    if (!Array.isArray(e) || typeof e[1] !== 'string' || typeof e[2] !== (e[0] === 'a' ? 'undefined' : 'string')) {
      debug('cluster event not understood: %s', message);
      return;
    }
    const clientId = e[1];
    let event: ClusterEvent;
    switch (e[0]) {
      case 'a':
        event = { type: 'sessionAdded', clientId };
        break;
      case 'r':
        event = { type: 'sessionRemoved', clientId, reason: REASONS.has(e[2]) ? (e[2] as SessionRemovedReason) : 'server' };
        break;
      case 's':
        event = { type: 'subscribed', clientId, channel: e[2] as string };
        break;
      case 'u':
        event = { type: 'unsubscribed', clientId, channel: e[2] as string };
        break;
      default:
        debug('cluster event not understood: %s', message);
        return;
    }
    listener.clusterEvent(event);
  }

  /** Runs a command, turning connection failures into {@link EngineUnavailableError}. */
  private async run<T>(fn: () => Promise<T>, late?: (value: T) => void): Promise<T> {
    // Merged calls asked for earlier go first, so this command cannot overtake them.
    this.ops.flush();
    if (this.ops.backlogged) await this.ops.sent();
    return this.exec(fn, late);
  }

  /** Sends a command now (see {@link run}). */
  private async exec<T>(fn: () => Promise<T>, late?: (value: T) => void): Promise<T> {
    if (!this.redis) throw new EngineUnavailableError('the Redis engine is closed', this.options.retryMs ?? 1000);
    if (this.fanoutFault) throw this.fanoutFault;
    if (!this.fanoutChecked) throw new EngineUnavailableError('Redis unavailable: the fan-out mode is not checked yet', this.retryMs);
    try {
      return await this.watchdog.watch(fn(), late);
    } catch (err) {
      const e = err as Error;
      if (e?.name === 'ReplyError' && !TRANSIENT.test(e.message)) throw err;
      const unavailable = new EngineUnavailableError(`Redis unavailable: ${e?.message ?? String(err)}`, this.retryMs, { cause: err });
      this.commandFailed(unavailable);
      throw unavailable;
    }
  }

  private script(name: ScriptName, ...args: (string | number)[]): Promise<Reply> {
    const call = this.scriptName(name);
    return this.run(() => (this.client as unknown as Record<string, ScriptCall>)[call]!(...args));
  }

  /** The script that serves `name` in this engine's fan-out mode. */
  private scriptName(name: ScriptName): string {
    return this.logs ? ((LOG_VARIANTS as Partial<Record<ScriptName, string>>)[name] ?? name) : name;
  }

  /** Runs a script on a session's bucket: KEYS[1] = its hash; ARGV = T, P, flags, id, ...rest. */
  private session(name: ScriptName, clientId: string, ...rest: (string | number)[]): Promise<Reply> {
    return this.sessionCall(name, clientId, rest);
  }

  /** {@link session}, with `late` for a reply that comes after the bound failed the call. */
  private sessionCall(name: ScriptName, clientId: string, rest: (string | number)[], late?: (reply: Reply) => void): Promise<Reply> {
    const tag = this.tags[this.bucketOf(clientId)]!;
    const call = this.scriptName(name);
    return this.run(() => (this.client as unknown as Record<string, ScriptCall>)[call]!(`${tag}:s:${clientId}`, tag, this.prefix, this.flags, clientId, ...rest), late);
  }

  /** Runs a whole-bucket script: KEYS[1] = the bucket's expiry set; ARGV = T, P, flags, ...rest. */
  private bucket(name: ScriptName, b: number, ...rest: (string | number)[]): Promise<Reply> {
    const tag = this.tags[b]!;
    return this.script(name, `${tag}:exp`, tag, this.prefix, this.flags, ...rest);
  }

  private get staleKey(): string {
    return `${this.indexTag}:stale`;
  }

  private get leaseMs(): number {
    return this.options.connectLeaseMs ?? 120_000;
  }

  private get ttlMs(): number {
    return this.options.messageTtlMs ?? 600_000;
  }

  async createSession(clientId: string, expiresInMs: number): Promise<void> {
    await this.session('bxCreate', clientId, Date.now() + expiresInMs);
  }

  async destroySession(clientId: string, reason: SessionRemovedReason): Promise<boolean> {
    this.heldHere.delete(clientId);
    this.reader?.forget(clientId);
    const r = await this.session('bxDestroy', clientId, reason, this.processId);
    if (r === null) return false;
    this.markStale(this.bucketOf(clientId), r as string[]);
    return true;
  }

  async hasSession(clientId: string): Promise<boolean> {
    return (await this.run(() => this.client.exists(this.sessionKey(clientId)))) === 1;
  }

  /** Sessions per bucket (each bucket's expiry set, in its own hash slot: a Cluster routes each). */
  private bucketSizes(redis: Connection): Promise<number[]> {
    return Promise.all(this.tags.map((t) => redis.zcard(`${t}:exp`)));
  }

  async sessionCount(): Promise<number> {
    const counts = await this.run(() => this.bucketSizes(this.client));
    return counts.reduce((a, b) => a + b, 0);
  }

  async beginConnect(clientId: string, hold: boolean): Promise<ConnectResult | null> {
    if (hold) this.connecting.set(clientId, (this.connecting.get(clientId) ?? 0) + 1);
    let r: Reply;
    let lateSubs: string[] | undefined;
    try {
      r = await this.merged('b', clientId, hold ? '1' : '0', String(Date.now() + this.leaseMs), (late) => {
        // A connect that was not held took the mail queued for it.
        const a = late as Reply[] | null;
        if (a !== null && a[1] !== 1 && a.length > 3) this.salvage(clientId, mail(a, 3));
      });
    } finally {
      if (hold) {
        const n = this.connecting.get(clientId)! - 1;
        if (n === 0) {
          this.connecting.delete(clientId);
          lateSubs = this.lateSubs.get(clientId);
          this.lateSubs.delete(clientId);
        } else this.connecting.set(clientId, n);
      }
    }
    if (r === null) return null;
    const a = r as Reply[];
    const first = a[0] === 1;
    // With acknowledged delivery a reply without mail is numbered too (see ConnectResult).
    const batch = a[2] as number;
    if (a[1] === 1) {
      this.heldHere.add(clientId);
      if (this.reader) {
        // Logs mode: {…, upto, ack, #keys, key, position, …}; the logs' notices are listened to from now.
        this.reader.held(clientId, this.bucketOf(clientId), a[3] as number, a[4] === 1, a.slice(6) as string[]);
        if (lateSubs) for (const m of lateSubs) this.onSubscribed(m);
      }
      // A wake that arrived while we waited for the answer: deliver it now; the core
      // registers the hold before the wake is flushed (HeldConnects flushes on setImmediate).
      if (this.lateWakes.delete(clientId)) this.listener?.wake(clientId);
      return batch >= 0 ? { first, messages: null, held: true, batch } : HELD;
    }
    this.lateWakes.delete(clientId);
    this.reader?.forget(clientId);
    if (a.length > 3) return { first, messages: mail(a, 3), held: false };
    if (batch >= 0) return { first, messages: null, held: false, batch };
    return first ? FIRST_CONNECT : AGAIN_EMPTY;
  }

  async endConnect(clientId: string, expiresInMs: number, take: boolean): Promise<Mail | null> {
    this.heldHere.delete(clientId);
    this.reader?.forget(clientId);
    const r = await this.merged('e', clientId, String(Date.now() + expiresInMs), take ? '1' : '0', take ? this.takeLate(clientId) : undefined);
    if (r === null) return null;
    return take ? this.claimSalvaged(clientId, mail(r as Reply[], 1)) : mail(r as Reply[], 1);
  }

  async takeQueued(clientId: string, piggyback = false): Promise<Mail | null> {
    if (this.reader) return this.logTake(clientId, null, piggyback);
    const r = await this.merged('t', clientId, piggyback ? '1' : '0', '', this.takeLate(clientId));
    if (r === null) return null;
    const m = mail(r as Reply[], 1);
    return this.claimSalvaged(clientId, m.length === 0 ? null : m);
  }

  async takeAndEnd(clientId: string, expiresInMs: number): Promise<Mail | null> {
    if (this.reader) return this.logTake(clientId, String(Date.now() + expiresInMs), false);
    const r = await this.merged('x', clientId, String(Date.now() + expiresInMs), '', this.takeLate(clientId));
    if (r === null) return null;
    this.heldHere.delete(clientId);
    return this.claimSalvaged(clientId, mail(r as Reply[], 1));
  }

  /**
   * Logs mode's takeQueued (`deadline` null: the hold goes on) and takeAndEnd: the commit of
   * what the process read for the session when there is some (see log-reader.ts), else, or
   * when the commit cannot be made, the session's own take; one merged operation either way.
   */
  private async logTake(clientId: string, deadline: string | null, piggyback: boolean): Promise<Mail | null> {
    const reader = this.reader!;
    const ends = deadline !== null;
    const commit: Commit | null = piggyback ? null : reader.commit(clientId);
    if (commit === null) reader.plain(clientId);
    const late = (reply: Reply): void => {
      if (reply === null) return;
      const a = reply as Reply[];
      if (a[0] === 2) this.salvage(clientId, commit!.payloads);
      else if (a[0] === 1) this.salvage(clientId, a.slice(4 + 2 * (a[3] as number)) as string[], a[1] as number);
    };
    let r: Reply;
    try {
      r = commit
        ? await this.merged('c', clientId, deadline ?? '', commit.cas, late)
        : await this.merged(ends ? 'x' : 't', clientId, ends ? deadline : piggyback ? '1' : '0', '', late);
    } catch (err) {
      reader.failed(clientId, commit);
      throw err;
    }
    if (r === null) {
      // Unknown session; a piggyback take on a session with acknowledged delivery is refused the same way.
      if (!piggyback) reader.forget(clientId);
      return null;
    }
    // {status, batch, upto, #keys, key, position, …, payloads…}; status 2: committed, 3: not held here.
    const a = r as Reply[];
    const status = a[0] as number;
    const end = 4 + 2 * (a[3] as number);
    const positions = a.slice(4, end) as string[];
    if (commit) reader.committed(commit, status, a[2] as number, positions, ends);
    else if (status === 3) reader.forget(clientId);
    else reader.taken(clientId, a[2] as number, positions, ends && status === 1);
    if (status === 2) {
      if (ends) this.heldHere.delete(clientId);
      return this.claimSalvaged(clientId, commit!.payloads);
    }
    // 3: another process holds the session now; what this process kept goes back to Redis.
    if (status === 3) return null;
    if (status !== 1) return this.claimSalvaged(clientId, null);
    if (ends) this.heldHere.delete(clientId);
    const m: Mail = a.slice(end) as string[];
    if ((a[1] as number) >= 0) m.batch = a[1] as number;
    return this.claimSalvaged(clientId, m);
  }

  /**
   * Queues a connect-cycle call for the merged call of its bucket (see lib/engines/redis/op-batch.ts).
   * `late`: the operation's reply when its call failed by the bound but Redis ran it after all.
   */
  private merged(kind: BatchOp<Reply>['kind'], clientId: string, a: string, b: string, late?: (reply: Reply) => void): Promise<Reply> {
    return new Promise((resolve, reject) => this.ops.add(this.bucketOf(clientId), { kind, clientId, a, b, resolve, reject, late }));
  }

  /** For a take in queues mode: its late reply's mail is salvaged. */
  private takeLate(clientId: string): (reply: Reply) => void {
    return (reply) => {
      if (reply !== null) this.salvage(clientId, mail(reply as Reply[], 1));
    };
  }

  /**
   * Mail a take took in Redis after the process had failed it by the bound (its reply came
   * late): nobody got it, and Redis no longer has it. With acknowledged delivery (`batch` ≥ 0)
   * it is still in Redis, unacknowledged, and goes out again by itself. Otherwise it is kept
   * here, in the order taken, and the session is woken: if the session is held here, its next
   * take gets this mail ahead of what it takes (older first, see {@link claimSalvaged});
   * if it is not, or no take comes within `retryMs`, the mail goes back to the front of the
   * session's queue in Redis. If it cannot be put back within `messageTtlMs` (Redis
   * unreachable all along, or no answer to the put-back), it is reported as dropped
   * (`queueOverflow`), not lost silently.
   */
  private salvage(clientId: string, payloads: string[], batch = (payloads as Mail).batch ?? -1): void {
    if (payloads.length === 0 || batch >= 0) return;
    debug('session %s: %d message(s) taken after the bound kept', clientId, payloads.length);
    const kept = this.salvaged.get(clientId);
    if (kept) {
      for (const p of payloads) kept.push(p);
      return;
    }
    this.salvaged.set(clientId, [...payloads]);
    if (this.heldHere.has(clientId)) {
      this.listener?.wake(clientId);
      setTimeout(() => this.putBack(clientId), this.retryMs).unref();
    } else setImmediate(() => this.putBack(clientId));
  }

  /** A take's mail, after the session's salvaged mail (older) if any. */
  private claimSalvaged(clientId: string, m: Mail | null): Mail | null {
    const kept = this.salvaged.get(clientId);
    if (kept === undefined) return m;
    this.salvaged.delete(clientId);
    if (m !== null) for (const p of m) kept.push(p);
    return kept;
  }

  /** Puts a session's unclaimed salvaged mail back in front of its queue in Redis. */
  private putBack(clientId: string): void {
    const kept = this.salvaged.get(clientId);
    if (kept === undefined || this.redis === null) return;
    this.salvaged.delete(clientId);
    this.putBackOne(clientId, kept, Date.now() + this.ttlMs);
  }

  /**
   * Sent only while the command connection is ready, and never sent twice: a put-back that
   * failed by the bound may have run (a second one would duplicate the mail), so its late
   * reply is awaited instead, up to `until`; with none by then the mail is reported dropped.
   */
  private putBackOne(clientId: string, payloads: string[], until: number): void {
    const redis = this.redis;
    if (redis === null) return;
    if (redis.status !== 'ready') {
      if (Date.now() + this.retryMs < until) setTimeout(() => this.putBackOne(clientId, payloads, until), this.retryMs).unref();
      else this.giveUp(clientId, payloads.length, 'Redis unreachable');
      return;
    }
    let settled = false;
    const back = (dropped: Reply): void => {
      if (settled) return;
      settled = true;
      this.overflowed(clientId, dropped as number);
      this.listener?.wake(clientId);
    };
    this.sessionCall('bxRequeue', clientId, [this.ttlMs, this.maxQueue, ...payloads], back).then(back, (err: Error) => {
      setTimeout(
        () => {
          if (settled || this.redis === null) return;
          settled = true;
          this.giveUp(clientId, payloads.length, err.message);
        },
        Math.max(0, until - Date.now()),
      ).unref();
    });
  }

  private giveUp(clientId: string, count: number, why: string): void {
    debug('session %s: %d message(s) could not be put back: %s', clientId, count, why);
    this.overflowed(clientId, count);
  }

  private sendMerged(b: number, ops: BatchOp<Reply>[]): Promise<void> {
    const tag = this.tags[b]!;
    const args: string[] = [`${tag}:exp`, tag, this.prefix, this.flags, this.processId];
    // Logs mode: a take returns at most maxQueue messages.
    if (this.logs) args.push(String(this.maxQueue));
    for (const op of ops) args.push(op.kind, op.clientId, op.a, op.b);
    const call = this.scriptName('bxMany');
    // Sent at once, not through run(): the batcher keeps the order itself.
    // Logs mode: after the replies, (session, dropped) pairs, entries trimmed from a log before the session read them.
    const overflows = (replies: Reply[]): void => {
      for (let i = ops.length; i + 1 < replies.length; i += 2) this.overflowed(replies[i] as string, replies[i + 1] as number);
    };
    const late = (r: Reply): void => {
      const replies = r as Reply[];
      for (let i = 0; i < ops.length; i++) ops[i]!.late?.(replies[i] ?? null);
      overflows(replies);
    };
    return this.exec(() => (this.client as unknown as Record<string, ScriptCall>)[call]!(...args), late).then(
      (r) => {
        const replies = r as Reply[];
        for (let i = 0; i < ops.length; i++) ops[i]!.resolve(replies[i] ?? null);
        overflows(replies);
      },
      (err: unknown) => {
        for (const op of ops) {
          if (op.kind === 't' || op.kind === 'x' || op.kind === 'c') this.retakes.add(op.clientId);
          op.reject(err);
        }
      },
    );
  }

  async enableAcknowledgement(clientId: string): Promise<boolean> {
    return (await this.session('bxAckOn', clientId)) === 1;
  }

  async acknowledge(clientId: string, batch: number): Promise<number> {
    return (await this.session('bxAck', clientId, batch)) as number;
  }

  async requeue(clientId: string, payloads: string[]): Promise<void> {
    if (payloads.length === 0) return;
    const dropped = await this.session('bxRequeue', clientId, this.ttlMs, this.maxQueue, ...payloads);
    this.overflowed(clientId, dropped as number);
  }

  async subscribe(clientId: string, channels: readonly string[], max: number): Promise<SubscribeResult> {
    // The index first: a bucket never has a subscriber the index does not list.
    if (this.buckets > 1) await this.script('bxIndex', this.staleKey, this.indexTag, this.bucketOf(clientId), ...channels);
    const r = await this.session('bxSubscribe', clientId, max, ...channels);
    if (r === 1) return 'ok';
    // Refused: the index entries just written may list a bucket for nothing; have them checked.
    this.markStale(this.bucketOf(clientId), channels);
    return r === 0 ? 'limit' : 'unknown-session';
  }

  async unsubscribe(clientId: string, channels: readonly string[]): Promise<boolean> {
    const r = await this.session('bxUnsubscribe', clientId, ...channels);
    if (r === null) return false;
    this.markStale(this.bucketOf(clientId), r as string[]);
    return true;
  }

  async subscriptions(clientId: string): Promise<string[] | null> {
    return (await this.session('bxSubscriptions', clientId)) as string[] | null;
  }

  async publish(channel: string, payload: string, exclude?: string): Promise<number> {
    const expansion = expandChannel(channel);
    const rest = [exclude ?? '', this.ttlMs, this.maxQueue, payload];
    if (this.buckets === 1) return this.published(0, await this.bucket('bxPublish', 0, ...rest, ...expansion));
    // Which buckets have subscribers, and for which of the expansion's channels.
    const keys = expansion.map((c) => `${this.indexTag}:c:${c}`);
    const routes = (await this.script('bxRoute', keys.length, ...keys, this.indexTag)) as string[][];
    const byBucket = new Map<number, string[]>();
    routes.forEach((buckets, i) => {
      for (const b of buckets) {
        const k = Number(b);
        if (!(k >= 0 && k < this.buckets)) continue; // written with another bucket count: ignore
        const list = byBucket.get(k);
        if (list) list.push(expansion[i]!);
        else byBucket.set(k, [expansion[i]!]);
      }
    });
    if (byBucket.size === 0) return 0;
    // All bucket scripts go out at once, in this order on each node's connection, so
    // publishes from this process keep their order.
    const counts = await Promise.all([...byBucket].map(async ([b, chans]) => this.published(b, await this.bucket('bxPublish', b, ...rest, ...chans))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Handles one bucket's publish reply; returns its count. */
  private published(b: number, reply: Reply): number {
    const r = reply as Reply[];
    this.markStale(b, r[1] as string[]);
    for (let i = 2; i + 1 < r.length; i += 2) this.overflowed(r[i] as string, r[i + 1] as number);
    return r[0] as number;
  }

  async deliver(clientId: string, payload: string): Promise<boolean> {
    const dropped = (await this.session('bxDeliver', clientId, this.ttlMs, this.maxQueue, payload)) as number;
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

  /**
   * Notes index entries whose bucket was seen without subscribers, for the sweeper to check
   * and remove. Best effort: an entry left behind only costs a publish a script that finds nobody.
   */
  private markStale(b: number, channels: readonly string[]): void {
    if (this.buckets === 1 || channels.length === 0) return;
    const entries: string[] = [];
    for (const c of channels) {
      const e = `${b}|${c}`;
      if (this.staleSent.has(e)) continue;
      this.staleSent.add(e);
      entries.push(e);
    }
    if (entries.length === 0) return;
    this.script('bxStale', this.staleKey, this.indexTag, ...entries).catch((err: Error) => debug('stale report failed: %s', err.message));
  }

  /** One sweep attempt: only the process that takes the lock removes anything. */
  private async sweep(): Promise<void> {
    this.staleSent.clear();
    // Logs mode: notices of logs no held session needed for a while (nor the next long poll) stop.
    this.reader?.sweep(Date.now(), Math.max(2 * this.sweepInterval, 1000));
    if (this.sweeping || !this.redis || this.redis.status !== 'ready') return;
    this.sweeping = true;
    try {
      const now = Date.now();
      const limit = this.options.sweepBatch ?? 1000;
      const sweepBucket = (b: number) => this.bucket('bxSweep', b, now, limit, this.processId, this.sweepInterval, b === 0 ? '1' : '0');
      // Bucket 0's script takes the lock: on a single Redis the whole sweep is one script.
      const first = await sweepBucket(0);
      if (first === null || this.redis === null) return;
      const results: [number, Reply][] = [[0, first]];
      if (this.buckets > 1) {
        const rest = await Promise.allSettled(this.tags.slice(1).map((_, i) => sweepBucket(i + 1)));
        rest.forEach((r, i) => {
          if (r.status === 'fulfilled') results.push([i + 1, r.value]);
          else debug('sweep of bucket %d failed: %s', i + 1, (r.reason as Error).message);
        });
      }
      for (const [b, r] of results) {
        const [mine, emptied] = r as [string[], string[]];
        for (const id of mine) {
          debug('session %s expired', id);
          this.listener?.sessionRemoved(id, 'timeout');
        }
        this.markStale(b, emptied);
      }
      if (this.buckets > 1 && this.redis !== null) await this.pruneIndex();
    } catch (err) {
      debug('sweep failed: %s', (err as Error).message);
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Removes index entries of buckets that have no subscriber for the channel any more
   * (checked now, in the bucket) and where nobody subscribed within the grace period.
   */
  private async pruneIndex(): Promise<void> {
    const grace = this.options.indexGraceMs ?? 60_000;
    const due = (await this.script('bxStaleDue', this.staleKey, this.indexTag, grace, this.options.sweepBatch ?? 1000)) as string[];
    if (due.length === 0) return;
    const byBucket = new Map<number, string[]>();
    for (const e of due) {
      const bar = e.indexOf('|');
      const b = Number(e.slice(0, bar));
      const list = byBucket.get(b);
      if (list) list.push(e.slice(bar + 1));
      else byBucket.set(b, [e.slice(bar + 1)]);
    }
    const empty = new Set<string>();
    await Promise.all(
      [...byBucket].map(async ([b, chans]) => {
        if (!(b >= 0 && b < this.buckets)) return; // not ours: the prune below drops the entry
        for (const c of (await this.bucket('bxVerify', b, ...chans)) as string[]) empty.add(`${b}|${c}`);
      }),
    );
    const pairs: string[] = [];
    for (const e of due) pairs.push(e, empty.has(e) ? '1' : '0');
    const removed = await this.script('bxPrune', this.staleKey, this.indexTag, grace, ...pairs);
    debug('channel index: %d stale entries checked, %d removed', due.length, removed);
  }
}

/**
 * Creates a Redis engine: `new BayeuxServer({ engine: redisEngine({ url: 'redis://127.0.0.1:6379' }) })`.
 * Every process of the deployment uses the same Redis, prefix and bucket count. Sentinel:
 * `redisEngine({ sentinels: [{ host, port }], name: 'mymaster' })`; Cluster:
 * `redisEngine({ cluster: [{ host, port }, …] })`.
 */
export function redisEngine(options: RedisEngineOptions = {}): RedisEngine {
  return new RedisEngine(options);
}
