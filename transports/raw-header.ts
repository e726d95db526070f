/**
 * Reads one request header from `req.rawHeaders`. Node builds the `req.headers` object
 * lazily, on first use, from every header line; the hot path needs two or three headers
 * and can skip building it (frameworks that build it anyway lose nothing).
 */
import type { IncomingMessage } from 'node:http';

/** The first value of header `lowerName` (given in lower case), or undefined. */
export function rawHeader(req: IncomingMessage, lowerName: string): string | undefined {
  const raw = req.rawHeaders;
  const n = lowerName.length;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === n && (name === lowerName || name.toLowerCase() === lowerName)) return raw[i + 1];
  }
  return undefined;
}
