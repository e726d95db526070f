/**
 * `Authorization: Bearer <token>` against a set of accepted tokens (several, so that a
 * token can be rotated: accept old and new, move the callers, drop the old one).
 *
 * The comparison must not leak, by its timing, how much of a guess was right. Both sides
 * are hashed (SHA-256) so that they always have the same length, compared with
 * `crypto.timingSafeEqual`, and every accepted token is compared, not only up to the first
 * match.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** What an `Authorization` header turned out to be. */
export type BearerCheck = 'ok' | 'missing' | 'invalid';

/** What a token may be made of: RFC 6750's `b64token` (base64, base64url, hex… all fit). */
export const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;

/** `Bearer` (any case, RFC 7235), one or more blanks, then the token. */
const BEARER = /^bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The accepted tokens, kept as digests only. */
export class BearerTokens {
  private readonly digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  /** True when `presented` is one of the tokens (a token passed as is: a query parameter, a message's `ext`). */
  matches(presented: unknown): presented is string {
    if (typeof presented !== 'string' || presented.length === 0) return false;
    return this.anyMatch(digest(presented));
  }

  /** Every token is compared, so the time does not tell which one matched. */
  private anyMatch(presented: Buffer): boolean {
    let match = false;
    for (const d of this.digests) match = timingSafeEqual(presented, d) || match;
    return match;
  }

  /** Checks an `Authorization` header value (undefined when the request had none). */
  check(authorization: string | undefined): BearerCheck {
    if (authorization === undefined || authorization.trim() === '') return 'missing';
    const m = BEARER.exec(authorization);
    // A malformed header is a wrong token: still hash something, so the answer takes as long.
    const match = this.anyMatch(digest(m === null ? authorization : m[1]!));
    return match && m !== null ? 'ok' : 'invalid';
  }
}
