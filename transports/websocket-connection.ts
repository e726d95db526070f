/**
 * One WebSocket connection: frames in, frames out. Each incoming frame is one request for
 * the protocol core (a {@link WsExchange}); frames are processed one at a time, in order,
 * so a client's messages keep their order whatever the engine. The exchange that carries
 * a held `/meta/connect` also streams deliveries (see `Exchange.stream`), unless the peer
 * is not reading: then mail waits in the engine, and the peer's next frames wait too (each
 * request may write), until the socket's buffer drains.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import createDebug from 'debug';
import type { RawData, WebSocket } from 'ws';
import { isPromise } from '../lib/engines/engine.js';
import { Errors } from '../lib/errors.js';
import type { Exchange, RequestContext } from '../lib/exchange.js';
import { failure } from '../lib/reply.js';
import { joinMessages } from '../lib/serialize.js';
import type { BayeuxServer } from '../lib/server.js';

const debug = createDebug('bayeux:transport:websocket');

/** Close codes (RFC 6455 §7.4.1). */
const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policy: 1008,
  tooBig: 1009,
  tryAgainLater: 1013,
} as const;

/** Frames read ahead while one is processed; past it the socket stops reading until they are done. */
const MAX_PENDING_FRAMES = 32;

function onSocketError(err: Error): void {
  debug('socket error: %s', err.message);
}

const kConnection = Symbol('bayeux.wsConnection');
type TaggedSocket = WebSocket & { [kConnection]?: WsConnection };

function onSocketMessage(this: TaggedSocket, data: RawData, isBinary: boolean): void {
  this[kConnection]?.onMessage(data, isBinary);
}

function onSocketPong(this: TaggedSocket): void {
  this[kConnection]?.onPong();
}

function onSocketClose(this: TaggedSocket, code: number): void {
  this[kConnection]?.onClose(code);
}

function onFirstMessageTimeout(connection: WsConnection): void {
  connection.silent();
}

/** What a connection needs from its transport. */
export interface WsConnectionHost {
  readonly connectionType: string;
  readonly maxBufferedBytes: number;
  readonly firstMessageTimeout: number;
  readonly requireHandshake: boolean;
  /** The socket closed: forget it. */
  closed(connection: WsConnection): void;
}

/** The replies to one frame, and (when it holds a connect) the deliveries streamed meanwhile. */
class WsExchange implements Exchange {
  held: object | null = null;
  readonly piggyback = false;
  private done = false;

  constructor(
    private readonly connection: WsConnection,
    /** The frame holds a `/meta/disconnect`: the socket closes after the reply. */
    private readonly disconnects: boolean,
  ) {}

  get context(): RequestContext {
    return this.connection;
  }
  get connectionType(): string {
    return this.connection.host.connectionType;
  }
  get open(): boolean {
    return !this.done && this.connection.isOpen;
  }
  get congested(): boolean {
    return this.connection.congested;
  }

  send(parts: readonly string[]): void {
    if (this.done) return;
    this.done = true;
    this.connection.write(parts);
    if (this.disconnects) this.connection.close(CLOSE.normal, 'disconnected');
    // Draining: answers tell clients to come back, and the socket must go so that they reach another process.
    else if (this.connection.server.isDraining) this.connection.close(CLOSE.goingAway, 'server draining');
  }

  stream(parts: readonly string[]): void {
    if (!this.done) this.connection.write(parts);
  }

  fail(status: number, message: string): void {
    if (this.done) return;
    this.done = true;
    const code = status === 413 ? CLOSE.tooBig : status === 503 ? CLOSE.tryAgainLater : CLOSE.invalidPayload;
    this.connection.close(code, message);
  }
}

/** An open socket; it is also the request context of every message it carries. */
export class WsConnection implements RequestContext {
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string | undefined;
  readonly url: string;
  /** Something (a message or a pong) came since the last ping. */
  private alive = true;
  private heard = false;
  private handshook = false;
  private busy = false;
  private pending: { batch: unknown[]; bytes: number; disconnects: boolean }[] = [];
  /** The exchange whose connect the core holds, if any. */
  private holding: WsExchange | null = null;
  /** Mail was held back because the peer was not reading: resume once it has. */
  private waiting = false;
  /** Frames wait because the peer was not reading: process them once it has. */
  private stalled = false;
  private firstTimer: NodeJS.Timeout | null;

  constructor(
    readonly host: WsConnectionHost,
    readonly server: BayeuxServer,
    private readonly ws: WebSocket,
    req: IncomingMessage,
  ) {
    // Copied, so that the request (and its socket wrappers) can be collected.
    this.headers = req.headers;
    this.remoteAddress = req.socket.remoteAddress;
    this.url = req.url ?? '';
    // Shared listeners that find the connection on the socket: no closures per connection.
    (ws as TaggedSocket)[kConnection] = this;
    ws.on('message', onSocketMessage);
    ws.on('pong', onSocketPong);
    ws.on('close', onSocketClose);
    // ws closes the socket itself on protocol errors (bad UTF-8, oversize frames: 1007, 1009).
    ws.on('error', onSocketError);
    this.firstTimer = setTimeout(onFirstMessageTimeout, host.firstMessageTimeout, this);
    this.firstTimer.unref();
  }

  get isOpen(): boolean {
    return this.ws.readyState === 1; // OPEN
  }

