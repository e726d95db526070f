/**
 * A handle on one session for app code, and the extension hooks that see sessions.
 *
 * The two are declared together because each refers to the other: a session takes
 * extensions of its own, and every hook is told which session a message concerns (as in
 * CometD, where `ServerSession.Extension` is declared inside `ServerSession`).
 *
 * A handle is cheap to create and holds only the id, so it stays valid across processes
 * (the state is in the engine).
 */
import type { Awaitable, Engine, SessionRemovedReason } from './engines/engine.js';
import type { RequestContext } from './exchange.js';
import type { Delivery, Message, Reply } from './message.js';

/** A message on its way to a client: a reply, or a delivery. */
export type OutgoingMessage = Reply | Delivery;

/** What an extension hook knows about the message it is given. */
export interface ExtensionContext {
  /**
   * Incoming: the sending session (null for a message without `clientId`, e.g. a
   * handshake). Hooks run before the server checks the session exists: for an unknown or
   * expired `clientId` this is a handle whose `exists()` resolves false, and the message
   * is then refused with `402::session_unknown`.
   * Outgoing reply: the session being answered (for a successful handshake, the new one).
   * Outgoing broadcast: the publisher (null when app code publishes); a broadcast passes
   * server-wide hooks once, for all receivers. Outgoing direct delivery or per-session
   * hook: the receiving session.
   */
  readonly session: ServerSession | null;
  /** The request the message came with, or that a reply answers; null for deliveries. */
  readonly request: RequestContext | null;
  /** Outgoing replies only: the incoming message being answered (after incoming hooks). */
  readonly inReplyTo?: Message;
  /**
   * `/meta/connect` replies of a session with acknowledged delivery: the number of the
   * batch of messages that travel in the same response (what the `ack` extension reports).
   */
  readonly batch?: number;
}

/**
 * A server-side extension. Both hooks are optional and may be async. Incoming hooks run in
 * registration order, outgoing hooks in reverse (as in CometD), so a pair of extensions
 * nests like middleware. An extension that needs the server closes over it.
 *
 * `incoming` may change the message in place or return a replacement; return `null` to
 * delete it (the sender gets `404::message_deleted`), set `message.error` to a Bayeux error
 * string to refuse it with that error, or throw a `BayeuxErrorException`.
 *
 * `outgoing` may change the message or return a replacement; `null` drops it.
 */
export interface Extension {
  /**
   * Called for each message a client (or a `LocalClient`) sends, before the server handles it.
   * Return nothing to keep the (possibly changed) message, a message to replace it, or
   * `null` to delete it.
   */
  incoming?(message: Message, context: ExtensionContext): Awaitable<Message | null | undefined | void>;
  /**
   * Called for each reply and each delivery before it is written (server-wide hooks see a
   * broadcast once, for all its receivers). Return nothing to keep the (possibly changed)
   * message, a message to replace it, or `null` to drop it.
   */
  outgoing?(message: OutgoingMessage, context: ExtensionContext): Awaitable<OutgoingMessage | null | undefined | void>;
}

/** Extra fields for {@link ServerSession.deliver}. */
export interface DeliverFields {
  /** Message id; set it to the request's id to answer a CometD `remoteCall`. */
  id?: string;
  /** `ext` object of the delivered message. */
  ext?: Record<string, unknown>;
  /** For remote-call answers: whether the call succeeded. */
  successful?: boolean;
}

/** @internal What a session handle needs from the server. */
export interface SessionHost {
  readonly engine: Engine;
  /** Serializes a delivery after the server-wide outgoing hooks; null when one dropped it. */
  outgoingDelivery(delivery: Delivery, session: ServerSession | null): Promise<string | null>;
  addSessionExtension(clientId: string, extension: Extension): void;
  removeSessionExtension(clientId: string, extension: Extension): boolean;
  /** A session ended: answer a connect it held here (with `notice` first), tell listeners. */
  sessionGone(clientId: string, reason: SessionRemovedReason, notice?: string): void;
}

/** A client session, as seen by server code. Get one with `server.session(clientId)`. */
export class ServerSession {
  /** @internal */
  constructor(
    private readonly host: SessionHost,
    /** The session's client id. */
    readonly id: string,
  ) {}

  /**
   * Sends a message to this session only, bypassing subscriptions (direct replies on
   * service channels, private messages). Resolves false if the session is gone.
   */
  async deliver(channel: string, data: unknown, fields: DeliverFields = {}): Promise<boolean> {
    const msg: Delivery = { channel, data: data === undefined ? null : data };
    if (fields.id !== undefined) msg.id = fields.id;
    if (fields.ext !== undefined) msg.ext = fields.ext;
    if (fields.successful !== undefined) msg.successful = fields.successful;
    const payload = await this.host.outgoingDelivery(msg, this);
    if (payload === null) return (await this.host.engine.hasSession(this.id)) === true;
    return this.host.engine.deliver(this.id, payload);
  }

  /**
   * Turns on acknowledged delivery for this session (see `Engine.enableAcknowledgement`):
   * mail then goes only with connect replies, numbered in batches, and is kept until the
   * client acknowledges it. Resolves false if the session is gone or the engine cannot.
   */
  async enableAcknowledgement(): Promise<boolean> {
    const engine = this.host.engine;
    if (!engine.enableAcknowledgement) return false;
    return engine.enableAcknowledgement(this.id);
  }

  /** The client has every batch up to `batch`; resolves to how many messages stay unacknowledged. */
  async acknowledge(batch: number): Promise<number> {
    const engine = this.host.engine;
    if (!engine.acknowledge) return 0;
    return engine.acknowledge(this.id, batch);
  }

  /**
   * Adds an extension for this session only: its `incoming` hook sees the session's
   * messages after the server-wide hooks; its `outgoing` hook sees the session's replies
   * before the server-wide hooks, and every delivery to the session as it is written —
   * after the server-wide hooks, which ran once when the message was published. Per-session
   * extensions live in this process (add them from a `handshake` listener); they go when
   * the session does.
   */
  addExtension(extension: Extension): void {
    this.host.addSessionExtension(this.id, extension);
  }

  /** Removes a per-session extension; false if it was not there. */
  removeExtension(extension: Extension): boolean {
    return this.host.removeSessionExtension(this.id, extension);
  }

  /** Whether the session still exists. */
  async exists(): Promise<boolean> {
    return this.host.engine.hasSession(this.id);
  }

  /** The session's broadcast subscriptions (empty when it has none), or null if gone. */
  async subscriptions(): Promise<string[] | null> {
    return this.host.engine.subscriptions(this.id);
  }

  /**
   * Ends the session from the server: a held connect is answered with a
   * `/meta/disconnect` and advice `none`. Resolves false if it was already gone.
   */
  async disconnect(): Promise<boolean> {
    const existed = await this.host.engine.destroySession(this.id, 'server');
    if (existed) this.host.sessionGone(this.id, 'server', DISCONNECT_NOTICE);
    return existed;
  }
}

const DISCONNECT_NOTICE = JSON.stringify({ channel: '/meta/disconnect', successful: true });
