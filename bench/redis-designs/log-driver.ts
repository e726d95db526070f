/**
 * Designs (B) and (C) of `npm run bench -- redis-designs`: channel logs with per-session
 * read positions (the Lua is in log-scripts.ts), driven like the engine would drive them.
 *
 * - `session-read` (B): a notice wakes the held sessions subscribed to its log; each reads
 *   its own logs in Redis (`x`: take and end the hold), then begins its next connect (`b`).
 * - `process-read` (C, long-polling): a notice makes the process read the new entries of
 *   the log once (`dlRead`, from the lowest position among its held sessions) and hand them
 *   to those sessions in memory; Redis then only gets each session's new positions as its
 *   hold ends (`e`), and its next connect (`b`).
 * - `stream` (C, streaming): as `process-read`, but the sessions stay held (a WebSocket-like
 *   connection), and positions go to Redis once per second (`e` without a deadline).
 *
 * Connect-cycle calls go out merged, one script call per tick (up to 256 operations, 16 in
 * flight), with the engine's own batcher (lib/engines/redis/op-batch.ts).
 *
 * Notices carry the id of the publish. Every reply that leaves a session held carries the
 * cut it read up to, so a notice that overtook the reply (it comes on another connection)
 * is not missed: a session held with cut c on a log whose latest notice is past c is woken
 * again at once.
 */
import { Redis } from 'ioredis';
import { expandChannel } from '../../lib/channel-name.js';
import { OpBatch, type BatchOp } from '../../lib/engines/redis/op-batch.js';
import { IdleGate, inChunks, SESSION_LIFE_MS, sessionIds, type DesignDriver, type DriverOptions } from './driver.js';
import { LOG_SCRIPTS, type LogScriptName } from './log-scripts.js';

type Reply = null | number | string | Reply[];
type ScriptCall = (...args: (string | number)[]) => Promise<Reply>;

/** How a log design delivers: see the file comment. */
export type LogMode = 'session-read' | 'process-read' | 'stream';

const T = '{bd:log}';
const SEQ = `${T}:seq`;
/** Streaming: how often positions are written to Redis, ms. */
const POSITION_FLUSH_MS = 1000;

export class LogDriver implements DesignDriver {
  errors = 0;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly me = `p${process.pid}`;
  private readonly ids: string[];
  /** Distinct subscription keys, and each session's (indexes into it). */
  private readonly keys: string[] = [];
  private readonly keyIndex = new Map<string, number>();
  private readonly keysOf: number[][] = [];
  /** Per key: each session's position (id and ordinal of the last entry it got); C only. */
  private readonly posSeq: Float64Array[] = [];
  private readonly posN: Float64Array[] = [];
  /** Per key: the held sessions subscribed to it (a session not held is busy), and the latest id noticed. */
  private readonly heldOn: Set<number>[] = [];
  private readonly lastNotice: number[] = [];
  /** The cut a held session's last read went up to. */
  private readonly cut: Float64Array;
  /** C: sessions waiting for the next process read. */
  private readGroup: number[] = [];
  private readScheduled = false;
  /** Streaming: sessions whose positions moved since the last flush, and flushes under way. */
  private readonly dirty = new Set<number>();
  private flushing = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private paused = false;
  private readonly gate = new IdleGate();
  private readonly ops = new OpBatch<Reply>((_b, ops) => this.sendMerged(ops), 256, 16);

