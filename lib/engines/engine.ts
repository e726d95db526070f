/**
 * The engine interface: everything the protocol core needs from shared state.
 *
 * Sessions, subscriptions, per-session queues and session expiry live behind it, so a
 * Redis-backed engine can serve several processes where any process answers any request.
 * What stays in the process is only what cannot move: the held HTTP connections. The
 * engine tells the process that holds a session's connection when that session has mail
 * ({@link EngineListener.wake}); the process then takes the queue. An engine whose store can
 * go away also tells when it does and when it is back ({@link EngineListener.health}).
 *
 * Every method may return a value or a promise: the in-memory engine answers
 * synchronously and so does not pay for the abstraction; a networked engine returns
 * promises. Payloads are pre-serialized JSON strings: a message is serialized once, and
 * the engine only moves strings. Arrays an engine returns belong to the caller, which may
 * change them (the core appends the connect reply in place).
 */

/** A value or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/**
 * Messages taken for one response. For a session with acknowledged delivery, `batch` is
 * the batch number they were sent under (the client acknowledges it on its next connect).
 */
export type Mail = string[] & {
  /**
   * The batch number, for a session with acknowledged delivery; absent otherwise. A take
   * that finds nothing (an empty `endConnect` with `take`) carries the latest number handed
   * out, 0 before any: every connect reply is numbered, and acknowledging that number drops
   * nothing taken later.
   */
  batch?: number;
};

/** Why a session went away. */
export type SessionRemovedReason = 'disconnect' | 'timeout' | 'server';

/** What the core learns when a `/meta/connect` arrives. */
export interface ConnectResult {
  /** This is the first connect since the handshake. */
  readonly first: boolean;
  /** Messages taken from the queue (to send now), or null when none were queued. */
  readonly messages: Mail | null;
  /** The engine recorded the connection as held here: later mail will wake this process. */
  readonly held: boolean;
  /**
   * With acknowledged delivery and no `messages`: the latest batch number handed out (0
   * before any), for the reply to carry when it carries no mail. Later mail goes out under
   * higher numbers, so acknowledging this one loses nothing. Absent otherwise.
   */
  readonly batch?: number;
}

/** The connect results that carry no mail, shared so no engine allocates one per connect. */
export const NO_MAIL = Object.freeze({
  /** The first connect after the handshake (never held). */
  first: Object.freeze({ first: true, messages: null, held: false }) as ConnectResult,
  /** Recorded as held here. */
  held: Object.freeze({ first: false, messages: null, held: true }) as ConnectResult,
  /** Not held (asked not to be), nothing queued. */
  again: Object.freeze({ first: false, messages: null, held: false }) as ConnectResult,
});

/** Outcome of a subscribe call. */
export type SubscribeResult = 'ok' | 'unknown-session' | 'limit';

/**
 * A change of shared state, reported to every process (for presence across processes):
 * a session added (handshake) or removed (disconnect, expiry, server), a subscription added
 * or removed. A removed session's subscriptions end with it, without `unsubscribed` events.
 */
export type ClusterEvent =
  | {
      /** A session was created (handshake). */
      readonly type: 'sessionAdded';
      /** The session's id. */
      readonly clientId: string;
    }
  | {
      /** A session was removed; its subscriptions went with it. */
      readonly type: 'sessionRemoved';
      /** The session's id. */
      readonly clientId: string;
      /** Why it was removed. */
      readonly reason: SessionRemovedReason;
    }
  | {
      /** A session subscribed to a channel. */
      readonly type: 'subscribed';
      /** The session's id. */
      readonly clientId: string;
      /** The channel (or pattern) subscribed to. */
      readonly channel: string;
    }
  | {
      /** A session unsubscribed from a channel. */
      readonly type: 'unsubscribed';
      /** The session's id. */
      readonly clientId: string;
      /** The channel (or pattern) unsubscribed from. */
      readonly channel: string;
    };

/** Whether an engine's store answers (`up`) or cannot be reached (`down`). */
export type EngineHealth = 'up' | 'down';

/** Callbacks from the engine into the process that opened it. */
export interface EngineListener {
  /** Mail was queued for a session whose connection this process holds. */
  wake(clientId: string): void;
  /** A session was removed (expired, or removed by another process). */
  sessionRemoved(clientId: string, reason: SessionRemovedReason): void;
  /** The oldest messages of a session's queue were dropped because it reached `maxQueue`. */
  queueOverflow(clientId: string, dropped: number): void;
  /**
   * A cluster event, from any process (optional). The memory engine reports its own; the
   * Redis engine reports every process's when opened with `clusterEvents`.
   */
  clusterEvent?(event: ClusterEvent): void;
  /**
   * The engine's store became unreachable (`down`, with what caused it: preferably an
   * {@link EngineUnavailableError}) or answers again (`up`). Optional, for engines whose store
   * can go away (the Redis engine). Call it on transitions only, once when an outage begins
   * and once when it ends, never once per failing call: the server turns each `down` into one
   * `error` event and treats the `EngineUnavailableError`s of the calls that fail meanwhile as
   * part of that outage. It may be called during `open` (the store is unreachable from the
   * start). An engine that never calls it counts as up once `open` has resolved; the
   * in-memory engine is always up.
   */
  health?(status: EngineHealth, cause?: unknown): void;
}

