/**
 * A raw-HTTP test harness: a Bayeux server on 127.0.0.1 (port 0) behind plain node:http,
 * and a minimal Bayeux client built on `fetch`, so specs see exactly the bytes on the wire.
 * Every request has a time limit, so a server that hangs fails the spec instead of stalling it.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  BayeuxServer,
  createHandler,
  type BayeuxServerEvents,
  type BayeuxServerOptions,
  type HandlerOptions,
} from '../../index.js';

/** A message as the server wrote it: the specs inspect fields, so values are loosely typed. */
export type WireMessage = Record<string, unknown> & { channel: string };

/** What came back from one HTTP request. */
export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** Default limit for a request the server should answer promptly. */
export const REQUEST_LIMIT_MS = 5000;

/** A Bayeux server listening on 127.0.0.1 with the node:http handler mounted at `/cometd`. */
export class RawServer {
  private constructor(
    readonly bayeux: BayeuxServer,
    readonly http: http.Server,
    /** `http://127.0.0.1:<port>` */
    readonly origin: string,
  ) {}

  /** The Bayeux endpoint, `<origin>/cometd`. */
  get url(): string {
    return this.origin + '/cometd';
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Starts a server; requests outside the mount path get a 404 from the fallback. */
  static async start(options: BayeuxServerOptions = {}, handlerOptions: HandlerOptions = { path: '/cometd' }): Promise<RawServer> {
    const bayeux = new BayeuxServer(options);
    const handle = createHandler(bayeux, handlerOptions);
    const server = http.createServer((req, res) =>
      handle(req, res, () => {
        res.writeHead(404, { 'Content-Type': 'text/plain', 'X-Fallback': 'next' });
        res.end('not bayeux\n');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new RawServer(bayeux, server, `http://127.0.0.1:${port}`);
  }

  /** POSTs a body as it is. */
  post(body: string | Uint8Array, contentType: string | null = 'application/json', path = '/cometd', init: RequestInit = {}): Promise<RawResponse> {
    const headers = new Headers(init.headers);
    if (contentType !== null) headers.set('Content-Type', contentType);
    return request(this.origin + path, { ...init, method: 'POST', body: body as RequestInit['body'], headers });
  }

  /** Any request, as it is. */
  request(path: string, init: RequestInit = {}): Promise<RawResponse> {
    return request(this.origin + path, init);
  }

  /** POSTs messages as JSON, expects HTTP 200 and returns the parsed array. */
  async send(messages: unknown, init: RequestInit = {}): Promise<WireMessage[]> {
    const r = await this.post(JSON.stringify(messages), 'application/json', '/cometd', init);
    return expectBatch(r);
  }

  /** A fresh client (not yet handshaken). */
  client(): RawClient {
    return new RawClient(this);
  }

  /** A client that has handshaken and made its first connect. */
  async connectedClient(): Promise<RawClient> {
    const c = this.client();
    await c.handshake();
    await c.connect();
    return c;
  }

  /** Closes the Bayeux server (answering held connects), then the HTTP server and its sockets. */
  async close(): Promise<void> {
    await this.bayeux.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** Checks an HTTP answer is a 200 JSON array and returns it. */
export function expectBatch(r: RawResponse): WireMessage[] {
  if (r.status !== 200) throw new Error(`expected HTTP 200, got ${r.status}: ${r.text.trim()}`);
  const value: unknown = JSON.parse(r.text);
  if (!Array.isArray(value)) throw new Error(`expected a JSON array, got ${r.text}`);
  return value as WireMessage[];
}

/** fetch with a time limit; the text body is read in full. */
export async function request(url: string, init: RequestInit = {}, limitMs = REQUEST_LIMIT_MS): Promise<RawResponse> {
  const signals = [AbortSignal.timeout(limitMs)];
  if (init.signal) signals.push(init.signal);
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.any(signals) });
  } catch (err) {
    if (signals[0]!.aborted) throw new Error(`no answer to ${init.method ?? 'GET'} ${url} within ${limitMs} ms`);
    throw err;
  }
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A minimal Bayeux long-polling client speaking raw JSON. */
export class RawClient {
  clientId: string | undefined;
  private nextId = 0;

  constructor(readonly server: RawServer) {}

  /** Sends one message or a batch; fills in `clientId` (when handshaken) and a fresh `id` unless present. */
  async send(messages: Record<string, unknown> | Record<string, unknown>[], init: RequestInit = {}): Promise<WireMessage[]> {
    const list = (Array.isArray(messages) ? messages : [messages]).map((m) => this.fill(m));
    return this.server.send(list, init);
  }

  /** Adds `clientId` and `id` unless the message has them (use `undefined` values to leave them out). */
  fill(m: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = { ...m };
    if (!('clientId' in m) && this.clientId !== undefined) out.clientId = this.clientId;
    if (!('id' in m)) out.id = String(++this.nextId);
    return out;
  }

  /** Handshakes (long-polling) and remembers the clientId; throws if refused. */
  async handshake(extra: Record<string, unknown> = {}): Promise<WireMessage> {
    const [reply] = await this.send({
      channel: '/meta/handshake',
      version: '1.0',
      minimumVersion: '1.0',
      supportedConnectionTypes: ['long-polling'],
      ...extra,
    });
    if (!reply || reply.successful !== true) throw new Error(`handshake refused: ${JSON.stringify(reply)}`);
    this.clientId = reply.clientId as string;
    return reply;
  }

  /** One `/meta/connect`; resolves with the whole response (deliveries, then the reply). */
  connect(extra: Record<string, unknown> = {}, init: RequestInit = {}): Promise<WireMessage[]> {
    return this.send({ channel: '/meta/connect', connectionType: 'long-polling', ...extra }, init);
  }

  subscribe(subscription: unknown, extra: Record<string, unknown> = {}): Promise<WireMessage[]> {
    return this.send({ channel: '/meta/subscribe', subscription, ...extra });
  }

  unsubscribe(subscription: unknown, extra: Record<string, unknown> = {}): Promise<WireMessage[]> {
    return this.send({ channel: '/meta/unsubscribe', subscription, ...extra });
  }

  publish(channel: string, data: unknown, extra: Record<string, unknown> = {}): Promise<WireMessage[]> {
    return this.send({ channel, data, ...extra });
  }

  disconnect(extra: Record<string, unknown> = {}): Promise<WireMessage[]> {
    return this.send({ channel: '/meta/disconnect', ...extra });
  }

  /** Subscribes and checks that it succeeded. */
  async mustSubscribe(subscription: string | string[]): Promise<void> {
    const r = await this.subscribe(subscription);
    const reply = r.find((m) => m.channel === '/meta/subscribe');
    if (!reply || reply.successful !== true) throw new Error(`subscribe to ${String(subscription)} failed: ${JSON.stringify(r)}`);
  }
}

/** The messages of a response on `channel`. */
export function on(messages: readonly WireMessage[], channel: string): WireMessage[] {
  return messages.filter((m) => m.channel === channel);
}

/** The one reply on `channel` (a message with `successful`); throws when there is not exactly one. */
export function replyOn(messages: readonly WireMessage[], channel: string): WireMessage {
  const found = messages.filter((m) => m.channel === channel && 'successful' in m);
  if (found.length !== 1) throw new Error(`expected one reply on ${channel}, got ${JSON.stringify(messages)}`);
  return found[0]!;
}

/** The deliveries of a response (messages that carry `data`). */
export function deliveries(messages: readonly WireMessage[]): WireMessage[] {
  return messages.filter((m) => 'data' in m);
}

/** Polls `condition` every few ms until it holds; fails with `what` after `limitMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, limitMs = 2000): Promise<void> {
  const end = Date.now() + limitMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > end) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the server holds a connect of `clientId`. */
export function waitForHold(server: RawServer, clientId: string | undefined, limitMs = 2000): Promise<void> {
  return waitUntil(() => clientId !== undefined && server.bayeux.connects.get(clientId) !== undefined, `a held connect of ${clientId}`, limitMs);
}

/** Resolves with the arguments of the server's next `event`, or fails after `limitMs`. */
export function nextEvent<E extends keyof BayeuxServerEvents>(
  bayeux: BayeuxServer,
  event: E,
  limitMs = 2000,
): Promise<Parameters<BayeuxServerEvents[E]>> {
  type Args = Parameters<BayeuxServerEvents[E]>;
  // EventEmitter3's typed signatures do not resolve for a generic event name; the listener is exact at run time.
  const emitter = bayeux as unknown as {
    once(event: string, fn: (...args: Args) => void): unknown;
    off(event: string, fn: (...args: Args) => void): unknown;
  };
  return new Promise((resolve, reject) => {
    const fn = (...args: Args): void => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`no '${event}' event within ${limitMs} ms`));
    }, limitMs);
    emitter.once(event, fn);
  });
}

