/**
 * One iframe streaming document ("forever frame"): an HTML page the server keeps writing
 * to while it lives. Each answer of the core to a `/meta/connect` becomes one `<script>`
 * calling the parent window; after each, the tunnel submits the session's next connect
 * itself, so the core holds it again exactly as it holds a long poll and knows nothing of
 * streaming. The document ends (a script calling the parent's sign-off function) at its
 * maximum age or size, or when a reply tells the client to do something else than
 * reconnect at once; the client then opens the next one.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { Exchange, RequestContext } from '../lib/exchange.js';
import type { Timed, TimedList } from '../lib/hold-timer.js';
import { joinMessages } from '../lib/serialize.js';
import type { BayeuxServer } from '../lib/server.js';
import { HttpRequestContext } from './request-context.js';

const debug = createDebug('bayeux:transport:iframe');

/** Why a document ended, passed to the sign-off function as `{"reason": …}`. */
export type SignOffReason =
  /** The document reached its maximum age. */
  | 'maxAge'
  /** The document reached its maximum size. */
  | 'maxBytes'
  /** The last reply asks for something else than an immediate reconnect (failure, handshake, none, an interval, multiple-clients). */
  | 'advice'
  /** Acknowledged delivery is on: the client's own next connect must carry its acknowledgement. */
  | 'ack'
  /** Answered early and empty: another connection of the session took over, or the server is closing. */
  | 'takeover'
  /** The server is draining (`BayeuxServer.drain`): the next document should reach another process. */
  | 'draining'
  /** The server could not process the connect. */
  | 'error';

/** What a tunnel needs from its transport. */
export interface TunnelHost {
  readonly connectionType: string;
  readonly maxBytes: number;
  /** Spaces (and a newline) written after each script, precomputed. */
  readonly pad: string;
  /** Spaces (and a newline) written after the document head, precomputed. */
  readonly initialPad: string;
  /** Starts (or restarts) the tunnel's age and heartbeat deadlines. */
  schedule(tunnel: Tunnel): void;
  /** Pushes the heartbeat deadline back (something was written). */
  wrote(tunnel: Tunnel): void;
  /** Stops the deadlines; the tunnel is over. */
  finished(tunnel: Tunnel): void;
}

/** The heartbeat deadline of a tunnel (the age deadline is the tunnel itself). */
export class Beat implements Timed {
  deadline = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  list: TimedList | null = null;
  constructor(readonly tunnel: Tunnel) {}
}

const HEAD = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>bayeux</title></head><body>\n';
const TAIL = '</body></html>\n';
const HEARTBEAT = '\n';

const UNSAFE_IN_SCRIPT = /[<\u2028\u2029]/g;

/**
 * JSON made safe inside an HTML `<script>` element: every `<` (which only occurs inside
 * JSON strings) becomes `\u003c`, so no `</script>` or `<!--` can end or unbalance the
 * element, and U+2028/U+2029 (line ends to older JavaScript engines) are escaped too. The
 * values are unchanged.
 */
export function scriptSafeJson(json: string): string {
  return json.replace(UNSAFE_IN_SCRIPT, (c) => (c === '<' ? '\\u003c' : c === '\u2028' ? '\\u2028' : '\\u2029'));
}

/** The connect answers of one document; each is one exchange for the core. */
class TunnelExchange implements Exchange {
  held: object | null = null;
  readonly piggyback = false;
  private done = false;
  readonly startedAt = Date.now();

  constructor(
    private readonly tunnel: Tunnel,
    /** The tunnel submitted it (not the client's own connect). */
    readonly synthesized: boolean,
  ) {}

  get context(): RequestContext {
    return this.tunnel;
  }
  get connectionType(): string {
    return this.tunnel.host.connectionType;
  }
  get browserId(): string | undefined {
    return this.tunnel.browserId;
  }
  get open(): boolean {
    return !this.done && this.tunnel.writable;
  }

  send(parts: readonly string[]): void {
    if (this.done) return;
    this.done = true;
    this.tunnel.answered(this, parts);
  }

  fail(status: number, message: string): void {
    if (this.done) return;
    this.done = true;
    debug('connect refused (%d %s)', status, message);
    this.tunnel.end('error');
  }

  /** The tunnel ends while the core holds this exchange: it must not answer it any more. */
  close(): void {
    this.done = true;
  }
}

/** One open iframe document; it is also the request context of every connect it carries. */
export class Tunnel extends HttpRequestContext implements Timed {
  // Age deadline links (owned by the transport's timer).
  deadline = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  list: TimedList | null = null;
  readonly beat = new Beat(this);

