/**
 * Server-side channels: where app code publishes and listens. A listener on `/chat/*` or
 * `/chat/**` also hears messages published to the channels they match; wildcard listeners
 * run first (widest first), the exact channel's last, as in CometD.
 */
import { expandChannel, type ChannelInfo, type ChannelKind } from './channel-name.js';
import { EngineUnavailableError } from './engines/engine.js';
import { BayeuxErrorException, Errors, type BayeuxError } from './errors.js';
import type { RequestContext } from './exchange.js';
import type { Message } from './message.js';
import type { Authorizer } from './security.js';
import type { ServerSession } from './server-session.js';

/** Options for publishing from app code (`server.publish`, `channel.publish`). */
export interface PublishOptions {
  /** `ext` object put on the delivered message. */
  ext?: Record<string, unknown>;
  /** A session that should not receive this message (e.g. the sender). */
  exclude?: string;
}

/** @internal What a channel needs from the server. */
export interface ChannelHost {
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<number>;
  /** An authorizer was added (+1) or removed (-1) somewhere: the server counts them. */
  authorizersChanged(delta: 1 | -1): void;
}

/** @internal What running channel listeners needs from the server. */
export interface ListenerHost {
  readonly channels: ReadonlyMap<string, ServerChannel>;
  session(clientId: string): ServerSession;
  reportError(err: unknown): void;
}

/**
 * Called for each message a client publishes to the channel (or a channel the pattern
 * matches). Return `false` to delete the message (the sender gets `404::message_deleted`),
 * or throw a {@link BayeuxErrorException} to refuse it with that error. A listener may change
 * `message.data` before it is broadcast. `context` is the request the message came with
 * (headers, remote address). On `/service/` channels this is how requests are answered:
 * `session.deliver(message.channel, answer, { id: message.id })`.
 */
export type MessageListener = (
  message: Message,
  session: ServerSession,
  context: RequestContext,
) => boolean | void | Promise<boolean | void>;

/** A channel as app code sees it. Get one with `server.channel(name)`. */
export class ServerChannel {
  /** @internal */ readonly listeners: MessageListener[] = [];
  /** @internal */ readonly authorizers: Authorizer[] = [];
  /**
   * Whether a publisher subscribed here gets its own messages back; undefined follows the
   * server option `broadcastToPublisher`. Applies to publishes on this exact channel.
   */
  broadcastToPublisher: boolean | undefined = undefined;

  /** @internal */
  constructor(
    private readonly host: ChannelHost,
    /** The channel name or pattern. */
    readonly name: string,
    private readonly info: ChannelInfo,
  ) {}

  /** `meta`, `service` or `broadcast`. */
  get kind(): ChannelKind {
    return this.info.kind;
  }

  /** True for `*` and `**` patterns. */
  get isWildcard(): boolean {
    return this.info.wildcard !== null;
  }

  /** Publishes to this (concrete, broadcast) channel from app code. */
  publish(data: unknown, options?: PublishOptions): Promise<number> {
    return this.host.publish(this.name, data, options);
  }

  /** Adds a listener for client publishes; returns a function that removes it. */
  onMessage(listener: MessageListener): () => void {
    this.listeners.push(listener);
    return () => this.removeListener(listener);
  }

  /** Removes a listener added with {@link onMessage}. */
  removeListener(listener: MessageListener): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  /**
   * Adds an authorizer for subscribes and publishes on this channel, or on the channels a
   * wildcard pattern matches. Returns a function that removes it. See `lib/security.ts`
   * for how several authorizers combine.
   */
  addAuthorizer(authorizer: Authorizer): () => void {
    this.authorizers.push(authorizer);
    this.host.authorizersChanged(1);
    return () => {
      const i = this.authorizers.indexOf(authorizer);
      if (i < 0) return;
      this.authorizers.splice(i, 1);
      this.host.authorizersChanged(-1);
    };
  }
}

/** @internal Runs the listeners matching the message's channel; an error to refuse it, or null. */
export async function runChannelListeners(
  server: ListenerHost,
  message: Message,
  clientId: string,
  context: RequestContext,
): Promise<BayeuxError | null> {
  const keys = expandChannel(message.channel);
  let session: ServerSession | undefined;
  for (let i = keys.length - 1; i >= 0; i--) {
    const ch = server.channels.get(keys[i]!);
    if (!ch || ch.listeners.length === 0) continue;
    session ??= server.session(clientId);
    for (const listener of ch.listeners.slice()) {
      try {
        if ((await listener(message, session, context)) === false) return Errors.messageDeleted();
      } catch (err) {
        if (err instanceof BayeuxErrorException) return err.bayeux;
        // The listener used the engine while its store is unreachable (e.g. `session.deliver`
        // while Redis is down): the client should retry, as for the server's own engine calls.
        if (err instanceof EngineUnavailableError) return Errors.unavailable(err.retryMs);
        server.reportError(err);
        return Errors.internal();
      }
    }
  }
  return null;
}