/** The HTTP status line and full text a raw TCP exchange produced (for bodies fetch cannot send). */
export interface RawTcpResult {
  status: number | null;
  text: string;
  /** How it ended: a complete response arrived, the server closed the socket, or our time limit passed. */
  ended: 'answered' | 'closed' | 'timeout';
}

/** True when `text` holds a whole response with a Content-Length body. */
function complete(text: string): boolean {
  const head = text.indexOf('\r\n\r\n');
  if (head < 0) return false;
  const m = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head));
  return m !== null && Buffer.byteLength(text.slice(head + 4), 'latin1') >= Number(m[1]);
}

/**
 * Writes `chunks` to a new TCP connection (each after the previous one is flushed) and
 * collects what comes back until one whole response arrived, the server closes the socket
 * or `limitMs` passes. Stops writing once the server has started to answer.
 */
export function rawTcp(port: number, chunks: (string | Buffer)[], limitMs = 3000): Promise<RawTcpResult> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let finished = false;
    const finish = (ended: RawTcpResult['ended']): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, text, ended });
    };
    const timer = setTimeout(() => finish('timeout'), limitMs);
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (complete(text)) finish('answered');
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', () => finish('closed'));
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (finished || text.length > 0) break;
        await new Promise<void>((r) => socket.write(c, () => r()));
      }
    });
  });
}
