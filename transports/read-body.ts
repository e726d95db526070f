/**
 * Reads a request body as UTF-8 text, within a byte limit. A body some middleware has
 * already parsed (`req.body`, as body-parser, koa-bodyparser and friends leave it) is
 * used as it is.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-errors.js';
import { rawHeader } from './raw-header.js';

/** What the body turned out to be. */
export type Body =
  | { kind: 'text'; text: string; bytes: number }
  | { kind: 'parsed'; value: unknown; bytes: number };

/** Calls back once with the body or an {@link HttpError}. */
export function readBody(req: IncomingMessage, limit: number, done: (err: HttpError | null, body: Body | null) => void): void {
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

  // One small object per request and three shared listeners: no closures on the hot path.
  (req as ReadingRequest)[kReading] = new Reading(limit, done);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

const kReading = Symbol('bayeux.reading');
type ReadingRequest = IncomingMessage & { [kReading]?: Reading };

/** A body being read: the first chunk alone (the usual case), more in a list. */
class Reading {
  first: Buffer | null = null;
  more: Buffer[] | null = null;
  size = 0;
  finished = false;
  constructor(
    readonly limit: number,
    readonly done: (err: HttpError | null, body: Body | null) => void,
  ) {}

  finish(req: ReadingRequest, err: HttpError | null, body: Body | null): void {
    if (this.finished) return;
    this.finished = true;
    req[kReading] = undefined;
    this.done(err, body);
  }
}

function onData(this: ReadingRequest, chunk: Buffer): void {
  const r = this[kReading];
  if (r === undefined) return;
  r.size += chunk.length;
  if (r.size > r.limit) {
    this.pause();
    r.finish(this, new HttpError(413, `body larger than ${r.limit} bytes`), null);
  } else if (r.first === null) r.first = chunk;
  else (r.more ??= [r.first]).push(chunk);
}

function onEnd(this: ReadingRequest): void {
  const r = this[kReading];
  if (r === undefined) return;
  const buf = r.more !== null ? Buffer.concat(r.more, r.size) : (r.first ?? EMPTY);
  r.finish(this, null, { kind: 'text', text: buf.toString('utf8'), bytes: r.size });
}

function onError(this: ReadingRequest): void {
  this[kReading]?.finish(this, new HttpError(400, 'request body could not be read'), null);
}

const EMPTY = Buffer.alloc(0);

function isEmptyObject(v: object): boolean {
  for (const _ in v) return false;
  return !Array.isArray(v);
}
