/**
 * A handle on one session for app code. Cheap to create; holds only the id, so it stays
 * valid across processes (the state is in the engine).
 */
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
    const msg: Record<string, unknown> = { channel, data: data === undefined ? null : data };
    if (fields.id !== undefined) msg.id = fields.id;
    if (fields.ext !== undefined) msg.ext = fields.ext;
    if (fields.successful !== undefined) msg.successful = fields.successful;
    return this.server.engine.deliver(this.id, JSON.stringify(msg));
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
