/**
 * Logs mode's process reads (issue 14, design C of docs/scaling.md): the sessions this
 * process holds, their read positions, the log notices it listens to, and one read of each
 * log for all of them.
 *
 * - **What it knows.** A hold made here (the merged 'b' reply) brings the session's keys and
 *   positions, complete up to a sequence of its bucket (`upto`). A key the session subscribes
 *   to while held (here or on another process) comes on the process's own channel ('+').
 *   Every take's reply brings the positions again.
 * - **Notices.** A publish sends one notice per log it appended to, on the log's channel
 *   (named as its key, `T:l:<key>`), with the sequence. The reader listens to the channels
 *   its held sessions need (one subscription per log, however many sessions), and lets go of
 *   one after it has been unneeded for a while (long-polling sessions come back at once).
 * - **One read per log.** Notices of one turn are gathered; then one script per bucket
 *   (`lxRead`) reads every log the woken sessions need, each from the lowest of their
 *   positions, all at one instant; one read in flight per bucket, and notices arriving
 *   meanwhile make the next. Each session gets, in memory, the entries after its own
 *   position (merged by sequence across its logs, without those its publish excluded): they
 *   become its PENDING mail and the core is woken for it.
 * - **Commit.** The core's take for a woken session (`takeAndEnd` for a long poll, `takeQueued`
 *   for a stream: the engine's calls are unchanged) is sent as a merged 'c' operation: if
 *   the session is still held here, has no direct mail and no acknowledged delivery, and its
 *   positions are still those the pending mail was read from, Redis moves them over the
 *   pending mail (ending a long poll's hold as 'x' would) and the take returns the pending
 *   mail, read once for every session; else the same operation runs the session's own take
 *   (step 1's) and returns that. So only a session whose commit succeeded gets the mail the
 *   process read (nothing twice when another process took meanwhile), and the core's takes,
 *   gathered in one turn, make one script call per bucket.
 * - **Own takes.** Sessions whose keys overlap (`/a/*` and `/a/b`: a publish in two logs,
 *   counted once only by the take in Redis), with acknowledged delivery, behind a gap in a
 *   log (the trim dropped entries: the take reports exactly how many), or with more than
 *   `maxQueue` to read are only woken: the core's take reads for them in Redis.
 *
 * Races. Each session keeps, per key, `seen`: the sequence up to which its mail from that log
 * is accounted for (in Redis's position, in its pending mail, or excluded). A log's watch
 * keeps `last`, the latest sequence known appended (notices, reads), and `from`: every
 * publish after it sends a notice this process gets, learnt by a read made once the
 * SUBSCRIBE is confirmed. A session with `seen` below either is behind and is read for. So a
 * publish between a hold and the notice subscription (no notice for it) is found by that
 * first read, and a notice that overtakes the reply making the hold (replies and notices
 * come on different connections) leaves `last` past the session's `upto`.
 */
import createDebug from 'debug';
import { anyOverlap } from './keys-overlap.js';

const debug = createDebug('bayeux:engine:redis:logs');

type Reply = null | number | string | Reply[];

/** What the reader needs from the engine. */
export interface LogReaderHost {
  /** The notice channel of a bucket's log. */
  channel(bucket: number, key: string): string;
  /** Runs `lxRead` on a bucket with `args` (maxQueue, then key and from pairs). */
  read(bucket: number, args: string[]): Promise<Reply>;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** The session has mail (pending here, or to take itself). */
  wake(clientId: string): void;
  readonly maxQueue: number;
}

/** A read position as Redis keeps it ("<seq> <n>": the last entry's sequence and ordinal). */
interface Pos {
  readonly text: string;
  readonly seq: number;
  readonly n: number;
}

function parsePos(text: string): Pos {
  const sp = text.indexOf(' ');
  return { text, seq: Number(text.slice(0, sp)), n: Number(text.slice(sp + 1)) };
}

/** A held session's subscription to one log. */
interface Sub {
  readonly watch: Watch;
  /** Its position in Redis, as last known. */
  pos: Pos;
  /** Its mail from this log is accounted for up to this sequence. */
  seen: number;
}

