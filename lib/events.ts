/**
 * The events a `BayeuxServer` emits, as one typed map (eventemitter3's form).
 */
import type { SessionRemovedReason } from './engines/engine.js';
import type { Message } from './message.js';
import type { ServerSession } from './server-session.js';

/** Events a {@link BayeuxServer} emits. */
export interface BayeuxServerEvents {
  /** A client completed a handshake. */
  handshake: (session: ServerSession, message: Message) => void;
  /** A session subscribed to a channel (one event per channel). */
  subscribe: (session: ServerSession, channel: string) => void;
  /** A session unsubscribed from a channel. */
  unsubscribe: (session: ServerSession, channel: string) => void;
  /** A message was published to a broadcast channel; `session` is null for app-code publishes. */
  publish: (session: ServerSession | null, channel: string, data: unknown) => void;
  /** A client sent `/meta/disconnect`. */
  disconnect: (session: ServerSession) => void;
  /** A session is gone: disconnected, expired, or removed by the server. */
  sessionRemoved: (clientId: string, reason: SessionRemovedReason) => void;
  /** A session's queue reached `maxQueue`; its oldest `dropped` messages were discarded. */
  queueOverflow: (clientId: string, dropped: number) => void;
  /**
   * Something failed where no client could be told (an engine call, a listener). An engine
   * outage is one `error` (with the `engineDown` cause), not one per call that fails during it.
   */
  error: (err: unknown) => void;
  /**
   * The engine's store cannot be reached any more (the Redis engine: Redis down, or a
   * failover under way), once per outage, with its cause (usually an `EngineUnavailableError`).
   * Until `engineUp`, clients get `503::engine_unavailable` and `publish` rejects; calls
   * failing meanwhile go to the `bayeux:server` debug log only. See `engineStatus`.
   */
  engineDown: (cause: unknown) => void;
  /** The engine's store answers again after an outage (once per outage, after its `engineDown`). */
  engineUp: () => void;
  /**
   * The server is closing (`close()`): held connects are answered; transports that keep
   * connections open (WebSocket) end them now. The last event the server emits.
   */
  close: () => void;
  /**
   * Cluster events: a session was added in any process of the cluster (this one included).
   * The memory engine always reports them; the Redis engine when created with
   * `clusterEvents: true` (in every process). For presence across processes.
   */
  clusterSessionAdded: (clientId: string) => void;
  /** Cluster event: a session was removed in any process (once per removal, expiry included). */
  clusterSessionRemoved: (clientId: string, reason: SessionRemovedReason) => void;
  /** Cluster event: a session of any process subscribed to a channel (once per new subscription). */
  clusterSubscribe: (clientId: string, channel: string) => void;
  /** Cluster event: a session of any process unsubscribed from a channel (not sent when the session is removed). */
  clusterUnsubscribe: (clientId: string, channel: string) => void;
}
