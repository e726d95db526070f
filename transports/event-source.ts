/**
 * eventsource: server-sent events, connection type `eventsource`, as Faye's browser client
 * uses them. After its handshake the client opens `GET <mount>/<clientId>` with
 * `Accept: text/event-stream`, and the server keeps the response open: each delivery is
 * written as one event, `data: [<message>]`, as soon as it is queued. Everything else the
 * client sends still goes by XHR POST (long-polling), its connects included: those name
 * `connectionType: 'eventsource'` and the core answers them at once as heartbeats. The core
 * holds the stream as the session's connection (`BayeuxServer.openStream`), so a stream
 * that ends (its maximum age, a network blip) loses nothing: the mail stays queued for the
 * next stream, which the browser's EventSource opens by itself, or for the next connect.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { z } from 'zod';
import type { Exchange, RequestContext } from '../lib/exchange.js';
import { HoldTimer, type Timed, type TimedList } from '../lib/hold-timer.js';
import type { BayeuxServer } from '../lib/server.js';
import { checkOptions, milliseconds } from './check-options.js';
import { writeHttpError } from './http-errors.js';
import { HttpRequestContext } from './request-context.js';
import type { HandlerContext, Transport } from './transport.js';

const debug = createDebug('bayeux:transport:eventsource');

/** Options for {@link eventSource}. */
export interface EventSourceOptions {
  /**
   * ms the browser waits before it reopens a stream that ended (the `retry:` line that
   * opens every stream). Default 5000, as Faye's server; at most 86400000 (a day).
   */
  retry?: number;
  /**
   * ms between keep-alive comments (`:`), which keep proxies and firewalls that cut idle
   * connections from cutting the stream. 0 for none. Default 10000, as Faye's server; at
   * most 86400000 (a day).
   */
  ping?: number;
  /**
   * ms a stream stays open. Then it ends and the browser opens the next one after `retry`
   * ms; mail queued meanwhile waits for it (or goes with the client's next connect). Keep
   * it under what proxies and firewalls allow a response to last. Default 60000; from 100
   * to 86400000 (a day).
   */
  maxAge?: number;
  /**
   * Bytes written to a stream and not yet taken by the peer above which no more mail is
   * written to it: the mail waits in the engine queue (bounded by the server's `maxQueue`)
   * and flows again once the peer has read. Default 1048576 (1 MiB).
   */
  maxBufferedBytes?: number;
}

/** The EventSource transport, with counts for monitoring. */
export interface EventSourceTransport extends Transport {
  /** Streams open now. */
  readonly openStreams: number;
  /** Streams opened since the transport was created. */
  readonly streamsOpened: number;
}

const optionsSchema = z.strictObject({
  retry: milliseconds(0).default(5000),
  ping: milliseconds(0).default(10_000),
  maxAge: milliseconds(100).default(60_000),
  maxBufferedBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
});

type CheckedOptions = z.output<typeof optionsSchema>;

/** Client ids are lower-case alphanumeric (lib/client-id.ts makes 32 hex digits). */
const CLIENT_ID = /^[0-9a-z]{1,128}$/;

const KEEP_ALIVE = ':\r\n\r\n';

/** True when the `Accept` header lists `text/event-stream` (what an EventSource sends). */
export function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const types = accept.toLowerCase();
  // A cheap test first: most GETs here are JSONP polls.
  if (!types.includes('event-stream')) return false;
  return types.split(',').some((t) => t.split(';', 1)[0]!.trim() === 'text/event-stream');
}