/** Mail read for a session, not yet committed: the positions after it, the payloads in order. */
interface Pending {
  readonly to: Map<string, Pos>;
  readonly payloads: string[];
}

/** A commit on its way (the 'c' operation): `cas` is its argument, "key\nwas\nnow\n…". */
export interface Commit {
  readonly cas: string;
  readonly payloads: string[];
  readonly to: Map<string, Pos>;
  readonly held: Held;
}

class Held {
  readonly keys = new Map<string, Sub>();
  ack = false;
  /** Takes its mail itself (overlapping keys, acknowledged delivery). */
  own = false;
  pending: Pending | null = null;
  committing: Commit | null = null;
  /** Woken to take its mail itself; not read for until a take's reply comes back. */
  needsOwn = false;
  constructor(
    readonly id: string,
    readonly bucket: number,
  ) {}
}

/** One log this process listens to. */
class Watch {
  readonly sessions = new Set<Held>();
  /** The SUBSCRIBE is confirmed. */
  active = false;
  /** Every publish after this sequence sends us a notice (-1: not known yet). */
  from = -1;
  /** The latest sequence known appended. */
  last = 0;
  dirty = false;
  /** The next read covers every session (the first after the SUBSCRIBE, or after a reconnect). */
  catchUp = false;
  idleSince = 0;
  constructor(
    readonly bucket: number,
    readonly key: string,
    readonly channel: string,
  ) {}
}

/** A log's entries as read: sequences, ordinals, payloads, excluded sessions. */
interface Log {
  readonly seqs: number[];
  readonly ns: number[];
  readonly payloads: string[];
  readonly xs: (string | undefined)[];
  /** Read to the COUNT limit: there may be more. */
  readonly full: boolean;
}

