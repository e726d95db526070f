/**
 * The `/meta/connect`s this process holds, and how they are released.
 *
 * A held connect is released when its timeout passes, when the engine wakes its session
 * (mail arrived), when a newer connect of the same session arrives, or when the session
 * goes away. Wakes are gathered and flushed once per event-loop turn (`setImmediate`),
 * so a burst of publishes rides one response. Mail is taken from the engine only for a
 * connection that is still open; if the client has gone, it stays queued for the next
 * connect.
 */
import createDebug from 'debug';
import { isPromise, type Engine } from './engines/engine.js';
import type { Exchange } from './exchange.js';
import type { Message } from './message.js';
import { HoldTimer, type Timed, type TimedList } from './hold-timer.js';
import type { ServerStats } from './server-stats.js';

const debug = createDebug('bayeux:held-connects');

/** One held `/meta/connect`. */
export class HeldConnect implements Timed {
  deadline = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  list: TimedList | null = null;
  /** An asynchronous engine is taking this session's mail for it right now. */
  taking = false;
  /** The timeout passed while `taking`: answer as soon as the take is back. */
  expired = false;
  /** While `taking`: settles once the taken mail went out or back to the queue. */
  settling: Promise<void> | null = null;
  constructor(
    readonly clientId: string,
    /** The connect's `id`, echoed in its reply. */
    readonly replyId: string | undefined,
    readonly exchange: Exchange,
    /** Held forever and never answered (an in-process client): mail is handed over and the hold stays. */
    readonly persistent = false,
    /** The connect message, kept only when outgoing extensions will want to see what the reply answers. */
    readonly request: Message | null = null,
    /**
     * With acknowledged delivery: the latest batch number when the hold began, which a reply
     * that takes no mail (a newer connect took over, the session ended) carries. Mail taken
     * since has higher numbers, so acknowledging it loses nothing.
     */
    readonly ackBatch?: number,
  ) {
    // With acknowledged delivery mail goes only with connect replies, where batches are
    // numbered (as CometD's AckExtension makes its sessions deliver on meta connect only).
    this.streaming = exchange.stream !== undefined && ackBatch === undefined;
  }
  /**
   * Mail is streamed on the exchange as it comes and the hold goes on: until its timeout
   * (WebSocket), or for as long as the exchange lives when persistent (an EventSource
   * stream); otherwise mail answers the hold.
   */
  readonly streaming: boolean;
  /** Streaming with outgoing extensions: the last batch being prepared, so batches go out in order. */
  streamed: Promise<void> | null = null;
  /** Streamed batches still being prepared. */
  preparing = 0;
  /**
   * Mail taken for the stream whose exchange closed while extensions prepared it: it goes
   * back to the queue, in the order taken, once the last batch in preparation is done.
   */
  unsent: string[] | null = null;
}

/**
 * Prepares mail streamed to a held connect (outgoing extensions); async only when they run.
 */
export type StreamComposer = (h: HeldConnect, mail: string[]) => string[] | Promise<string[]>;

/**
 * Builds the response of a held connect: `before` (if any), the mail, then the connect
 * reply with `advice` (serialized) or the server's. Async only when extensions must see it.
 */
export type ConnectResponseComposer = (
  h: HeldConnect,
  mail: string[],
  advice?: string,
  before?: string,
) => string[] | Promise<string[]>;

/** Settings the manager needs from the server. */
export interface HeldConnectsConfig {
  readonly engine: Engine;
  /** ms a session lives after a connect reply when no new connect arrives. */
  readonly expiresInMs: () => number;
  readonly compose: ConnectResponseComposer;
  readonly composeStream: StreamComposer;
  /** Reports engine failures (logged by the server). */
  readonly onError: (err: unknown) => void;
  /** Where mail handed to a connection is counted (by connection type). */
  readonly stats: ServerStats;
}

/** Registry of held connects for this process. */
export class HeldConnects {
  private readonly holds = new Map<string, HeldConnect>();
  private readonly timer = new HoldTimer<HeldConnect>((h) => this.expire(h));
  private pending = new Set<string>();
  private scheduled = false;
  /** Held connects per browser id (exchanges that carry one), for `maxSessionsPerBrowser`. */
  private readonly perBrowser = new Map<string, number>();

  constructor(private readonly config: HeldConnectsConfig) {}

  /** Number of connects this process holds for the browser `browserId`. */
  browserHolds(browserId: string): number {
    return this.perBrowser.get(browserId) ?? 0;
  }

  private countBrowser(h: HeldConnect, delta: 1 | -1): void {
    const id = h.exchange.browserId;
    if (id === undefined) return;
    const n = (this.perBrowser.get(id) ?? 0) + delta;
    if (n > 0) this.perBrowser.set(id, n);
    else this.perBrowser.delete(id);
  }

  /** Number of connects held right now. */
  get size(): number {
    return this.holds.size;
  }

