/**
 * The Bayeux error catalogue. Every protocol failure the server reports is built here,
 * by a named factory, as a value: `{ code, error, advice? }`. Strings follow CometD's
 * `code:args:message` style, which is what CometD users see in their logs; clients act on
 * the advice, not the code.
 */
import type { Advice } from './message.js';

/** A protocol error, ready to be put on an unsuccessful reply. */
export interface BayeuxError {
  /** The three-digit Bayeux code. */
  readonly code: number;
  /** The wire string, `code:args:message`. */
  readonly error: string;
  /** Advice sent with the error, when the client must change course. */
  readonly advice?: Advice;
}

function make(code: number, args: string, message: string, advice?: Advice): BayeuxError {
  const error = `${code}:${args}:${message}`;
  return advice ? { code, error, advice } : { code, error };
}

/** Advice that sends a client back to handshake. */
export const HANDSHAKE_ADVICE: Advice = Object.freeze({ reconnect: 'handshake', interval: 0 });
/** Advice that tells a client to stop. */
export const NONE_ADVICE: Advice = Object.freeze({ reconnect: 'none', interval: 0 });

/** Named factories for every error the server sends. */
export const Errors = {
  /** 300: handshake `version` with a major version other than 1. */
  versionUnsupported: (version: string) => make(300, version, 'version_unsupported', NONE_ADVICE),
  /** 301: none of the client's connection types is enabled here. */
  connectionTypesUnsupported: (types: string) => make(301, types, 'connection_types_unsupported', NONE_ADVICE),
  /** 301: `/meta/connect` with a connection type that is not enabled. */
  connectionTypeUnsupported: (type: string) => make(301, type, 'connection_type_unsupported'),
  /** 400: a message without `data` published. */
  dataMissing: () => make(400, '', 'data_missing'),
  /** 401: a message that needs a session carried no `clientId`. */
  clientIdMissing: () => make(401, '', 'client_id_missing', HANDSHAKE_ADVICE),
  /** 402: unknown, expired or disconnected session. */
  sessionUnknown: () => make(402, '', 'session_unknown', HANDSHAKE_ADVICE),
  /** 403: a handshake refused by the security policy. */
  handshakeDenied: (advice: Advice = NONE_ADVICE) => make(403, '', 'handshake_denied', advice),
  /** 403: subscribing to a channel clients may not subscribe to (meta). */
  subscribeDenied: (channel: string) => make(403, channel, 'subscribe_denied'),
  /** 403: publishing to a channel clients may not publish to (meta). */
  publishDenied: (channel: string) => make(403, channel, 'publish_denied'),
  /** 403: a `/meta/` channel that is not one of the protocol's five. */
  metaChannelUnknown: (channel: string) => make(403, channel, 'channel_create_denied'),
  /** 403: the security policy or an authorizer refused (`reason` says which). */
  denied: (operation: 'create' | 'subscribe' | 'publish', reason: string) => make(403, reason, `${operation}_denied`),
  /** 403: `subscription` field missing. */
  subscriptionMissing: () => make(403, '', 'subscription_missing'),
  /** 403: `subscription` neither a string nor an array of strings. */
  subscriptionInvalid: () => make(403, '', 'subscription_invalid'),
  /** 403: the session already has `maxSubscriptionsPerSession` subscriptions. */
  tooManySubscriptions: (limit: number) => make(403, String(limit), 'too_many_subscriptions'),
  /** 404: an extension or channel listener deleted the message. */
  messageDeleted: () => make(404, '', 'message_deleted'),
  /** 405: a channel name outside the grammar. */
  channelInvalid: (channel: string) => make(405, channel, 'channel_invalid'),
  /** 405: publishing to a wildcard channel. */
  wildcardPublish: (channel: string) => make(405, channel, 'wildcard_publish_denied'),
  /** 405: a field of the wrong type. */
  fieldInvalid: (what: string) => make(405, '', what),
  /** 413: one message larger than `maxMessageBytes`. */
  messageTooLarge: (limit: number) => make(413, String(limit), 'message_too_large'),
  /**
   * 429: a handshake from an address that already has `maxSessionsPerAddress` sessions in
   * this process; the client handshakes again after `retryMs`.
   */
  tooManySessionsFromAddress: (limit: number, retryMs: number) =>
    make(429, String(limit), 'too_many_sessions_from_address', { reconnect: 'handshake', interval: retryMs }),
  /**
   * 429: a handshake from an address that made `maxHandshakesPerSecondPerAddress` already
   * this second; the client handshakes again after `retryMs` (when the second is over).
   */
  tooManyHandshakes: (limit: number, retryMs: number) =>
    make(429, String(limit), 'too_many_handshakes', { reconnect: 'handshake', interval: retryMs }),
  /**
   * An error given as its wire string (an extension that set `message.error`, a refused
   * reply seen by an in-process client); the code is read from it, `fallbackCode` if none.
   */
  fromString: (error: string, fallbackCode = 400): BayeuxError => ({ code: Number.parseInt(error, 10) || fallbackCode, error }),
  /** 500: an in-process request got no reply at all. */
  noReply: () => make(500, '', 'no_reply'),
  /** 500: a server-side listener or engine call threw; the cause is logged, not sent. */
  internal: () => make(500, '', 'internal_error'),
  /** 503: the engine is unreachable; the client should retry later. */
  unavailable: (retryMs: number) => make(503, '', 'engine_unavailable', { reconnect: 'retry', interval: retryMs }),
  /**
   * 503: a handshake refused because this process has `maxSessions` sessions; the client
   * handshakes again after `retryMs`.
   */
  tooManySessions: (limit: number, retryMs: number) =>
    make(503, String(limit), 'too_many_sessions', { reconnect: 'handshake', interval: retryMs }),
  /**
   * 503: a handshake refused because this process is draining (`BayeuxServer.drain`, a
   * rolling deploy): the client handshakes again after `retryMs`, through the load balancer,
   * with another process.
   */
  serverDraining: (retryMs: number) => make(503, '', 'server_draining', { reconnect: 'handshake', interval: retryMs }),
} as const;

/** A thrown error that carries a Bayeux error, so a listener can refuse with a code. */
export class BayeuxErrorException extends Error {
  /** Stable code (see docs/errors.md); the Bayeux error itself is on `bayeux`. */
  readonly code = 'ERR_BAYEUX_MESSAGE_REFUSED';
  constructor(
    /** The error the refused message is answered with. */
    readonly bayeux: BayeuxError,
  ) {
    super(bayeux.error);
    this.name = 'BayeuxErrorException';
  }
}