  constructor(
    private readonly mode: LogMode,
    private readonly o: DriverOptions,
  ) {
    this.redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 0 });
    this.sub = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
    for (const [name, lua] of Object.entries(LOG_SCRIPTS)) this.redis.defineCommand(name, { numberOfKeys: 1, lua });
    this.ids = sessionIds(o.sessions).ids;
    this.cut = new Float64Array(o.sessions);
    for (let i = 0; i < o.sessions; i++) this.keysOf.push(o.channelsOf(i).map((c) => this.keyOf(c)));
    this.sub.on('message', (channel: string, message: string) => this.onNotice(channel, message));
  }

  private keyOf(channel: string): number {
    let k = this.keyIndex.get(channel);
    if (k === undefined) {
      k = this.keys.length;
      this.keys.push(channel);
      this.keyIndex.set(channel, k);
      this.posSeq.push(new Float64Array(this.o.sessions));
      this.posN.push(new Float64Array(this.o.sessions));
      this.heldOn.push(new Set());
      this.lastNotice.push(0);
    }
    return k;
  }

  private script(name: LogScriptName, ...args: (string | number)[]): Promise<Reply> {
    return (this.redis as unknown as Record<LogScriptName, ScriptCall>)[name](SEQ, T, ...args);
  }

  async setup(): Promise<void> {
    // Listening before anyone holds, so no notice is missed.
    await this.sub.subscribe(...this.keys.map((k) => `${T}:w:${k}`));
    await inChunks(this.o.sessions, 500, async (i) => {
      await this.script('dlCreate', this.ids[i]!, Date.now() + SESSION_LIFE_MS, ...this.keysOf[i]!.map((k) => this.keys[k]!));
      this.gate.busy++;
      this.begin(i);
    });
    if (!(await this.idle(60_000))) throw new Error('sessions did not all hold');
    if (this.mode === 'stream') {
      this.flushTimer = setInterval(() => this.flushPositions(), POSITION_FLUSH_MS);
    }
  }

  publish(channel: string, payload: string): Promise<Reply> {
    return this.script('dlPublish', this.o.maxQueue, payload, '', ...expandChannel(channel));
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (let k = 0; k < this.keys.length; k++) this.wakeHeld(k);
  }

  idle(timeoutMs: number, positions = true): Promise<boolean> {
    return this.gate.wait(() => this.readGroup.length + (positions ? this.dirty.size + this.flushing : 0), timeoutMs);
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    await Promise.all([this.redis.quit(), this.sub.quit()]);
  }

  private checkIdle(): void {
    this.gate.check();
  }

  private onNotice(channel: string, message: string): void {
    const k = this.keyIndex.get(channel.slice(T.length + 3));
    if (k === undefined) return;
    const seq = Number(message);
    if (seq > this.lastNotice[k]!) this.lastNotice[k] = seq;
    if (!this.paused) this.wakeHeld(k);
  }

  /** Wakes the held sessions on key k that have not read up to its latest notice. */
  private wakeHeld(k: number): void {
    const latest = this.lastNotice[k]!;
    for (const i of this.heldOn[k]!) if (this.cut[i]! < latest) this.wake(i);
  }

  private wake(i: number): void {
    for (const k of this.keysOf[i]!) this.heldOn[k]!.delete(i);
    this.gate.busy++;
    if (this.mode === 'session-read') {
      this.op('x', i, String(Date.now() + SESSION_LIFE_MS), '').then((r) => this.afterTake(i, r), (err) => this.failed(i, err));
      return;
    }
    this.readGroup.push(i);
    if (!this.readScheduled) {
      this.readScheduled = true;
      // Next turn, as the server flushes wakes: the notices of one turn make one read.
      setImmediate(this.processRead);
    }
  }

  /** The session holds again, having read everything up to `cut`. */
  private held(i: number, cut: number): void {
    this.cut[i] = cut;
    this.gate.busy--;
    let again = false;
    for (const k of this.keysOf[i]!) {
      this.heldOn[k]!.add(i);
      if (this.lastNotice[k]! > cut) again = true;
    }
    if (again && !this.paused) this.wake(i);
    this.checkIdle();
  }

  private failed(i: number, err: unknown): void {
    this.errors++;
    if (this.errors <= 3) process.stderr.write(`redis-designs: ${this.mode}: ${String((err as Error)?.message ?? err)}\n`);
    // Parked: never woken again (what it misses is counted as lost), so an error cannot spin.
    this.held(i, Number.MAX_SAFE_INTEGER);
  }

  private op(kind: BatchOp<Reply>['kind'], i: number, a: string, b: string): Promise<Reply> {
    return new Promise((resolve, reject) => this.ops.add(0, { kind, clientId: this.ids[i]!, a, b, resolve, reject }));
  }

  private sendMerged(ops: BatchOp<Reply>[]): Promise<void> {
    const args: string[] = [this.me, String(this.o.maxQueue)];
    for (const op of ops) args.push(op.kind, op.clientId, op.a, op.b);
    return this.script('dlMany', ...args).then(
      (r) => {
        const replies = r as Reply[];
        for (let k = 0; k < ops.length; k++) ops[k]!.resolve(replies[k] ?? null);
      },
      (err: unknown) => {
        for (const op of ops) op.reject(err);
      },
    );
  }

  /** The client's next connect. */
  private begin(i: number): void {
    this.op('b', i, '1', String(Date.now() + 120_000)).then((r) => this.afterTake(i, r), (err) => this.failed(i, err));
  }

  /** A take's or a begin's reply: {held, cut, dropped, #positions, key, position, …, payloads…}. */
  private afterTake(i: number, reply: Reply): void {
    if (!Array.isArray(reply)) return this.failed(i, new Error(`session ${this.ids[i]} unknown`));
    const npos = reply[3] as number;
    if (this.mode !== 'session-read') {
      for (let j = 4; j < 4 + 2 * npos; j += 2) {
        const k = this.keyIndex.get(reply[j] as string)!;
        const [seq, n] = (reply[j + 1] as string).split(' ');
        this.posSeq[k]![i] = Number(seq);
        this.posN[k]![i] = Number(n);
      }
    }
    if (reply[0] === 1) return this.held(i, reply[1] as number);
    const mail = reply.slice(4 + 2 * npos) as string[];
    this.o.tally.dropped += reply[2] as number;
    if (mail.length > 0) this.o.tally.add(i, mail);
    this.begin(i);
  }

  /** C: one read of the logs the woken sessions need, handed out to each in memory. */
  private readonly processRead = (): void => {
    this.readScheduled = false;
    const group = this.readGroup;
    this.readGroup = [];
    if (group.length === 0) return;
    // From the lowest position among the group, per log.
    const from = new Map<number, number>();
    for (const i of group) {
      for (const k of this.keysOf[i]!) {
        const p = this.posSeq[k]![i]!;
        const f = from.get(k);
        if (f === undefined || p < f) from.set(k, p);
      }
    }
    const keys = [...from.keys()];
    const args: (string | number)[] = [this.o.maxQueue];
    for (const k of keys) args.push(this.keys[k]!, from.get(k)!);
    this.script('dlRead', ...args).then(
      (r) => this.handOut(group, keys, r as Reply[]),
      (err) => {
        for (const i of group) this.failed(i, err);
      },
    );
  };

  private handOut(group: number[], keys: number[], reply: Reply[]): void {
    const seq = reply[0] as number;
    const logs = new Map<number, Run & { ns: number[]; excluded: (string | undefined)[] | null; cut: number }>();
    keys.forEach((k, j) => {
      const es = reply[j + 1] as [string, string[]][];
      const seqs: number[] = [];
      const ns: number[] = [];
      const payloads: string[] = [];
      let excluded: (string | undefined)[] | null = null;
      for (const [id, fields] of es) {
        seqs.push(Number(id.slice(0, -2)));
        ns.push(Number(fields[1]));
        payloads.push(fields[3]!);
        if (fields[5] !== undefined) (excluded ??= new Array<string | undefined>(es.length))[payloads.length - 1] = fields[5];
      }
      // A log read to the COUNT limit may have more: sessions on it have seen only so far.
      logs.set(k, { seqs, ns, payloads, excluded, cut: es.length >= this.o.maxQueue ? seqs[seqs.length - 1]! : seq });
    });
    for (const i of group) {
      let cut = seq;
      let mail: Run | null = null;
      for (const k of this.keysOf[i]!) {
        const log = logs.get(k)!;
        cut = Math.min(cut, log.cut);
        const at = this.posSeq[k]![i]!;
        let j = 0;
        while (j < log.seqs.length && log.seqs[j]! <= at) j++;
        if (j === log.seqs.length) continue;
        if (log.ns[j]! > this.posN[k]![i]! + 1) this.o.tally.dropped += log.ns[j]! - this.posN[k]![i]! - 1;
        const last = log.seqs.length - 1;
        this.posSeq[k]![i] = log.seqs[last]!;
        this.posN[k]![i] = log.ns[last]!;
        let part: Run = j === 0 ? log : { seqs: log.seqs.slice(j), payloads: log.payloads.slice(j) };
        if (log.excluded) part = withoutExcluded(part, log.excluded.slice(j), this.ids[i]!);
        mail = mail === null ? part : mergeById(mail, part);
      }
      if (mail === null || mail.payloads.length === 0) {
        this.held(i, cut);
        continue;
      }
      this.o.tally.add(i, mail.payloads, true);
      if (this.mode === 'stream') {
        this.dirty.add(i);
        this.held(i, cut);
        continue;
      }
      // Long-polling: the response ends the hold (positions written), then the next connect.
      this.op('e', i, String(Date.now() + SESSION_LIFE_MS), this.positions(i)).catch((err) => {
        this.errors++;
        process.stderr.write(`redis-designs: position write failed: ${String(err)}\n`);
      });
      this.begin(i);
    }
  }

  /** Session i's positions as the `e` operation takes them: "key\nseq n\n…". */
  private positions(i: number): string {
    let s = '';
    for (const k of this.keysOf[i]!) s += `${this.keys[k]}\n${this.posSeq[k]![i]} ${this.posN[k]![i]}\n`;
    return s;
  }

  /** Streaming: every session's moved positions, one `e` each, merged into a few calls. */
  private flushPositions(): void {
    if (this.dirty.size === 0) return;
    const all = [...this.dirty];
    this.dirty.clear();
    this.flushing++;
    Promise.all(all.map((i) => this.op('e', i, '', this.positions(i))))
      .catch((err) => {
        this.errors++;
        process.stderr.write(`redis-designs: position flush failed: ${String(err)}\n`);
      })
      .finally(() => {
        this.flushing--;
        this.checkIdle();
      });
  }
}

/** Payloads in id order, with their ids. */
interface Run {
  seqs: number[];
  payloads: string[];
}

/** Two runs merged by id; a publish in both (matched by two subscriptions) once. */
function mergeById(a: Run, b: Run): Run {
  const out: Run = { seqs: [], payloads: [] };
  let i = 0;
  let j = 0;
  while (i < a.seqs.length || j < b.seqs.length) {
    const x = i < a.seqs.length ? a.seqs[i]! : Infinity;
    const y = j < b.seqs.length ? b.seqs[j]! : Infinity;
    if (x <= y) {
      out.seqs.push(x);
      out.payloads.push(a.payloads[i++]!);
      if (x === y) j++;
    } else {
      out.seqs.push(y);
      out.payloads.push(b.payloads[j++]!);
    }
  }
  return out;
}

/** A run without the entries whose publish excluded session `id`. */
function withoutExcluded(run: Run, excluded: (string | undefined)[], id: string): Run {
  const out: Run = { seqs: [], payloads: [] };
  run.seqs.forEach((s, j) => {
    if (excluded[j] !== id) {
      out.seqs.push(s);
      out.payloads.push(run.payloads[j]!);
    }
  });
  return out;
}