  /** Connects held right now, by connection type (read on demand: metrics, the monitor). */
  countByType(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.holds.values()) {
      const t = h.exchange.connectionType;
      out[t] = (out[t] ?? 0) + 1;
    }
    return out;
  }

  /** The hold for a session, if this process has one. */
  get(clientId: string): HeldConnect | undefined {
    return this.holds.get(clientId);
  }

  /** Starts holding; the engine has already recorded the session as held here. */
  hold(h: HeldConnect, timeoutMs: number): void {
    const prev = this.holds.get(h.clientId);
    if (prev !== h) {
      if (prev !== undefined) this.countBrowser(prev, -1);
      this.countBrowser(h, 1);
    }
    this.holds.set(h.clientId, h);
    h.exchange.held = h;
    if (!h.persistent) this.timer.add(h, timeoutMs);
  }

  /** The engine says this session has mail: flush it on this turn's end. */
  wake(clientId: string): void {
    this.pending.add(clientId);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushPending);
    }
  }

  private readonly flushPending = (): void => {
    this.scheduled = false;
    const ids = this.pending;
    this.pending = new Set();
    for (const id of ids) this.flush(id);
  };

  /** Takes the session's mail and answers its hold with it (nothing queued: keep holding). */
  flush(clientId: string): void {
    const h = this.holds.get(clientId);
    if (!h) return;
    if (!h.exchange.open) {
      this.dropped(h);
      return;
    }
    if (h.taking) return; // the take under way will see this mail too
    // A slow reader: its mail waits in the engine (bounded by maxQueue) until it drains.
    if (h.streaming && h.exchange.congested === true) return;
    // A tunnel or a stream keeps holding after a delivery, so its hold must not end with the take.
    const engine = this.config.engine;
    const ends = !h.persistent && !h.streaming && engine.takeAndEnd !== undefined;
    const taken = ends ? engine.takeAndEnd!(clientId, this.config.expiresInMs()) : engine.takeQueued(clientId, false);
    if (!isPromise(taken)) return this.deliverTaken(h, taken, ends);
    // While the take is under way, the timeout must not answer with a take of its own: the
    // two could split the queue and this take's mail would go back behind newer mail.
    h.taking = true;
    h.settling = taken.then(
      (m) => {
        h.taking = false;
        h.settling = null;
        this.deliverTaken(h, m, ends);
        if (h.expired && this.holds.get(h.clientId) === h) this.release(h, null);
      },
      (err: unknown) => {
        h.taking = false;
        h.settling = null;
        this.config.onError(err);
        if (h.expired && this.holds.get(h.clientId) === h) this.release(h, null);
      },
    );
  }

  /** The hold's timeout passed: answer it, unless a take is under way (it answers then). */
  private expire(h: HeldConnect): void {
    if (h.taking) h.expired = true;
    else this.release(h, null);
  }

  /** `ended`: the take ended the hold in the engine too (see `Engine.takeAndEnd`). */
  private deliverTaken(h: HeldConnect, messages: string[] | null, ended: boolean): void {
    if (messages === null || messages.length === 0) return;
    if (h.persistent && !h.streaming) {
      this.config.stats.countDelivered(h.exchange.connectionType, messages.length);
      h.exchange.send(messages);
      return;
    }
    if (this.holds.get(h.clientId) !== h || !h.exchange.open) {
      // Answered or gone while the queue was being taken: the mail waits for the next connect.
      this.settle(this.config.engine.requeue(h.clientId, messages));
      if (this.holds.get(h.clientId) === h) this.dropped(h);
      return;
    }
    if (h.streaming) return this.stream(h, messages);
    this.release(h, messages, undefined, undefined, ended);
  }

  /** Writes mail on a streaming exchange, in the order it was taken. */
  private stream(h: HeldConnect, messages: string[]): void {
    if (h.streamed === null) {
      const parts = this.config.composeStream(h, messages);
      if (!isPromise(parts)) {
        // Counted as taken, before outgoing extensions see them (they may drop some).
        this.config.stats.countDelivered(h.exchange.connectionType, messages.length);
        return h.exchange.stream!(parts);
      }
      h.preparing++;
      h.streamed = this.streamPrepared(h, () => parts, messages);
      return;
    }
    h.preparing++;
    h.streamed = h.streamed.then(() => this.streamPrepared(h, () => this.config.composeStream(h, messages), messages));
  }

  /** Writes one streamed batch once outgoing extensions prepared it; never rejects, so the chain goes on. */
  private async streamPrepared(h: HeldConnect, prepare: () => string[] | Promise<string[]>, messages: string[]): Promise<void> {
    try {
      const parts = await prepare();
      if (h.exchange.open) {
        this.config.stats.countDelivered(h.exchange.connectionType, messages.length);
        h.exchange.stream!(parts);
      } else if (h.unsent === null) {
        // The socket died while extensions prepared this batch: what was taken must not be lost.
        h.unsent = messages;
      } else {
        for (const m of messages) h.unsent.push(m);
      }
    } catch (err) {
      this.config.onError(err);
    } finally {
      if (--h.preparing === 0 && h.unsent !== null) {
        const unsent = h.unsent;
        h.unsent = null;
        this.settle(this.config.engine.requeue(h.clientId, unsent));
      }
    }
  }

  /**
   * Answers a held connect now with `messages` (taken already) or, when null, with
   * whatever is queued. `advice` overrides the connect reply's advice (e.g. `none` on
   * disconnect). `before` goes ahead of everything (e.g. a `/meta/disconnect` message).
   * `ended`: the engine has ended the hold already (it took `messages` with `takeAndEnd`).
   * Returns a promise when the answer is written later (an asynchronous engine or extensions).
   */
  release(h: HeldConnect, messages: string[] | null, advice?: string, before?: string, ended = false): void | Promise<void> {
    this.forget(h);
    if (h.persistent) return;
    const engine = this.config.engine;
    if (!h.exchange.open) {
      if (messages) this.settle(engine.requeue(h.clientId, messages));
      if (!ended) this.settle(engine.endConnect(h.clientId, this.config.expiresInMs(), false));
      return;
    }
    if (messages === null) {
      // A slow reader's heartbeat carries no mail: that would bypass the backpressure.
      const take = !(h.streaming && h.exchange.congested === true);
      const taken = engine.endConnect(h.clientId, this.config.expiresInMs(), take);
      if (isPromise(taken)) {
        return taken.then(
          (m) => this.write(h, m ?? [], advice, before),
          (err: unknown) => {
            // The engine failed (e.g. Redis down): answer anyway, so the client does not hang
            // until its own timeout; its mail stays queued and its next connect learns why.
            this.config.onError(err);
            this.write(h, [], advice, before);
          },
        );
      }
      return this.write(h, taken ?? [], advice, before);
    }
    if (!ended) this.settle(engine.endConnect(h.clientId, this.config.expiresInMs(), false));
    return this.write(h, messages, advice, before);
  }

  private write(h: HeldConnect, messages: string[], advice?: string, before?: string): void | Promise<void> {
    if (!h.exchange.open) {
      if (messages.length > 0) this.settle(this.config.engine.requeue(h.clientId, messages));
      return;
    }
    // Counted before compose, which appends the connect reply to the same array.
    if (messages.length > 0) this.config.stats.countDelivered(h.exchange.connectionType, messages.length);
    return this.send(h, this.config.compose(h, messages, advice, before));
  }

  private send(h: HeldConnect, parts: string[] | Promise<string[]>): void | Promise<void> {
    if (isPromise(parts)) return parts.then((p) => h.exchange.send(p), this.config.onError);
    h.exchange.send(parts);
  }

  /** The held exchange closed before it was answered (the client went away). */
  dropped(h: HeldConnect): void {
    if (this.holds.get(h.clientId) !== h) return;
    debug('held connect of %s dropped by the client', h.clientId);
    this.forget(h);
    this.settle(this.config.engine.endConnect(h.clientId, this.config.expiresInMs(), false));
  }

  /**
   * Answers a hold without touching the engine: a newer connect of the session took over,
   * or the session is gone. Queued mail stays where it is.
   */
  supersede(h: HeldConnect, advice?: string, before?: string): void {
    this.forget(h);
    if (!h.exchange.open) return;
    if (h.persistent) {
      // A stream with no session behind it any more ends, and its client opens the next.
      if (h.streaming) h.exchange.fail(503, 'the session ended or another stream took over');
      return;
    }
    this.send(h, this.config.compose(h, [], advice, before));
  }

  /**
   * Answers every hold now (the server drains), with the session's queued mail and
   * `advice`; in-process clients' holds stay. A hold whose mail is being taken is answered
   * once the take is back. Resolves when every answer is written (or found its client gone).
   */
  drain(advice: string): Promise<unknown> {
    const answers: unknown[] = [];
    for (const h of [...this.holds.values()]) {
      if (h.persistent) {
        // A stream ends, so that its client's next one reaches another process.
        if (h.streaming && h.exchange.open) h.exchange.fail(503, 'server draining');
        continue;
      }
      if (h.settling !== null) {
        // The take answers the hold if it found mail; if not, the hold is still ours to answer.
        answers.push(h.settling.then(() => (this.holds.get(h.clientId) === h ? this.release(h, null, advice) : undefined)));
      } else answers.push(this.release(h, null, advice));
    }
    debug('draining: answering %d held connects', answers.length);
    return Promise.allSettled(answers);
  }

  /** Answers every hold (server shutdown) with `advice`. */
  releaseAll(advice?: string): void {
    for (const h of [...this.holds.values()]) this.supersede(h, advice);
    this.timer.clear();
  }

  /** Removes a hold from the registry and the timer. */
  forget(h: HeldConnect): void {
    if (this.holds.get(h.clientId) === h) {
      this.holds.delete(h.clientId);
      this.countBrowser(h, -1);
    }
    this.timer.remove(h);
    if (h.exchange.held === h) h.exchange.held = null;
  }

  private settle(v: unknown): void {
    if (isPromise(v)) v.catch(this.config.onError);
  }
}