export class LogReader {
  private readonly sessions = new Map<string, Held>();
  private readonly watches = new Map<string, Watch>();
  /** Per bucket, the watches to read next. */
  private readonly dirty = new Map<number, Set<Watch>>();
  private readonly reading = new Set<number>();
  private scheduled = false;
  private subscribing = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly host: LogReaderHost) {}

  /** A hold was made here: the session's keys and positions (flat key, position pairs), complete up to `upto`. */
  held(id: string, bucket: number, upto: number, ack: boolean, positions: readonly string[]): void {
    this.forget(id);
    const h = new Held(id, bucket);
    h.ack = ack;
    this.sessions.set(id, h);
    for (let i = 0; i + 1 < positions.length; i += 2) this.attach(h, positions[i]!, positions[i + 1]!, upto);
    h.own = ack || anyOverlap([...h.keys.keys()]);
    this.check(h);
  }

  /** A held session subscribed to more keys (the '+' notice): positions complete up to `upto`. */
  subscribed(id: string, upto: number, positions: readonly string[]): void {
    const h = this.sessions.get(id);
    if (!h) return;
    for (let i = 0; i + 1 < positions.length; i += 2) if (!h.keys.has(positions[i]!)) this.attach(h, positions[i]!, positions[i + 1]!, upto);
    h.own = h.ack || anyOverlap([...h.keys.keys()]);
    this.check(h);
  }

  /** The session is no longer held here. */
  forget(id: string): void {
    const h = this.sessions.get(id);
    if (!h) return;
    this.sessions.delete(id);
    for (const sub of h.keys.values()) this.detach(h, sub.watch);
  }

  /** A notice: the log on `channel` got the entry with sequence `seq`. */
  notice(channel: string, seq: number): void {
    const w = this.watches.get(channel);
    if (!w) return;
    if (seq > w.last) w.last = seq;
    if (w.active && w.sessions.size > 0) this.mark(w);
  }

  /**
   * For the core's take of a session: the commit of its pending mail, or null (then the
   * take is the session's own, and what was pending is dropped: that take reads it in Redis).
   */
  commit(id: string): Commit | null {
    const h = this.sessions.get(id);
    if (!h) return null;
    const p = h.pending;
    h.pending = null;
    if (p === null || h.committing !== null || h.needsOwn) return null;
    let cas = '';
    for (const [k, to] of p.to) {
      const sub = h.keys.get(k);
      if (!sub) return null;
      cas += `${k}\n${sub.pos.text}\n${to.text}\n`;
    }
    const c: Commit = { cas, payloads: p.payloads, to: p.to, held: h };
    h.committing = c;
    return c;
  }

  /** The session's own take is about to go (its pending mail, read again by it, goes). */
  plain(id: string): void {
    const h = this.sessions.get(id);
    if (h) h.pending = null;
  }

  /**
   * A commit's reply: 2 committed, 3 not held here (nothing done), else the session's own
   * take ran instead (got 1/0, positions complete up to `upto`). `ends`: a long poll's.
   */
  committed(c: Commit, status: number, upto: number, positions: readonly string[], ends: boolean): void {
    const h = c.held;
    if (this.sessions.get(h.id) !== h) return;
    h.committing = null;
    if (status === 2) {
      for (const [k, to] of c.to) {
        const sub = h.keys.get(k);
        if (sub) sub.pos = to;
      }
      if (ends) this.forget(h.id);
      else if (h.pending !== null) this.host.wake(h.id);
      return;
    }
    if (status === 3) return this.forget(h.id);
    this.taken(h.id, upto, positions, ends && status === 1);
  }

  /**
   * A session's own take came back: its positions, complete up to `upto` (0: it stopped at
   * maxQueue with more left). `ended`: the take ended its hold.
   */
  taken(id: string, upto: number, positions: readonly string[], ended: boolean): void {
    const h = this.sessions.get(id);
    if (!h) return;
    if (ended) return this.forget(id);
    // What was pending (read before this take's reply) is in Redis still, or taken by it.
    h.pending = null;
    h.needsOwn = false;
    const now = new Map<string, string>();
    for (let i = 0; i + 1 < positions.length; i += 2) now.set(positions[i]!, positions[i + 1]!);
    for (const [k, sub] of [...h.keys]) {
      if (now.has(k)) continue;
      // Unsubscribed meanwhile.
      h.keys.delete(k);
      this.detach(h, sub.watch);
    }
    for (const [k, text] of now) {
      const pos = parsePos(text);
      const seen = upto > 0 ? upto : pos.seq;
      const sub = h.keys.get(k);
      if (sub) {
        sub.pos = pos;
        sub.seen = seen;
      } else this.attach(h, k, text, seen);
    }
    h.own = h.ack || anyOverlap([...h.keys.keys()]);
    if (upto === 0) this.ownTake(h);
    else this.check(h);
  }

  /** A commit or take failed (Redis unreachable): no more reads for the session until a take succeeds. */
  failed(id: string, c: Commit | null): void {
    const h = this.sessions.get(id);
    if (!h || (c !== null && c.held !== h)) return;
    if (c !== null) h.committing = null;
    h.pending = null;
    h.needsOwn = true;
  }

  /** Whether the session is held here as far as the reader knows (for specs and tools). */
  holds(id: string): boolean {
    return this.sessions.has(id);
  }

  /** The notice channels listened to now (for specs and tools). */
  get channels(): string[] {
    return [...this.watches.keys()];
  }

  /** Lets go of logs no held session has needed for `idleMs`. */
  sweep(now: number, idleMs: number): void {
    for (const [ch, w] of this.watches) {
      if (w.sessions.size > 0 || !w.active || now - w.idleSince < idleMs) continue;
      this.watches.delete(ch);
      this.host.unsubscribe(ch).catch((err: Error) => debug('unsubscribe %s: %s', ch, err.message));
    }
  }

  /** The pub/sub connection came back: notices may have been lost, so every log is read again. */
  resync(): void {
    for (const w of this.watches.values()) {
      if (!w.active) continue;
      w.from = -1;
      w.catchUp = true;
      this.mark(w);
    }
  }

  /** Resolves once no subscription, read or hand-out is under way. */
  settled(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.sessions.clear();
    this.watches.clear();
    this.dirty.clear();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private get idle(): boolean {
    return this.subscribing === 0 && this.reading.size === 0 && this.dirty.size === 0 && !this.scheduled;
  }

  private checkIdle(): void {
    if (!this.idle || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private attach(h: Held, key: string, position: string, seen: number): void {
    const channel = this.host.channel(h.bucket, key);
    let w = this.watches.get(channel);
    if (!w) {
      w = new Watch(h.bucket, key, channel);
      this.watches.set(channel, w);
      this.listen(w);
    }
    w.sessions.add(h);
    h.keys.set(key, { watch: w, pos: parsePos(position), seen });
  }

  private detach(h: Held, w: Watch): void {
    w.sessions.delete(h);
    if (w.sessions.size === 0) w.idleSince = Date.now();
  }

  private listen(w: Watch): void {
    this.subscribing++;
    this.host
      .subscribe(w.channel)
      .then(
        () => {
          if (this.watches.get(w.channel) !== w) return;
          w.active = true;
          // Publishes before now sent no notice here: the first read finds them.
          w.catchUp = true;
          this.mark(w);
        },
        (err: Error) => debug('subscribe %s: %s', w.channel, err.message),
      )
      .finally(() => {
        this.subscribing--;
        this.checkIdle();
      });
  }

  /** A session's position in a log for the next hand-out: after its pending mail, or its commit under way. */
  private base(h: Held, key: string, sub: Sub): Pos {
    return h.pending?.to.get(key) ?? h.committing?.to.get(key) ?? sub.pos;
  }

  private behind(h: Held, sub: Sub): boolean {
    const w = sub.watch;
    if (!w.active || h.needsOwn) return false;
    return w.from < 0 || sub.seen < w.last || sub.seen < w.from;
  }

  /** Has the logs a session is behind on read. */
  private check(h: Held): void {
    for (const sub of h.keys.values()) if (this.behind(h, sub)) this.mark(sub.watch);
  }

  private mark(w: Watch): void {
    if (w.dirty) return;
    w.dirty = true;
    let set = this.dirty.get(w.bucket);
    if (!set) this.dirty.set(w.bucket, (set = new Set()));
    set.add(w);
    if (!this.scheduled) {
      this.scheduled = true;
      // Next turn: the notices of this one make one read.
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    for (const [bucket, ws] of [...this.dirty]) {
      if (this.reading.has(bucket)) continue;
      this.dirty.delete(bucket);
      this.readBucket(bucket, ws);
    }
    this.checkIdle();
  };

  private readBucket(bucket: number, ws: Set<Watch>): void {
    const group: Held[] = [];
    const inGroup = new Set<Held>();
    const catchUps: Watch[] = [];
    for (const w of ws) {
      w.dirty = false;
      const all = w.catchUp;
      if (all) {
        w.catchUp = false;
        catchUps.push(w);
      }
      for (const h of w.sessions) {
        if (inGroup.has(h) || h.needsOwn) continue;
        if (all || this.behind(h, h.keys.get(w.key)!)) {
          inGroup.add(h);
          group.push(h);
        }
      }
    }
    // Every log of every session read for (a consistent cut across its logs), from the lowest position.
    const from = new Map<string, number>();
    for (const h of group) {
      for (const [k, sub] of h.keys) {
        const seq = this.base(h, k, sub).seq;
        const f = from.get(k);
        if (f === undefined || seq < f) from.set(k, seq);
      }
    }
    if (from.size === 0 && catchUps.length === 0) return;
    const keys = [...from.keys()];
    const args = [String(this.host.maxQueue)];
    for (const k of keys) args.push(k, String(from.get(k)));
    this.reading.add(bucket);
    this.host
      .read(bucket, args)
      .then(
        (r) => this.handOut(bucket, group, keys, from, catchUps, r as Reply[]),
        (err: Error) => {
          debug('read of bucket %d failed: %s', bucket, err.message);
          for (const w of catchUps) w.catchUp = true;
          for (const h of group) if (this.sessions.get(h.id) === h) this.ownTake(h);
        },
      )
      .finally(() => {
        this.reading.delete(bucket);
        if (this.dirty.has(bucket) && !this.scheduled) {
          this.scheduled = true;
          setImmediate(this.run);
        }
        this.checkIdle();
      });
  }

  private handOut(bucket: number, group: Held[], keys: string[], from: Map<string, number>, catchUps: Watch[], r: Reply[]): void {
    const upto = r[0] as number;
    const max = this.host.maxQueue;
    const logs = new Map<string, Log>();
    const touched = new Set<Watch>(catchUps);
    keys.forEach((k, i) => {
      const es = r[i + 1] as [string, string[]][];
      const log: Log = { seqs: [], ns: [], payloads: [], xs: [], full: es.length >= max };
      for (const [eid, f] of es) {
        log.seqs.push(Number(eid.slice(0, -2)));
        log.ns.push(Number(f[1]));
        log.payloads.push(f[3]!);
        log.xs.push(f[5]);
      }
      logs.set(k, log);
      const w = this.watches.get(this.host.channel(bucket, k));
      if (w) {
        touched.add(w);
        const last = log.seqs[log.seqs.length - 1];
        if (last !== undefined && last > w.last) w.last = last;
      }
    });
    // Every publish after `upto` happened after the SUBSCRIBE was confirmed: it sent us a notice.
    for (const w of catchUps) if (w.from < 0) w.from = upto;
    for (const h of group) if (this.sessions.get(h.id) === h && !h.needsOwn) this.handOne(h, logs, from, upto, max);
    // Sessions that came while this read was under way, or that notices since left behind.
    for (const w of touched) {
      for (const h of w.sessions) {
        const sub = h.keys.get(w.key);
        if (sub && this.behind(h, sub)) {
          this.mark(w);
          break;
        }
      }
    }
  }

  /** Hands a session what the read has after its positions, or wakes it to take its mail itself. */
  private handOne(h: Held, logs: Map<string, Log>, from: Map<string, number>, upto: number, max: number): void {
    const to = new Map<string, Pos>();
    const runs: { log: Log; at: number }[] = [];
    for (const [k, sub] of h.keys) {
      const log = logs.get(k);
      const base = this.base(h, k, sub);
      // A key added while the read was under way, or a position older than the read's start.
      if (!log || base.seq < from.get(k)!) return this.ownTake(h);
      if (log.full) return this.ownTake(h);
      const at = firstAfter(log.seqs, base.seq);
      if (at === log.seqs.length) continue;
      // The trim dropped entries it had not read: its own take reports exactly how many.
      if (log.ns[at] !== base.n + 1) return this.ownTake(h);
      const last = log.seqs.length - 1;
      to.set(k, { text: `${log.seqs[last]} ${log.ns[last]}`, seq: log.seqs[last]!, n: log.ns[last]! });
      runs.push({ log, at });
    }
    if (to.size > 0 && h.own) return this.ownTake(h);
    const payloads = merged(runs, h.id);
    if (payloads.length > 0 || h.pending !== null) {
      const p = h.pending ?? { to: new Map<string, Pos>(), payloads: [] };
      if (p.payloads.length + payloads.length > max) return this.ownTake(h);
      for (const [k, pos] of to) p.to.set(k, pos);
      for (const m of payloads) p.payloads.push(m);
      h.pending = p;
    }
    for (const sub of h.keys.values()) if (upto > sub.seen) sub.seen = upto;
    if (payloads.length > 0) this.host.wake(h.id);
  }

  private ownTake(h: Held): void {
    h.pending = null;
    h.needsOwn = true;
    this.host.wake(h.id);
  }
}

/** The index of the first sequence above `seq` (binary search; `seqs` ascending). */
function firstAfter(seqs: number[], seq: number): number {
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqs[mid]! <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The payloads of the runs in sequence order, without those whose publish excluded `id`. */
function merged(runs: { log: Log; at: number }[], id: string): string[] {
  const out: string[] = [];
  if (runs.length === 1) {
    const { log, at } = runs[0]!;
    for (let i = at; i < log.seqs.length; i++) if (log.xs[i] !== id) out.push(log.payloads[i]!);
    return out;
  }
  // The keys cannot match a common channel (own takes otherwise): no sequence is in two runs.
  const all: [number, string][] = [];
  for (const { log, at } of runs) for (let i = at; i < log.seqs.length; i++) if (log.xs[i] !== id) all.push([log.seqs[i]!, log.payloads[i]!]);
  all.sort((a, b) => a[0] - b[0]);
  for (const [, p] of all) out.push(p);
  return out;
}