/** The last path segment of a request URL (query ignored): where Faye puts the clientId. */
function lastSegment(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The events of serialized messages: one per message, as Faye's server writes them. */
function events(parts: readonly string[]): string {
  let out = '';
  // JSON has no raw line breaks, so a message never spills out of its `data:` line.
  for (const p of parts) out += 'data: [' + p + ']\r\n\r\n';
  return out;
}

/** What a stream needs from its transport. */
interface StreamHost {
  readonly connectionType: string;
  readonly retry: number;
  readonly maxBufferedBytes: number;
  /** The stream is over: forget it. */
  finished(stream: EventStream): void;
}

/**
 * One open event stream. It is the exchange the core holds as the session's connection for
 * as long as it lives (a persistent hold), and the request context of that hold.
 */
class EventStream extends HttpRequestContext implements Exchange, Timed {
  // Age deadline links (owned by the transport's timer).
  deadline = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  list: TimedList | null = null;
  held: object | null = null;
  readonly piggyback = false;
  /** The head (status, headers, `retry:`) is written. */
  private started = false;
  private done = false;
  private over = false;
  /** The core found the stream congested: tell it when the response drains. */
  private waiting = false;

  constructor(
    private readonly host: StreamHost,
    readonly server: BayeuxServer,
    req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly browserId: string | undefined,
  ) {
    super(req);
    // Shared listeners and a back-reference: no closures per stream.
    (res as StreamResponse)[kStream] = this;
    res.on('close', onStreamClose);
    res.on('drain', onStreamDrain);
  }

  get context(): RequestContext {
    return this;
  }
  get connectionType(): string {
    return this.host.connectionType;
  }
  get open(): boolean {
    if (this.done) return false;
    const socket = this.res.socket;
    return !this.res.destroyed && !this.res.writableEnded && (socket === null || !socket.destroyed);
  }

  /** The peer is not keeping up. Noting that the core asked lets the next drain resume the mail. */
  get congested(): boolean {
    if (this.res.writableLength <= this.host.maxBufferedBytes) return false;
    this.waiting = true;
    return true;
  }

  /** Writes the head now (so the browser's EventSource opens) unless it is written. */
  start(): void {
    if (this.started || !this.open) return;
    this.started = true;
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-store',
      // nginx buffers responses unless told not to; an event held back is an event late.
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
      // As Faye's server: the connection carries this one response.
      Connection: 'close',
    });
    this.res.write('retry: ' + this.host.retry + '\r\n\r\n');
  }

  stream(parts: readonly string[]): void {
    if (!this.open || parts.length === 0) return;
    this.start();
    this.res.write(events(parts));
  }

  /** Never called on a stream the core holds (that hold is persistent); written as events all the same. */
  send(parts: readonly string[]): void {
    this.stream(parts);
  }

  /** The core ends the stream (another took over, the session ended, the server drains or closes). */
  fail(status: number, message: string): void {
    debug('stream ended by the server (%d %s)', status, message);
    this.end();
  }

  /** A keep-alive comment, unless the peer is not reading anyway. */
  ping(): void {
    if (this.started && this.open && this.res.writableLength <= this.host.maxBufferedBytes) this.res.write(KEEP_ALIVE);
  }

  /**
   * Ends the stream. A stream that had not begun still gets its head, `retry:` included: an
   * EventSource reopens after a 200 that ends, but gives up for good after an error status.
   */
  end(): void {
    if (this.done) return;
    this.start();
    this.done = true;
    this.res.end();
    this.finish();
  }

  /** Refuses the stream before it began (plain text, as the other refusals). */
  refuse(status: 400 | 404 | 503, message: string): void {
    if (this.started) return this.end();
    this.done = true;
    writeHttpError(this.res, status, message);
    this.finish();
  }

  /** The stream is over (ended here or closed by the client): the core forgets the hold; queued mail stays. */
  finish(): void {
    if (!this.over) {
      this.over = true;
      this.done = true;
      this.host.finished(this);
    }
    // Again after the close: the core may have taken up the hold while it was being opened.
    if (this.held !== null) this.server.exchangeClosed(this);
  }

  /** @internal The response drained. */
  drained(): void {
    if (!this.waiting) return;
    this.waiting = false;
    if (this.held !== null && this.open) this.server.exchangeWritable(this);
  }
}