  /** The peer is not keeping up. Noting that we asked lets the next written frame resume the mail. */
  get congested(): boolean {
    if (this.ws.bufferedAmount <= this.host.maxBufferedBytes) return false;
    this.waiting = true;
    return true;
  }

  write(parts: readonly string[]): void {
    if (this.isOpen) this.ws.send(joinMessages(parts), this.written);
  }

  close(code: number, reason: string): void {
    debug('closing (%d %s)', code, reason);
    if (this.ws.readyState <= 1) this.ws.close(code, reason.length > 120 ? reason.slice(0, 120) : reason);
  }

  /** Called by the transport's ping timer. */
  ping(): void {
    if (!this.alive) {
      debug('no answer to the last ping: closing');
      this.ws.terminate();
      return;
    }
    this.alive = false;
    if (this.isOpen) this.ws.ping();
  }

  /** A frame went out to the kernel: if mail or frames were held back and the buffer has emptied, go on. */
  private readonly written = (): void => {
    if ((!this.waiting && !this.stalled) || this.ws.bufferedAmount > this.host.maxBufferedBytes / 2) return;
    if (this.waiting) {
      this.waiting = false;
      if (this.holding !== null && this.holding.held !== null) this.server.exchangeWritable(this.holding);
    }
    if (this.stalled) {
      this.stalled = false;
      if (!this.busy) this.next();
    }
  };

  /**
   * The peer is not reading what it asked for: its next frames wait. Each request can
   * write (a connect takes the whole queue at once), so a peer that sends without reading
   * would otherwise grow the send buffer without limit.
   */
  private backlogged(): boolean {
    if (this.ws.bufferedAmount <= this.host.maxBufferedBytes) return false;
    this.stalled = true;
    return true;
  }

  /** @internal */
  onPong(): void {
    this.alive = true;
  }

  /** @internal */
  silent(): void {
    this.firstTimer = null;
    if (!this.heard) this.close(CLOSE.policy, 'no message received');
  }

  /** @internal */
  onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (!this.heard) {
      this.heard = true;
      if (this.firstTimer !== null) clearTimeout(this.firstTimer);
      this.firstTimer = null;
    }
    if (isBinary) return this.close(CLOSE.unsupportedData, 'Bayeux frames are text');
    const text = data.toString();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.close(CLOSE.invalidPayload, 'a frame must be JSON');
    }
    const batch = Array.isArray(parsed) ? parsed : typeof parsed === 'object' && parsed !== null ? [parsed] : null;
    if (batch === null) return this.close(CLOSE.invalidPayload, 'a frame must hold an array of messages or one message');
    let disconnects = false;
    for (const m of batch) if ((m as { channel?: unknown } | null)?.channel === '/meta/disconnect') disconnects = true;
    const frame = { batch, bytes: Buffer.byteLength(text), disconnects };
    if (this.busy || this.stalled || this.backlogged()) {
      this.pending.push(frame);
      if (this.pending.length >= MAX_PENDING_FRAMES) this.ws.pause();
      return;
    }
    this.process(frame);
  }

  private process(frame: { batch: unknown[]; bytes: number; disconnects: boolean }): void {
    if (!this.handshook) {
      if (frame.batch.some((m) => (m as { channel?: unknown } | null)?.channel === '/meta/handshake')) this.handshook = true;
      else if (this.host.requireHandshake) {
        this.refuseUnhandshaken(frame.batch);
        return this.next();
      }
    }
    const exchange = new WsExchange(this, frame.disconnects);
    this.busy = true;
    let done: void | Promise<void>;
    try {
      done = this.server.processNow(frame.batch, exchange, frame.bytes);
    } catch (err) {
      this.failed(exchange, err);
      return;
    }
    if (isPromise(done)) done.then(() => this.processed(exchange), (err: unknown) => this.failed(exchange, err));
    else this.processed(exchange);
  }

  /** A socket that must begin with a handshake did not: each message is told to handshake. */
  private refuseUnhandshaken(batch: unknown[]): void {
    const replies: string[] = [];
    for (const m of batch) {
      const message = m as { id?: unknown; channel?: unknown } | null;
      const channel = typeof message?.channel === 'string' ? message.channel : '/meta/connect';
      const id = typeof message?.id === 'string' ? message.id : undefined;
      replies.push(JSON.stringify(failure({ id, channel }, Errors.sessionUnknown())));
    }
    this.write(replies);
  }

  private processed(exchange: WsExchange): void {
    if (exchange.held !== null) {
      this.holding = exchange;
      // The socket may have closed while the core was deciding.
      if (!this.isOpen) this.server.exchangeClosed(exchange);
    }
    this.next();
  }

  private failed(exchange: WsExchange, err: unknown): void {
    // The core turns failures into replies; this is a last line of defence.
    this.server.reportError(err);
    exchange.fail(400, 'request could not be processed');
    this.next();
  }

  private next(): void {
    this.busy = false;
    if (this.pending.length === 0 || this.backlogged()) return;
    const frame = this.pending.shift()!;
    if (this.pending.length === MAX_PENDING_FRAMES - 1) this.ws.resume();
    this.process(frame);
  }

  /** @internal */
  onClose(code: number): void {
    debug('socket closed (%d)', code);
    if (this.firstTimer !== null) clearTimeout(this.firstTimer);
    this.firstTimer = null;
    this.pending = [];
    const h = this.holding;
    this.holding = null;
    if (h !== null && h.held !== null) this.server.exchangeClosed(h);
    this.host.closed(this);
  }
}
