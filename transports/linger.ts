/**
 * Lingering close, as nginx does it. A refusal written before the request body was read
 * (413 on the declared length, 408, 404 or 405 on a POST) must close the connection, since
 * the rest of the body cannot be told from the next request. But closing a socket with
 * unread bytes makes the kernel send a reset, and a client still writing its body then
 * gets EPIPE or ECONNRESET instead of reading the answer. So the answer is written with
 * `Connection: close`, the body is read and dropped until it ends (or for a bounded time
 * and size), and only then is the response ended and the socket closed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { cancelDeadline, expireAfter, type Expiring } from './deadlines.js';
import { rawHeader } from './raw-header.js';

const debug = createDebug('bayeux:transport:linger');

/**
 * Longest time a refused request's body is drained before the socket is closed anyway.
 * Enough for a client on a fast link to finish an upload of some megabytes and read the
 * answer; short enough that a client that never stops (or trickles) holds the socket only
 * briefly. A fixed constant, not an option: it only shapes how a refusal ends.
 */
export const LINGER_MS = 2000;
/**
 * Most bytes drained that way: bounds the work one refused request can cause. Above the
 * usual oversize uploads (the 10 MB of issue 13), far below what the time bound allows on
 * a fast link.
 */
export const LINGER_BYTES = 16 * 1024 * 1024;

/** True when the request announced a body that has not been read to its end. */
export function bodyUnread(req: IncomingMessage | undefined): boolean {
  if (req === undefined || req.complete || req.readableEnded || req.destroyed) return false;
  return rawHeader(req, 'transfer-encoding') !== undefined || Number(rawHeader(req, 'content-length')) > 0;
}

/**
 * Drains the rest of the request body, then ends `res`, whose complete answer (with
 * `Connection: close`) is already written: Node closes the socket once `res` ends.
 */
export function endAfterDrain(req: IncomingMessage, res: ServerResponse): void {
  const l = new Linger(req, res);
  (req as LingeringRequest)[kLinger] = l;
  // Shared listeners and a back-reference, as in read-body.ts (listeners of an earlier
  // reader of this body may still be attached; they ignore what follows).
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onGone);
  req.on('error', onGone);
  req.resume();
  expireAfter(l, LINGER_MS);
}

const kLinger = Symbol('bayeux.linger');
type LingeringRequest = IncomingMessage & { [kLinger]?: Linger };

class Linger implements Expiring {
  expiresAt = 0;
  dropped = 0;
  private finished = false;
  constructor(
    readonly req: LingeringRequest,
    readonly res: ServerResponse,
  ) {}

  expire(): void {
    this.finish('time limit');
  }

  finish(why: string): void {
    if (this.finished) return;
    this.finished = true;
    this.req[kLinger] = undefined;
    cancelDeadline(this);
    debug('%s %s: closing after dropping %d body bytes (%s)', this.req.method, this.req.url, this.dropped, why);
    // Ending with the body still arriving (bounds reached) resets the connection: by then
    // the client has had its chance to read the answer.
    this.res.end();
  }
}

function onData(this: LingeringRequest, chunk: Buffer): void {
  const l = this[kLinger];
  if (l === undefined) return;
  l.dropped += chunk.length;
  if (l.dropped > LINGER_BYTES) l.finish('size limit');
}

function onEnd(this: LingeringRequest): void {
  this[kLinger]?.finish('body ended');
}

function onGone(this: LingeringRequest): void {
  this[kLinger]?.finish('client gone');
}

/**
 * Writes a complete answer (`headers` include its Content-Length). When the request body
 * has not been read to its end, the answer says `Connection: close` and is ended only after
 * the lingering drain above; otherwise it is ended at once.
 */
export function answerLingering(req: IncomingMessage | undefined, res: ServerResponse, status: number, headers: Record<string, string | number>, body: string): void {
  if (req !== undefined && bodyUnread(req)) {
    res.writeHead(status, { ...headers, Connection: 'close' });
    res.write(body);
    return endAfterDrain(req, res);
  }
  res.writeHead(status, headers);
  res.end(body);
}