  /** Bytes written so far, head included. */
  bytes = 0;
  private ended = false;
  /** The maximum age passed while no connect was held: end at the next answer. */
  private aged = false;
  private current: TunnelExchange | null = null;
  /** The next connect, as JSON (a fresh object is parsed for each submission). */
  private readonly nextConnect: string;
  /** With acknowledged delivery: the batch number the client acknowledged on opening the document. */
  private readonly acked: unknown;
  /** Allows this document's scripts and no other (`Content-Security-Policy`). */
  private readonly nonce: string;
  /** `<script nonce="…">window.parent.`, the start of every script. */
  private readonly scriptTag: string;

  constructor(
    readonly host: TunnelHost,
    private readonly server: BayeuxServer,
    req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly callback: string,
    private readonly signOff: string,
    readonly browserId: string | undefined,
    opening: Record<string, unknown>,
  ) {
    super(req);
    this.nextConnect = JSON.stringify(nextConnectOf(opening, host.connectionType));
    this.acked = (opening.ext as { ack?: unknown } | undefined)?.ack;
    this.nonce = randomBytes(16).toString('base64');
    this.scriptTag = '<script nonce="' + this.nonce + '">window.parent.';
  }

  /** True while the document is open and the client still there. */
  get writable(): boolean {
    if (this.ended) return false;
    const socket = this.res.socket;
    return !this.res.destroyed && (socket === null || !socket.destroyed);
  }

  /** Writes the head and hands the client's connect to the core. */
  start(opening: Record<string, unknown>, bytes: number): void {
    // These replace any of the same name an app's middleware set (a site-wide CSP would
    // block the inline scripts, `X-Frame-Options: DENY` the frame); CORS headers stay.
    const headers = [
      'Content-Type',
      'text/html; charset=utf-8',
      'Cache-Control',
      'no-cache, no-store',
      'X-Content-Type-Options',
      'nosniff',
      // Only this document's own scripts run, nothing else loads, and only its own origin may frame it.
      'Content-Security-Policy',
      "default-src 'none'; script-src 'nonce-" + this.nonce + "'; frame-ancestors 'self'",
      'X-Frame-Options',
      'SAMEORIGIN',
      // nginx (and proxies that honour it) pass each write on instead of buffering the document.
      'X-Accel-Buffering',
      'no',
    ];
    // Draining: the connection ends with the document, so the next one can reach another process.
    if (this.server.isDraining) headers.push('Connection', 'close');
    this.res.writeHead(200, headers);
    (this.res as WatchedResponse)[kTunnel] = this;
    this.res.on('close', onTunnelResponseClose);
    this.host.schedule(this);
    this.write(HEAD + this.host.initialPad);
    this.submit(opening, bytes, false);
  }

  private submit(message: Record<string, unknown>, bytes: number, synthesized: boolean): void {
    const exchange = new TunnelExchange(this, synthesized);
    this.current = exchange;
    this.server.process([message], exchange, bytes).then(
      () => {
        // The document ended while the core was deciding to hold: let go of the hold.
        if (exchange.held !== null && (this.ended || this.aged)) {
          if (this.aged) this.end('maxAge');
          else this.release(exchange);
        }
      },
      (err: unknown) => {
        this.server.reportError(err);
        this.end('error');
      },
    );
  }

  /** The core answered a connect of this document. */
  answered(exchange: TunnelExchange, parts: readonly string[]): void {
    if (!this.writable) return;
    this.write(this.scriptTag + this.callback + '(' + scriptSafeJson(joinMessages(parts)) + ');</script>' + this.host.pad);
    const reason = verdict(exchange, parts, this.server.options.timeout, this.acked);
    if (reason !== null) return this.end(reason);
    // Resubmitted here, connects would only be answered at once, again and again.
    if (this.server.isDraining) return this.end('draining');
    if (this.aged) return this.end('maxAge');
    if (this.bytes >= this.host.maxBytes) return this.end('maxBytes');
    // On the next turn: the core may still be unwinding the answer, and a session whose
    // mail keeps coming must not deepen the stack.
    setImmediate(resubmit, this);
  }

  /** @internal Submits the session's next connect, unless the document has ended meanwhile. */
  resubmit(): void {
    if (!this.writable) return;
    if (this.aged) return this.end('maxAge');
    this.submit(JSON.parse(this.nextConnect) as Record<string, unknown>, 0, true);
  }

  /** The age deadline passed: end now if a connect is held, else at the next answer. */
  expire(): void {
    if (this.ended) return;
    if (this.current !== null && this.current.held !== null) this.end('maxAge');
    else this.aged = true;
  }

  /** The heartbeat deadline passed with nothing written: write a little. */
  heartbeat(): void {
    if (!this.writable) return;
    this.write(HEARTBEAT);
  }

