/**
 * Reads a request body as UTF-8 text, within a byte limit. A body some middleware has
 * already parsed (`req.body`, as body-parser, koa-bodyparser and friends leave it) is
 * used as it is.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-errors.js';

/** What the body turned out to be. */
export type Body =
  | { kind: 'text'; text: string; bytes: number }
  | { kind: 'parsed'; value: unknown; bytes: number };

/** Calls back once with the body or an {@link HttpError}. */
export function readBody(req: IncomingMessage, limit: number, done: (err: HttpError | null, body: Body | null) => void): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return done(new HttpError(413, `body larger than ${limit} bytes`), null);

  const preParsed = (req as { body?: unknown }).body;
  if (preParsed !== undefined && (req.readableEnded || req.complete)) {
    const bytes = Number.isFinite(declared) ? declared : 0;
    if (typeof preParsed === 'string') return done(null, { kind: 'text', text: preParsed, bytes: Buffer.byteLength(preParsed) });
    if (Buffer.isBuffer(preParsed)) return done(null, { kind: 'text', text: preParsed.toString('utf8'), bytes: preParsed.length });
    if (typeof preParsed === 'object' && preParsed !== null && !isEmptyObject(preParsed)) {
      return done(null, { kind: 'parsed', value: preParsed, bytes });
    }
  }
  if (req.readableEnded) return done(new HttpError(400, 'request body already consumed'), null);

  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (err: HttpError | null, body: Body | null): void => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      req.pause();
      finish(new HttpError(413, `body larger than ${limit} bytes`), null);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    finish(null, { kind: 'text', text: buf.toString('utf8'), bytes: size });
  });
  req.on('error', () => finish(new HttpError(400, 'request body could not be read'), null));
}

function isEmptyObject(v: object): boolean {
  for (const _ in v) return false;
  return !Array.isArray(v);
}
