/**
 * A raw Bayeux client on a `ws` WebSocket, for specs that must see frames as they are: each
 * incoming text frame is kept as one parsed array, so a spec can check which messages came
 * together. Every wait is bounded (spec/support/wait.ts); `closeAllWsClients` ends whatever a
 * spec left open.
 */
import http from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import type { WireMessage } from './raw-client.js';
import { Inbox, deferred, withTimeout, WAIT_MS } from './wait.js';

/** How a socket closed, as the client saw it. */
export interface Closed {
  code: number;
  reason: string;
}

const open = new Set<WsClient>();

/** Terminates every client opened through this module and not closed yet (for afterEach). */
export function closeAllWsClients(): void {
  for (const c of open) c.terminate();
  open.clear();
}

/** `http://host:port/path` → `ws://host:port/path`. */
export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

export class WsClient {
  /** Every text frame received, parsed (the server sends arrays). */
  readonly frames = new Inbox<WireMessage[]>();
  /** Every message received, in order, whichever frame it came in. */
  readonly messages = new Inbox<WireMessage>();
  /** Pings received from the server. */
  pings = 0;
  clientId: string | undefined;
  private nextId = 0;
  private readonly closing = deferred<Closed>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) throw new Error('the server sent a binary frame');
      const frame = JSON.parse(data.toString()) as WireMessage[];
      this.frames.push(frame);
      for (const m of frame) this.messages.push(m);
    });
    ws.on('ping', () => this.pings++);
    ws.on('close', (code, reason) => {
      open.delete(this);
      this.closing.resolve({ code, reason: reason.toString() });
    });
    // A close the server initiates can surface as an error (e.g. ECONNRESET); 'close' follows.
    ws.on('error', () => {});
  }

  /** Opens a socket; rejects (with the HTTP status, when there is one) if the upgrade is refused. */
  static async open(url: string, options: ClientOptions = {}): Promise<WsClient> {
    const ws = new WebSocket(wsUrl(url), options);
    const client = new WsClient(ws);
    open.add(client);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => {
          res.resume();
          ws.terminate();
          reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
        });
        ws.once('error', reject);
      }),
      `the socket to ${url} to open`,
    );
    return client;
  }

  /** Resolves with the close code and reason once the socket has closed. */
  closed(what = 'the socket to close', ms = WAIT_MS): Promise<Closed> {
    return withTimeout(this.closing.promise, what, ms);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  terminate(): void {
    this.ws.terminate();
  }

  /** Sends text (or a Buffer, as a binary frame) as it is. */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Adds `clientId` and `id` unless the message has them (give `undefined` to leave them out). */
  fill(m: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = { ...m };
    if (!('clientId' in m) && this.clientId !== undefined) out.clientId = this.clientId;
    if (!('id' in m)) out.id = String(++this.nextId);
    return out;
  }

  /** Sends messages in one frame (filled in); returns them as sent. */
  send(messages: Record<string, unknown>[]): Record<string, unknown>[] {
    const list = messages.map((m) => this.fill(m));
    this.ws.send(JSON.stringify(list));
    return list;
  }

  /** The first frame (counting from `from`) holding a message that answers `id`. */
  async frameAnswering(id: string, what: string, ms = WAIT_MS, from = 0): Promise<WireMessage[]> {
    const test = (f: WireMessage[]): boolean => f.some((m) => m.id === id && 'successful' in m);
    await this.frames.until((f) => test(f) && this.frames.items.indexOf(f) >= from, what, ms);
    return this.frames.items.slice(from).find(test)!;
  }

  /** Sends messages in one frame and resolves with the frame holding the reply to the last. */
  async request(messages: Record<string, unknown>[], what?: string, ms = WAIT_MS): Promise<WireMessage[]> {
    const from = this.frames.length;
    const sent = this.send(messages);
    const id = sent[sent.length - 1]!.id as string;
    return this.frameAnswering(id, what ?? `the reply to ${JSON.stringify(sent)}`, ms, from);
  }

  /** Handshakes over this socket and remembers the clientId; throws if refused. */
  async handshake(): Promise<WireMessage> {
    const frame = await this.request([
      { channel: '/meta/handshake', version: '1.0', minimumVersion: '1.0', supportedConnectionTypes: ['websocket', 'long-polling'] },
    ]);
    const reply = frame.find((m) => m.channel === '/meta/handshake')!;
    if (reply.successful !== true) throw new Error(`handshake refused: ${JSON.stringify(reply)}`);
    this.clientId = reply.clientId as string;
    return reply;
  }

  /** Sends a `/meta/connect` (not awaited: it may be held); returns its id. */
  connect(extra: Record<string, unknown> = {}): string {
    return this.send([{ channel: '/meta/connect', connectionType: 'websocket', ...extra }])[0]!.id as string;
  }

  /** Handshake, then the first connect (answered at once), checked successful. */
  async handshakeAndConnect(): Promise<void> {
    await this.handshake();
    const id = this.connect({ advice: { timeout: 0 } });
    const frame = await this.frameAnswering(id, 'the first connect reply');
    const reply = frame.find((m) => m.id === id)!;
    if (reply.successful !== true) throw new Error(`connect failed: ${JSON.stringify(reply)}`);
  }

  /** Subscribes, checked successful. */
  async subscribe(subscription: string): Promise<void> {
    const frame = await this.request([{ channel: '/meta/subscribe', subscription }]);
    const reply = frame.find((m) => m.channel === '/meta/subscribe');
    if (reply?.successful !== true) throw new Error(`subscribe to ${subscription} failed: ${JSON.stringify(frame)}`);
  }
}

/** What a raw HTTP upgrade request got back. */
export interface UpgradeAnswer {
  /** The HTTP status (101 when the upgrade was accepted). */
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends a WebSocket upgrade request with exactly the given headers (on top of the ones the
 * handshake needs) and resolves with the status: 101 on success (the socket is then closed
 * at once), otherwise the refusal's status and body.
 */
export function rawUpgrade(origin: string, path: string, headers: Record<string, string> = {}, ms = WAIT_MS): Promise<UpgradeAnswer> {
  const req = http.request(origin + path, {
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      ...headers,
    },
    agent: false,
  });
  const answered = new Promise<UpgradeAnswer>((resolve, reject) => {
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  req.end();
  return withTimeout(answered, `an answer to the upgrade of ${path}`, ms).finally(() => req.destroy());
}
