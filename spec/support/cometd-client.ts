/**
 * The real CometD JavaScript client (npm `cometd` 9) running in Node through
 * `cometd-nodejs-client` 2.0.0, with promise helpers for specs.
 *
 * Two things in the Node adapter are worked around here, never in the server:
 *
 * 1. Response decoding. The adapter's XMLHttpRequest appends each response chunk to a
 *    string as it arrives (`responseText += chunk`, a Buffer), which decodes every chunk
 *    on its own: a multi-byte UTF-8 character split across two chunks turns into U+FFFD
 *    replacement characters. Large responses (tens of KB of non-ASCII text) get mangled.
 *    Its fields are private, so the fix is at the HTTP level: our subclass hands each
 *    request an agent that calls `response.setEncoding('utf8')` before the adapter reads
 *    it. Node's stream decoder then keeps split characters whole, and the adapter appends
 *    strings instead of Buffers.
 *
 * 2. Cookies. The adapter keeps server cookies in one jar shared by every client in the
 *    process. Each client here gets its own jar, through the adapter's `cookies` hooks:
 *    the jar travels on the transport's `context`, which CometD copies onto each request.
 *
 * Also: `adapt()` installs a WebSocket (from `ws`), so CometD tries WebSocket first. Specs
 * about the HTTP transports unregister it; the WebSocket specs keep it.
 */
import http from 'node:http';
import { CometD, type Configuration, type Message, type SubscriptionHandle } from 'cometd';
import { adapt } from 'cometd-nodejs-client';
import { Inbox, WAIT_MS, deferred, withTimeout } from './wait.js';

/** Cookies of one client: name -> `name=value`. */
type CookieJar = Map<string, string>;
interface TransportContext {
  cookieJar: CookieJar;
}
const JAR = Symbol('cookieJar');

/** Sets `utf8` decoding on every response before anyone reads it (see the file comment). */
class DecodingAgent extends http.Agent {
  // addRequest is how an agent receives each ClientRequest; the response listener we add
  // runs before the adapter's own (prepended), so no Buffer chunk ever reaches it.
  addRequest(req: http.ClientRequest, options: http.RequestOptions): void {
    req.prependListener('response', (res: http.IncomingMessage) => res.setEncoding('utf8'));
    (http.Agent.prototype as unknown as { addRequest(r: http.ClientRequest, o: http.RequestOptions): void }).addRequest.call(
      this,
      req,
      options,
    );
  }
}

interface AdapterXhr {
  context?: TransportContext;
  open(method: string, uri: string | URL): void;
}
type AdapterXhrClass = new () => AdapterXhr;
interface NodeWindow {
  XMLHttpRequest: AdapterXhrClass;
}

let installed = false;

/** Installs the Node adapter and our fixes once per process. */
export function installCometDAdapter(): void {
  if (installed) return;
  installed = true;
  adapt({
    cookies: {
      storeCookie(uri: URL & { [JAR]?: CookieJar }, header: string, callback: (failure: Error | null, cookie: unknown) => void) {
        const jar = uri[JAR];
        const nameValue = header.split(';')[0]!.trim();
        const eq = nameValue.indexOf('=');
        if (jar && eq > 0) jar.set(nameValue.slice(0, eq), nameValue);
        callback(null, nameValue);
      },
      retrieveCookies(context: TransportContext | undefined, _uri: URL, callback: (failure: Error | null, cookies: string[]) => void) {
        callback(null, context?.cookieJar ? [...context.cookieJar.values()] : []);
      },
    },
  });
  const win = (globalThis as unknown as { window: NodeWindow }).window;
  const agent = new DecodingAgent({ keepAlive: true });
  const Base = win.XMLHttpRequest;
  win.XMLHttpRequest = class DecodingXMLHttpRequest extends Base {
    override open(method: string, uri: string | URL): void {
      // The adapter keeps a URL object it is given as its request options: we can then
      // replace the agent it chose and tag the options with this client's cookie jar.
      const url = uri instanceof URL ? uri : new URL(uri);
      super.open(method, url);
      const options = url as URL & { agent?: http.Agent; [JAR]?: CookieJar };
      options.agent = agent;
      if (this.context?.cookieJar) options[JAR] = this.context.cookieJar;
    }
  };
}

/** Client configuration on top of the URL (any CometD `Configuration` field). */
export type CometDOptions = Omit<Configuration, 'url'>;

const clients = new Set<CometDClient>();

/** Disconnects every client created and not closed yet (for afterEach). */
export async function closeAllCometDClients(): Promise<void> {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((c) => c.close()));
}

function failed(what: string, reply: Message): Error {
  const failure = (reply as { failure?: { reason?: string } }).failure;
  return new Error(`${what} failed: ${reply.error ?? failure?.reason ?? JSON.stringify(reply)}`);
}