/** Settings the server hands to the engine when it opens it. */
export interface EngineConfig {
  /** Most messages queued per session. */
  readonly maxQueue: number;
  /** How often to sweep expired sessions, in ms. */
  readonly sweepInterval: number;
}

/** State behind a Bayeux server. Implement this to plug in another store. */
export interface Engine {
  /** Starts the engine; the server calls it once. */
  open(listener: EngineListener, config: EngineConfig): Awaitable<void>;
  /** Stops timers and connections. */
  close(): Awaitable<void>;

  /** Records a new session that expires in `expiresInMs` unless a connect arrives. */
  createSession(clientId: string, expiresInMs: number): Awaitable<void>;
  /** Removes a session with its subscriptions and queue; false when it did not exist. */
  destroySession(clientId: string, reason: SessionRemovedReason): Awaitable<boolean>;
  /** True when the session exists. */
  hasSession(clientId: string): Awaitable<boolean>;
  /** Number of live sessions (for this engine as a whole). */
  sessionCount(): Awaitable<number>;

  /**
   * A `/meta/connect` arrived: cancel expiry, and either take the queue or, when `hold` is
   * set, this is not the first connect and nothing is queued (nor, with acknowledged
   * delivery, left unacknowledged), record the connection as held by this process. Null
   * when the session is unknown.
   */
  beginConnect(clientId: string, hold: boolean): Awaitable<ConnectResult | null>;
  /**
   * A connect is over: clear the held mark and start the expiry clock. With `take`, the
   * queue is taken and returned (the reply carries it; with acknowledged delivery it is
   * numbered even when empty, see {@link Mail}); without, mail stays queued for the next
   * connect (the client went away). Null when the session is unknown.
   */
  endConnect(clientId: string, expiresInMs: number, take: boolean): Awaitable<Mail | null>;
  /**
   * Takes whatever is queued, for a held connect (`piggyback` false) or to ride on another
   * response (`piggyback` true; a session with acknowledged delivery then gets nothing: its
   * mail goes only with connect replies, where batches are numbered).
   */
  takeQueued(clientId: string, piggyback?: boolean): Awaitable<Mail | null>;
  /**
   * Optional, for engines where each call is a round trip: takes the mail for a held
   * connect that is about to be answered with it and, when there was any, ends the hold in
   * the same step, as `endConnect(clientId, expiresInMs, false)` would. Nothing queued:
   * null, and the hold goes on untouched. Without it the core calls `takeQueued` and then
   * `endConnect`.
   */
  takeAndEnd?(clientId: string, expiresInMs: number): Awaitable<Mail | null>;
  /**
   * Puts messages back at the front of the queue (their connection closed before the
   * write). A session with acknowledged delivery still holds them unacknowledged: no-op.
   */
  requeue(clientId: string, payloads: string[]): Awaitable<void>;

  /**
   * Acknowledged delivery (used by the `ack` extension): from now on, mail taken for a
   * connect stays stored under a batch number until the client acknowledges that batch,
   * and every take returns the unacknowledged mail first, so a response lost on the way is
   * sent again. False when the session is unknown. Optional: engines without it cannot
   * offer the extension.
   */
  enableAcknowledgement?(clientId: string): Awaitable<boolean>;
  /** The client has every batch up to `batch`: forget them. Returns how many messages stay unacknowledged. */
  acknowledge?(clientId: string, batch: number): Awaitable<number>;

  /** Adds subscriptions (already validated, never `/meta` or `/service`). */
  subscribe(clientId: string, channels: readonly string[], max: number): Awaitable<SubscribeResult>;
  /** Removes subscriptions; false when the session is unknown. */
  unsubscribe(clientId: string, channels: readonly string[]): Awaitable<boolean>;
  /** The session's subscriptions, or null when unknown. */
  subscriptions(clientId: string): Awaitable<string[] | null>;

  /**
   * Queues `payload` once for every session subscribed to `channel` (exactly or through
   * a wildcard), except `exclude`. Returns the number of sessions it was queued for.
   */
  publish(channel: string, payload: string, exclude?: string): Awaitable<number>;
  /** Queues `payload` for one session; false when the session is unknown. */
  deliver(clientId: string, payload: string): Awaitable<boolean>;
}

/** True when `v` is a promise (or thenable), so hot paths can skip `await` on plain values. */
export function isPromise<T>(v: Awaitable<T>): v is Promise<T> {
  return typeof (v as Promise<T> | null)?.then === 'function';
}

/**
 * Thrown (rejected) by an engine whose store cannot be reached (e.g. Redis is down). The
 * core answers the message with `503::engine_unavailable` and advice to retry after
 * `retryMs`, instead of a generic internal error. An engine that can tell should also
 * report the outage itself ({@link EngineListener.health}), once.
 */
export class EngineUnavailableError extends Error {
  /** Stable code (see docs/errors.md). */
  readonly code = 'ERR_BAYEUX_ENGINE_UNAVAILABLE';
  constructor(
    message: string,
    /** How long clients should wait before retrying, in ms. */
    readonly retryMs = 1000,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EngineUnavailableError';
  }
}
