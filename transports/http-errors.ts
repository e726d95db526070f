/**
 * HTTP-level refusals, decided in one place: the request could not be read as Bayeux at
 * all (malformed body, wrong type, too large), so there is no message to reply to.
 */
import type { ServerResponse } from 'node:http';
import createDebug from 'debug';

const debug = createDebug('bayeux:transport:http');

/** A refusal before the protocol core sees anything. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413 | 415 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Writes a plain-text refusal; `close` also ends the connection (unread body left behind). */
export function writeHttpError(res: ServerResponse, status: number, message: string, close = false): void {
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
  if (close) headers.Connection = 'close';
  if (status === 405) headers.Allow = 'GET, POST, OPTIONS';
  res.writeHead(status, headers);
  res.end(body);
}