const kStream = Symbol('bayeux.eventStream');
type StreamResponse = ServerResponse & { [kStream]?: EventStream };

function onStreamClose(this: StreamResponse): void {
  this[kStream]?.finish();
}

function onStreamDrain(this: StreamResponse): void {
  this[kStream]?.drained();
}

class EventSourceTransportImpl implements EventSourceTransport, StreamHost {
  readonly connectionType = 'eventsource';
  readonly streamed = true;
  readonly retry: number;
  readonly maxBufferedBytes: number;
  private readonly maxAge: number;
  private readonly pingMs: number;
  private readonly streams = new Set<EventStream>();
  /** Servers whose `close` event this transport listens to. */
  private readonly servers = new Set<BayeuxServer>();
  private readonly ages = new HoldTimer<EventStream>((s) => {
    debug('stream reached its maximum age');
    s.end();
  });
  private pinger: NodeJS.Timeout | null = null;
  private opened = 0;

  constructor(options: CheckedOptions) {
    this.retry = options.retry;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.maxAge = options.maxAge;
    this.pingMs = options.ping;
  }

  get openStreams(): number {
    return this.streams.size;
  }
  get streamsOpened(): number {
    return this.opened;
  }

  accepts(req: IncomingMessage): boolean {
    return req.method === 'GET' && acceptsEventStream(req.headers.accept);
  }

  handle(req: IncomingMessage, res: ServerResponse, server: BayeuxServer, context?: HandlerContext): void {
    const clientId = lastSegment(req.url ?? '');
    if (!CLIENT_ID.test(clientId)) {
      return writeHttpError(res, 400, 'an event stream is opened at <mount>/<clientId>');
    }
    if (server.isClosed) return writeHttpError(res, 503, 'server closed');
    const stream = new EventStream(this, server, req, res, context?.browserId(req, res, []));
    this.streams.add(stream);
    this.opened++;
    this.ages.add(stream, this.maxAge);
    if (this.pinger === null && this.pingMs > 0) this.pinger = setInterval(this.pingAll, this.pingMs).unref();
    if (!this.servers.has(server)) {
      this.servers.add(server);
      server.once('close', () => this.serverClosed(server));
    }
    // A draining server keeps no stream: the browser comes back after `retry`, through the
    // load balancer to another process.
    if (server.isDraining) return stream.end();
    server.openStream(clientId, stream).then(
      (known) => {
        if (!known) return stream.refuse(404, 'unknown session');
        // The server may have closed, or the client gone, while the stream was being opened.
        if (server.isClosed) return stream.end();
        if (!stream.open) return stream.finish();
        debug('stream opened for %s', clientId);
        stream.start();
      },
      (err: unknown) => {
        if (!server.isClosed) server.reportError(err);
        stream.refuse(503, 'the stream could not be opened');
      },
    );
  }

  /** One timer for every stream. */
  private readonly pingAll = (): void => {
    for (const s of this.streams) s.ping();
  };

  finished(stream: EventStream): void {
    this.ages.remove(stream);
    this.streams.delete(stream);
    if (this.streams.size === 0 && this.pinger !== null) {
      clearInterval(this.pinger);
      this.pinger = null;
    }
  }

  private serverClosed(server: BayeuxServer): void {
    debug('server closed: ending its streams');
    this.servers.delete(server);
    for (const s of [...this.streams]) if (s.server === server) s.end();
  }
}

/**
 * Creates the EventSource transport (connection type `eventsource`), last in the default
 * transport list. Faye's browser client uses it when the handshake lists it and WebSocket
 * is unavailable; CometD's clients do not know it. Throws a `TypeError`
 * (`ERR_BAYEUX_INVALID_OPTION`) naming a bad or unknown option.
 */
export function eventSource(options: EventSourceOptions = {}): EventSourceTransport {
  return new EventSourceTransportImpl(checkOptions(optionsSchema, options, 'eventSource'));
}
