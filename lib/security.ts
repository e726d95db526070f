/**
 * Authorization: one server-wide {@link SecurityPolicy} and per-channel authorizers.
 *
 * For a subscribe or publish on channel C the server asks, in order: the policy's
 * `canCreate` (only when app code has not declared C with `server.channel(C)`), then
 * `canSubscribe` / `canPublish`, then the authorizers registered on C and on every
 * wildcard above it. Authorizers combine as in CometD: none registered grants; any deny
 * denies; otherwise at least one grant is needed (only "ignore" answers deny, reason
 * `denied_by_not_granting`). Meta channels never reach this code.
 */
import { expandChannel } from './channel-name.js';
import type { Awaitable } from './engines/engine.js';
import { Errors, type BayeuxError } from './errors.js';
import type { RequestContext } from './exchange.js';
import type { Message } from './message.js';
import type { ServerSession } from './server-session.js';

/** What a policy method knows besides the message. A policy that needs the server closes over it. */
export interface PolicyContext {
  /** The request the message came with. */
  readonly request: RequestContext;
}

/**
 * Server-wide authorization. Every method is optional (missing = allow) and may be async.
 * Returning false refuses; the client gets a `403` error.
 */
export interface SecurityPolicy {
  /** May this client handshake? (e.g. check a token in `message.ext`). */
  canHandshake?(message: Message, context: PolicyContext): Awaitable<boolean>;
  /** May this session bring a channel app code has not declared into use? */
  canCreate?(session: ServerSession, channel: string, message: Message, context: PolicyContext): Awaitable<boolean>;
  /** May this session subscribe to the channel (a name or a wildcard pattern)? */
  canSubscribe?(session: ServerSession, channel: string, message: Message, context: PolicyContext): Awaitable<boolean>;
  /** May this session publish to the channel? */
  canPublish?(session: ServerSession, channel: string, message: Message, context: PolicyContext): Awaitable<boolean>;
}

/** What an authorizer is asked about. */
export type Operation = 'create' | 'subscribe' | 'publish';

/** An authorizer's answer: grant, deny (optionally with a reason), or no opinion. */
export type AuthorizerResult =
  | 'grant'
  | 'ignore'
  | 'deny'
  | {
      /** The reason, sent as the argument of the error (`403:<reason>:<operation>_denied`) instead of `denied_by_authorizer`. */
      deny: string;
    };

/** A per-channel rule, added with `server.channel(pattern).addAuthorizer(...)`. */
export type Authorizer = (
  operation: Operation,
  channel: string,
  session: ServerSession,
  message: Message,
) => Awaitable<AuthorizerResult>;

const POLICY = 'denied_by_security_policy';

/** @internal What authorization needs from the server. */
export interface AuthorizationHost {
  readonly policy: SecurityPolicy | undefined;
  /** Declared channels; only their authorizers are read here. */
  readonly channels: ReadonlyMap<string, { readonly authorizers: readonly Authorizer[] }>;
  readonly hasAuthorizers: boolean;
  session(clientId: string): ServerSession;
}

/**
 * @internal Checks a subscribe or publish of `channel` by `clientId`; the error to refuse it with,
 * or null when it is allowed.
 */
export async function authorize(
  server: AuthorizationHost,
  operation: 'subscribe' | 'publish',
  channel: string,
  clientId: string,
  message: Message,
  request: RequestContext,
): Promise<BayeuxError | null> {
  const policy = server.policy;
  const declared = server.channels.has(channel);
  if (!policy && !server.hasAuthorizers) return null;
  const session = server.session(clientId);
  if (policy) {
    const context: PolicyContext = { request };
    if (!declared && policy.canCreate && !(await policy.canCreate(session, channel, message, context))) {
      return Errors.denied('create', POLICY);
    }
    const can = operation === 'subscribe' ? policy.canSubscribe : policy.canPublish;
    if (can && !(await can.call(policy, session, channel, message, context))) return Errors.denied(operation, POLICY);
  }
  if (!server.hasAuthorizers) return null;
  if (!declared) {
    const verdict = await runAuthorizers(server, 'create', channel, session, message);
    if (verdict !== null) return Errors.denied('create', verdict);
  }
  const verdict = await runAuthorizers(server, operation, channel, session, message);
  return verdict === null ? null : Errors.denied(operation, verdict);
}

/** Null when granted, else the reason for the denial. */
async function runAuthorizers(
  server: AuthorizationHost,
  operation: Operation,
  channel: string,
  session: ServerSession,
  message: Message,
): Promise<string | null> {
  let any = false;
  let granted = false;
  // A wildcard pattern is its own parent `*` key: look each key up once.
  const keys = channel.endsWith('*') ? new Set(expandChannel(channel)) : expandChannel(channel);
  for (const key of keys) {
    const ch = server.channels.get(key);
    if (!ch) continue;
    for (const authorizer of ch.authorizers) {
      any = true;
      const r = await authorizer(operation, channel, session, message);
      if (r === 'grant') granted = true;
      else if (r === 'deny') return 'denied_by_authorizer';
      else if (typeof r === 'object' && r !== null) return r.deny;
    }
  }
  return !any || granted ? null : 'denied_by_not_granting';
}
