/**
 * The connect cycle's engine calls (begin a connect, take mail, end a hold), issued in one
 * tick, merged into one script call per bucket.
 *
 * A publish to many sessions held by one process wakes them all in one turn; each then
 * takes its mail and ends its hold, and soon after its client connects again. One round
 * trip each would put tens of thousands of commands in flight at once; merged, they are a
 * few calls of up to `max` operations. Under steady load, the connects read in one
 * event-loop iteration (one poll phase, many sockets) share a call.
 *
 * At most `maxInFlight` calls are in flight; the others wait here, in order. A herd (one
 * publish to 100,000 held sessions) then queues in the process, not in Redis, where every
 * call would count against the command timeout while it waits its turn.
 *
 * Order is kept: operations run in Redis in the order they were asked for, and the engine
 * flushes the pending ones (and waits until the waiting ones are sent) before it sends any
 * other command, so nothing asked later can overtake them.
 */

/** One operation of a merged call, and who waits for its reply. */
export interface BatchOp<R> {
  /**
   * `b` begin a connect, `t` take queued mail, `e` end a held connect, `x` take and, if there
   * was mail, end; `c` (logs mode) commit the positions of mail the process read for a held session.
   */
  kind: 'b' | 't' | 'e' | 'x' | 'c';
  clientId: string;
  /** begin: hold ('1'/'0'); take: piggyback ('1'/'0'); end, take-and-end: the session's new deadline (epoch ms); commit: that deadline, or '' to keep holding. */
  a: string;
  /** begin: the lease deadline (epoch ms); end: take the mail too ('1'/'0'); commit: the positions it expects and sets; otherwise unused. */
  b: string;
  resolve(reply: R): void;
  reject(err: unknown): void;
  /** The reply, when the call was failed by the bound (rejected) and Redis ran it after all. */
  late?(reply: R): void;
}

export class OpBatch<R> {
  private pending = new Map<number, BatchOp<R>[]>();
  private scheduled = false;
  /** Calls ready to go, waiting for a slot. */
  private readonly backlog: { bucket: number; ops: BatchOp<R>[] }[] = [];
  private inFlight = 0;
  private sentWaiters: (() => void)[] = [];

  constructor(
    /** Sends the operations of one bucket as one call; settles when its reply is in. */
    private readonly send: (bucket: number, ops: BatchOp<R>[]) => Promise<void>,
    /** Most operations per call: bounds the time one script holds Redis. */
    private readonly max = 256,
    /** Most calls in flight at once. */
    private readonly maxInFlight = 16,
  ) {}

  add(bucket: number, op: BatchOp<R>): void {
    let ops = this.pending.get(bucket);
    if (ops === undefined) this.pending.set(bucket, (ops = []));
    ops.push(op);
    if (ops.length >= this.max) {
      this.pending.delete(bucket);
      this.dispatch(bucket, ops);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // After this loop iteration's I/O callbacks, not after this one alone: the connects
      // of every request read in one poll phase (a herd reconnecting after one publish) go
      // in one call, as do a wake flush's takes and their replies' ends.
      setImmediate(this.flush);
    }
  }

  /** Sends (or lines up) everything pending now. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const all = this.pending;
    this.pending = new Map();
    for (const [bucket, ops] of all) this.dispatch(bucket, ops);
  };

  /** Whether calls wait for a slot (a command sent now would overtake them). */
  get backlogged(): boolean {
    return this.backlog.length > 0;
  }

  /** Resolves once every call lined up so far has been sent. */
  sent(): Promise<void> {
    if (this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.sentWaiters.push(resolve));
  }

  private dispatch(bucket: number, ops: BatchOp<R>[]): void {
    if (this.inFlight >= this.maxInFlight || this.backlog.length > 0) this.backlog.push({ bucket, ops });
    else this.start(bucket, ops);
  }

  private start(bucket: number, ops: BatchOp<R>[]): void {
    this.inFlight++;
    this.send(bucket, ops).finally(this.done);
  }

  private readonly done = (): void => {
    this.inFlight--;
    while (this.inFlight < this.maxInFlight && this.backlog.length > 0) {
      const next = this.backlog.shift()!;
      this.start(next.bucket, next.ops);
    }
    if (this.backlog.length === 0 && this.sentWaiters.length > 0) {
      const waiters = this.sentWaiters;
      this.sentWaiters = [];
      for (const w of waiters) w();
    }
  };
}
