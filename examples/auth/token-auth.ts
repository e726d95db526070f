/**
 * Token authentication for a Bayeux server, written against the public API only.
 *
 * The client puts a token in the `ext` of its handshake (`{ ext: { auth: { token } } }`).
 * - `policy.canHandshake` checks it; a bad or missing token refuses the handshake, and the
 *   server's `deniedHandshakeAdvice` (default `reconnect: 'none'`) stops the client.
 * - The extension's `outgoing` hook sees the successful handshake reply, which carries the
 *   new session: it remembers which user the session belongs to and tells the client
 *   (`ext.auth.user` on the reply).
 * - Its `incoming` hook stamps every message a session publishes with the user name in
 *   `ext.auth.user`, replacing whatever the client put there, so receivers can trust it.
 *
 * Nothing is shared between requests: the user found by `canHandshake` travels from the
 * policy to the reply on the handshake message itself (a WeakMap keyed by that object).
 */
import type { BayeuxServer, Extension, Message, RequestContext, SecurityPolicy } from '../../index.js';

/** Options for {@link tokenAuth}. */
export interface TokenAuthOptions {
  /** Resolves the user a token belongs to, or null when the token is not valid. */
  verify(token: string, request: RequestContext): string | null | Promise<string | null>;
}

/** What {@link tokenAuth} returns: pass `policy` to the server, then call `install`. */
export interface TokenAuth {
  /** The security policy: `new BayeuxServer({ policy: auth.policy })`. */
  readonly policy: SecurityPolicy;
  /** The extension (added by `install`). */
  readonly extension: Extension;
  /** Adds the extension and forgets users when their session ends. */
  install(server: BayeuxServer): void;
  /** The user a session authenticated as. */
  userOf(sessionId: string): string | undefined;
}

/** The token a handshake carries in `ext.auth.token`, if any. */
function tokenOf(message: Message): string | null {
  const auth = message.ext?.auth as { token?: unknown } | undefined;
  return typeof auth?.token === 'string' && auth.token.length > 0 ? auth.token : null;
}

export function tokenAuth(options: TokenAuthOptions): TokenAuth {
  // Handshake message -> user, from the policy check to the reply that names the session.
  const pending = new WeakMap<Message, string>();
  const users = new Map<string, string>();

  const policy: SecurityPolicy = {
    async canHandshake(message, context) {
      const token = tokenOf(message);
      if (token === null) return false;
      const user = await options.verify(token, context.request);
      if (user === null) return false;
      pending.set(message, user);
      return true;
    },
  };

  const extension: Extension = {
    incoming(message, context) {
      // Handshakes have no session yet; meta messages carry no user data.
      if (context.session === null || message.channel.startsWith('/meta/')) return;
      const user = users.get(context.session.id);
      if (user === undefined) return;
      message.ext = { ...(message.ext ?? {}), auth: { user } };
    },
    outgoing(message, context) {
      if (message.channel !== '/meta/handshake' || !('successful' in message) || !message.successful) return;
      const user = context.inReplyTo ? pending.get(context.inReplyTo) : undefined;
      if (user === undefined || context.session === null) return;
      users.set(context.session.id, user);
      message.ext = { ...(message.ext ?? {}), auth: { user } };
    },
  };

  return {
    policy,
    extension,
    install(server) {
      server.addExtension(extension);
      server.on('sessionRemoved', (clientId) => users.delete(clientId));
    },
    userOf: (sessionId) => users.get(sessionId),
  };
}