/** A CometD client for one spec, with promise-returning operations. */
export class CometDClient {
  readonly cometd: CometD;
  /** This client's cookies (its own jar; the server sets none yet). */
  readonly cookies: CookieJar = new Map();
  /** Every successful handshake reply, in order (re-handshakes included). */
  readonly handshakes = new Inbox<Message>();
  /** Every successful `/meta/connect` reply. */
  readonly connects = new Inbox<Message>();
  /**
   * Every delivery as it came off the wire (before the client fans it out to its local
   * subscriptions), recorded by an incoming extension: one entry per message the server sent.
   */
  readonly wire = new Inbox<Message>();

  /** `transport: 'websocket'` keeps CometD's own first choice; by default the client runs on long-polling. */
  constructor(url: string, options: CometDOptions = {}, { transport = 'long-polling' }: { transport?: 'websocket' | 'long-polling' } = {}) {
    installCometDAdapter();
    this.cometd = new CometD();
    if (transport === 'long-polling') this.cometd.unregisterTransport('websocket');
    const lp = this.cometd.findTransport('long-polling') as unknown as { context?: TransportContext };
    lp.context = { cookieJar: this.cookies };
    this.cometd.configure({
      url,
      logLevel: 'warn',
      // Quick retries: specs restart servers and cut connections on purpose.
      backoffIncrement: 100,
      maxBackoff: 500,
      ...options,
    });
    this.cometd.addListener('/meta/handshake', (m: Message) => {
      if (m.successful) this.handshakes.push(m);
    });
    this.cometd.addListener('/meta/connect', (m: Message) => {
      if (m.successful) this.connects.push(m);
    });
    this.cometd.registerExtension('wire-recorder', {
      incoming: (m: Message) => {
        if (!m.channel.startsWith('/meta/') && m.data !== undefined) this.wire.push(m);
        return m;
      },
    });
    clients.add(this);
  }

  get clientId(): string | null {
    return this.cometd.getClientId();
  }

  get status(): string {
    return this.cometd.getStatus();
  }

  /** Deliveries received on the wire for `channel`. */
  wireOn(channel: string): Message[] {
    return this.wire.items.filter((m) => m.channel === channel);
  }

  /** Handshakes; resolves with the successful reply. */
  handshake(ms = WAIT_MS): Promise<Message> {
    const d = deferred<Message>();
    this.cometd.handshake((reply: Message) => (reply.successful ? d.resolve(reply) : d.reject(failed('handshake', reply))));
    return withTimeout(d.promise, 'the CometD handshake reply', ms);
  }

  /** Subscribes; resolves once the server acknowledged the subscription. */
  async subscribe(channel: string, onMessage: (m: Message) => void, ms = WAIT_MS): Promise<SubscriptionHandle> {
    const d = deferred<Message>();
    const handle = this.cometd.subscribe(channel, onMessage, (reply: Message) =>
      reply.successful ? d.resolve(reply) : d.reject(failed(`subscribe to ${channel}`, reply)),
    );
    await withTimeout(d.promise, `the CometD subscribe reply for ${channel}`, ms);
    return handle;
  }

  /** Unsubscribes; resolves once the server acknowledged. */
  unsubscribe(handle: SubscriptionHandle, ms = WAIT_MS): Promise<Message> {
    const d = deferred<Message>();
    this.cometd.unsubscribe(handle, (reply: Message) => (reply.successful ? d.resolve(reply) : d.reject(failed('unsubscribe', reply))));
    return withTimeout(d.promise, 'the CometD unsubscribe reply', ms);
  }

  /** Publishes; resolves with the server's acknowledgement. */
  publish(channel: string, data: unknown, ms = WAIT_MS): Promise<Message> {
    const d = deferred<Message>();
    this.cometd.publish(channel, data, (reply: Message) =>
      reply.successful ? d.resolve(reply) : d.reject(failed(`publish to ${channel}`, reply)),
    );
    return withTimeout(d.promise, `the CometD publish reply for ${channel}`, ms);
  }

  /**
   * `remoteCall(target)` publishes to `/service<target>` and resolves with the message the
   * server delivered back with the same `id` (successful or not).
   */
  remoteCall(target: string, data: unknown, timeoutMs = 3000): Promise<Message> {
    const d = deferred<Message>();
    this.cometd.remoteCall(target, data, timeoutMs, (reply: Message) => d.resolve(reply));
    return withTimeout(d.promise, `the CometD remote call to ${target}`, timeoutMs + 1000);
  }

  /** Disconnects; resolves with the reply (null if it was not connected). */
  disconnect(ms = WAIT_MS): Promise<Message | null> {
    if (this.cometd.isDisconnected()) return Promise.resolve(null);
    const d = deferred<Message | null>();
    this.cometd.disconnect((reply: Message) => d.resolve(reply));
    return withTimeout(d.promise, 'the CometD disconnect reply', ms);
  }

  /** Disconnects if needed, bounded, never throws (cleanup after each test). */
  async close(): Promise<void> {
    clients.delete(this);
    try {
      await this.disconnect(2000);
    } catch {
      // The server may be gone already; the client is stopped either way below.
    }
    this.cometd.clearListeners();
    this.cometd.clearSubscriptions();
  }
}
