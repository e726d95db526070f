/**
 * Errors thrown at callers — a wrong option, a wrong argument, an engine that cannot be
 * reached — carry a stable `code` (as Node's `ERR_*` and fastify's `FST_ERR_*` do): match
 * on `err.code`, never on the message, which may be reworded. Protocol errors sent to
 * clients are another thing: see `Errors` in errors.ts. The codes are listed in
 * docs/errors.md.
 */

/** Every code an error thrown by bayeux-server may carry. */
export const ERROR_CODES = {
  /** An option (of the server, the handler, a transport, an engine) is missing a rule: the message names it. */
  ERR_BAYEUX_INVALID_OPTION: 'an option is invalid',
  /** A channel name outside the Bayeux grammar, or not one that can be published to. */
  ERR_BAYEUX_INVALID_CHANNEL: 'a channel name is invalid for this call',
  /** Some other argument is invalid (e.g. `publish` without data). */
  ERR_BAYEUX_INVALID_ARGUMENT: 'an argument is invalid',
  /** The engine's store cannot be reached (e.g. Redis is down); retry later. */
  ERR_BAYEUX_ENGINE_UNAVAILABLE: 'the engine is unavailable',
  /** The server refused a message of an in-process client (the Bayeux error is on `bayeux`). */
  ERR_BAYEUX_MESSAGE_REFUSED: 'the server refused the message',
  /** An in-process request could not be processed at all (e.g. the server is closed). */
  ERR_BAYEUX_REQUEST_FAILED: 'the request failed',
} as const;

/** A code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable {@link ErrorCode}. */
export interface CodedError extends Error {
  /** Which error this is: test it rather than the message text, which may change. */
  readonly code: ErrorCode;
}

/** A `TypeError` (wrong option or argument) with its code; the message gets the package prefix. */
export function codedTypeError(code: ErrorCode, message: string): TypeError & CodedError {
  return Object.assign(new TypeError(`bayeux-server: ${message}`), { code });
}

/** An `Error` with its code; the message gets the package prefix. */
export function codedError(code: ErrorCode, message: string, options?: { cause?: unknown }): Error & CodedError {
  return Object.assign(new Error(`bayeux-server: ${message}`, options), { code });
}
