/**
 * Reads a request body as UTF-8 text, within a byte limit and a time limit. A body some
 * middleware has already parsed (`req.body`, as body-parser, koa-bodyparser and friends
 * leave it) is used as it is.
 */
import type { IncomingMessage } from 'node:http';
import { cancelDeadline, expireAfter, type Expiring } from './deadlines.js';
import { HttpError } from './http-errors.js';
import { rawHeader } from './raw-header.js';

/** What the body turned out to be. */
export type Body =
  | { kind: 'text'; text: string; bytes: number }
  | { kind: 'parsed'; value: unknown; bytes: number };

/**
 * Calls back once with the body or an {@link HttpError}: 413 past `limit` bytes, 408 when
 * the body has not ended `timeout` ms after reading began (a stalled or trickled upload).
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  timeout: number,
  done: (err: HttpError | null, body: Body | null) => void,
): void {
  const declared = Number(rawHeader(req, 'content-length'));
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

  // One small object per request, three shared listeners and the shared deadline sweep:
  // no closure or timer per request on the hot path.
  const r = new Reading(req, limit, timeout, done);
  (req as ReadingRequest)[kReading] = r;
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  expireAfter(r, timeout);
}

const kReading = Symbol('bayeux.reading');
type ReadingRequest = IncomingMessage & { [kReading]?: Reading };

/** A body being read: the first chunk alone (the usual case), more in a list. */
class Reading implements Expiring {
  first: Buffer | null = null;
  more: Buffer[] | null = null;
  size = 0;
  finished = false;
  expiresAt = 0;
  constructor(
    readonly req: ReadingRequest,
    readonly limit: number,
    readonly timeout: number,
    readonly done: (err: HttpError | null, body: Body | null) => void,
  ) {}

  expire(): void {
    this.finish(new HttpError(408, `body not received within ${this.timeout} ms`), null);
  }

  finish(err: HttpError | null, body: Body | null): void {
    if (this.finished) return;
    this.finished = true;
    this.req[kReading] = undefined;
    cancelDeadline(this);
    this.done(err, body);
  }
}

function onData(this: ReadingRequest, chunk: Buffer): void {
  const r = this[kReading];
  if (r === undefined) return;
  r.size += chunk.length;
  // The rest of an oversize body is drained by the refusal (linger.ts), not left unread.
  if (r.size > r.limit) r.finish(new HttpError(413, `body larger than ${r.limit} bytes`), null);
  else if (r.first === null) r.first = chunk;
  else (r.more ??= [r.first]).push(chunk);
}

function onEnd(this: ReadingRequest): void {
  const r = this[kReading];
  if (r === undefined) return;
  const buf = r.more !== null ? Buffer.concat(r.more, r.size) : (r.first ?? EMPTY);
  r.finish(null, { kind: 'text', text: buf.toString('utf8'), bytes: r.size });
}

function onError(this: ReadingRequest): void {
  this[kReading]?.finish(new HttpError(400, 'request body could not be read'), null);
}

const EMPTY = Buffer.alloc(0);

function isEmptyObject(v: object): boolean {
  for (const _ in v) return false;
  return !Array.isArray(v);
}
