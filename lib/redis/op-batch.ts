/**
 * The connect cycle's engine calls (begin a connect, take mail, end a hold), issued in one
 * tick, merged into one script call per bucket.
 *
 * A publish to many sessions held by one process wakes them all in one turn; each then
 * takes its mail and ends its hold, and soon after its client connects again. One round
 * trip each would put tens of thousands of commands in flight at once (enough to run past
 * the command timeout with 100,000 sessions); merged, they are a few calls of up to `max`
 * operations. Under steady load, the connects read in one event-loop turn share a call.
 *
 * Order is kept: operations run in Redis in the order they were asked for, and the engine
 * flushes the pending ones before it sends any other command, so nothing sent later can
 * overtake them.
 */

/** One operation of a merged call, and who waits for its reply. */
export interface BatchOp<R> {
  /** `b` begin a connect, `t` take queued mail, `e` end a held connect, `x` take and, if there was mail, end. */
  kind: 'b' | 't' | 'e' | 'x';
  clientId: string;
  /** begin: hold ('1'/'0'); take: piggyback ('1'/'0'); end, take-and-end: the session's new deadline (epoch ms). */
  a: string;
  /** begin: the lease deadline (epoch ms); end: take the mail too ('1'/'0'); otherwise unused. */
  b: string;
  resolve(reply: R): void;
  reject(err: unknown): void;
}

export class OpBatch<R> {
  private pending = new Map<number, BatchOp<R>[]>();
  private scheduled = false;

  constructor(
    /** Sends the operations of one bucket as one call (synchronously puts it on the connection). */
    private readonly send: (bucket: number, ops: BatchOp<R>[]) => void,
    /** Most operations per call: bounds the time one script holds Redis. */
    private readonly max = 256,
  ) {}

  add(bucket: number, op: BatchOp<R>): void {
    let ops = this.pending.get(bucket);
    if (ops === undefined) this.pending.set(bucket, (ops = []));
    ops.push(op);
    if (ops.length >= this.max) {
      this.pending.delete(bucket);
      this.send(bucket, ops);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // After the current turn's synchronous work and promise callbacks: a wake flush asks
      // for all its takes in one go, and their replies' ends follow in one go too.
      process.nextTick(this.flush);
    }
  }

  /** Sends everything pending now. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const all = this.pending;
    this.pending = new Map();
    for (const [bucket, ops] of all) this.send(bucket, ops);
  };
}
