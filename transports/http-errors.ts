/**
 * HTTP-level refusals, decided in one place: the request could not be read as Bayeux at
 * all (malformed body, wrong type, too large), so there is no message to reply to.
 */
import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import { answerLingering } from './linger.js';

const debug = createDebug('bayeux:transport:http');

/** A refusal before the protocol core sees anything. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 408 | 413 | 415 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Writes a plain-text refusal. When the request body has not been read to its end (a
 * refusal before reading, 413, 408), the answer closes the connection, after a lingering
 * drain of the body so that the client can read it (linger.ts).
 */
export function writeHttpError(res: ServerResponse, status: number, message: string): void {
  debug('%d %s', status, message);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${message}\n`;
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache, no-store',
    'X-Content-Type-Options': 'nosniff',
  };
  if (status === 405) headers.Allow = 'GET, POST, OPTIONS';
  answerLingering(res.req, res, status, headers, body);
}