  /** Ends the document with the sign-off call. A connect still held stays unanswered: its mail waits for the next document. */
  end(reason: SignOffReason): void {
    if (this.ended) return;
    const exchange = this.current;
    const live = this.writable;
    this.finish();
    if (exchange !== null) this.release(exchange);
    debug('document ends (%s) after %d bytes', reason, this.bytes);
    if (!live) return;
    this.write(this.scriptTag + this.signOff + '({"reason":"' + reason + '"});</script>' + TAIL);
    this.res.end();
  }

  /** The client went away (the response closed before we ended it). */
  closed(): void {
    if (this.ended) return;
    debug('document closed by the client after %d bytes', this.bytes);
    const exchange = this.current;
    this.finish();
    if (exchange !== null) this.release(exchange);
  }

  private finish(): void {
    this.ended = true;
    this.host.finished(this);
  }

  /** Hands a held exchange back to the core as gone: the engine keeps its mail queued. */
  private release(exchange: TunnelExchange): void {
    exchange.close();
    if (exchange.held !== null) this.server.exchangeClosed(exchange);
  }

  private write(chunk: string): void {
    this.bytes += Buffer.byteLength(chunk);
    this.res.write(chunk);
    // Compression middleware (`compression`) buffers until told to flush.
    (this.res as { flush?: () => void }).flush?.();
    if (!this.ended) this.host.wrote(this);
  }
}

function resubmit(tunnel: Tunnel): void {
  tunnel.resubmit();
}

const kTunnel = Symbol('bayeux.tunnel');
type WatchedResponse = ServerResponse & { [kTunnel]?: Tunnel };

/** One shared listener for every document: no closure per tunnel. */
function onTunnelResponseClose(this: WatchedResponse): void {
  this[kTunnel]?.closed();
}

/**
 * The connect the tunnel submits after each answer: the client's own, without its `id`
 * (the client matches the answer to whichever connect it has pending), its `advice`
 * (`timeout: 0` would stop the hold) and the per-request parts of `ext` (`ack` must come
 * from the client; `timesync` carries the client's send time).
 */
function nextConnectOf(opening: Record<string, unknown>, connectionType: string): Record<string, unknown> {
  const next: Record<string, unknown> = { channel: '/meta/connect', connectionType };
  if (opening.clientId !== undefined) next.clientId = opening.clientId;
  const ext = opening.ext;
  if (typeof ext === 'object' && ext !== null && !Array.isArray(ext)) {
    const { ack: _ack, timesync: _timesync, ...rest } = ext as Record<string, unknown>;
    if (Object.keys(rest).length > 0) next.ext = rest;
  }
  return next;
}

/**
 * Whether the document must end after this answer, and why; null to go on streaming. The
 * connect reply is the last part of every connect answer. `acked`: the `ext.ack` of the
 * client's connect that opened the document.
 */
function verdict(exchange: TunnelExchange, parts: readonly string[], holdTimeout: number, acked: unknown): SignOffReason | null {
  let reply: ConnectReplyShape;
  try {
    reply = JSON.parse(parts[parts.length - 1] ?? 'null') as ConnectReplyShape;
  } catch {
    return 'advice';
  }
  // No connect reply (an extension deleted it): the client would wait in vain on this document.
  if (reply === null || typeof reply !== 'object' || reply.channel !== '/meta/connect') return 'advice';
  if (reply.successful !== true) return 'advice';
  const advice = reply.advice;
  if (advice !== undefined && advice !== null) {
    if (advice.reconnect !== undefined && advice.reconnect !== 'retry') return 'advice';
    if (typeof advice.interval === 'number' && advice.interval > 0) return 'advice';
    if (advice['multiple-clients'] === true) return 'advice';
  }
  // Every connect reply of an acknowledged session is numbered. One that brings mail, or a
  // number the client has not acknowledged yet, ends the document: the server's own connects
  // carry no acknowledgement, so the client's next connect must. An empty reply numbered as
  // the client already acknowledged needs nothing of it: streaming goes on.
  const ack = reply.ext?.ack;
  if (ack !== undefined && (parts.length > 1 || ack !== acked)) return 'ack';
  // A held connect of ours answered without mail well before its timeout: a newer connect
  // of the session superseded it (or the server is closing). Taking the session back would
  // start a ping-pong between the two connections.
  if (exchange.synthesized && parts.length === 1 && Date.now() - exchange.startedAt < holdTimeout / 2) return 'takeover';
  return null;
}

interface ConnectReplyShape {
  channel?: unknown;
  successful?: unknown;
  advice?: { reconnect?: unknown; interval?: unknown; 'multiple-clients'?: unknown } | null;
  ext?: { ack?: unknown } | null;
}
