/**
 * A handle on one session for app code. Cheap to create; holds only the id, so it stays
 * valid across processes (the state is in the engine).
 */
import { ExtensionList, type Extension } from './extension.js';
import type { Delivery } from './message.js';
import type { BayeuxServer } from './server.js';

/** Extra fields for {@link ServerSession.deliver}. */
export interface DeliverFields {
  /** Message id; set it to the request's id to answer a CometD `remoteCall`. */
  id?: string;
  /** `ext` object of the delivered message. */
  ext?: Record<string, unknown>;
  /** For remote-call answers: whether the call succeeded. */
  successful?: boolean;
}

/** A client session, as seen by server code. */
export class ServerSession {
  /** @internal */
  constructor(
    private readonly server: BayeuxServer,
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
    const payload = await this.server.outgoingDelivery(msg, this);
    if (payload === null) return (await this.server.engine.hasSession(this.id)) === true;
    return this.server.engine.deliver(this.id, payload);
  }

  /**
   * Turns on acknowledged delivery for this session (see `Engine.enableAcknowledgement`):
   * mail then goes only with connect replies, numbered in batches, and is kept until the
   * client acknowledges it. Resolves false if the session is gone or the engine cannot.
   */
  async enableAcknowledgement(): Promise<boolean> {
    const engine = this.server.engine;
    if (!engine.enableAcknowledgement) return false;
    return engine.enableAcknowledgement(this.id);
  }

  /** The client has every batch up to `batch`; resolves to how many messages stay unacknowledged. */
  async acknowledge(batch: number): Promise<number> {
    const engine = this.server.engine;
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
    let list = this.server.sessionExtensions.get(this.id);
    if (!list) this.server.sessionExtensions.set(this.id, (list = new ExtensionList()));
    list.add(extension);
  }

  /** Removes a per-session extension; false if it was not there. */
  removeExtension(extension: Extension): boolean {
    const list = this.server.sessionExtensions.get(this.id);
    if (!list) return false;
    const removed = list.remove(extension);
    if (list.size === 0) this.server.sessionExtensions.delete(this.id);
    return removed;
  }

  /** Whether the session still exists. */
  async exists(): Promise<boolean> {
    return this.server.engine.hasSession(this.id);
  }

  /** The session's broadcast subscriptions (empty when it has none), or null if gone. */
  async subscriptions(): Promise<string[] | null> {
    return this.server.engine.subscriptions(this.id);
  }

  /**
   * Ends the session from the server: a held connect is answered with a
   * `/meta/disconnect` and advice `none`. Resolves false if it was already gone.
   */
  async disconnect(): Promise<boolean> {
    const existed = await this.server.engine.destroySession(this.id, 'server');
    if (existed) this.server.sessionGone(this.id, 'server', DISCONNECT_NOTICE);
    return existed;
  }
}

const DISCONNECT_NOTICE = JSON.stringify({ channel: '/meta/disconnect', successful: true });
