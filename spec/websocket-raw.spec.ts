/**
 * The WebSocket transport seen frame by frame, with raw `ws` clients (and raw HTTP upgrade
 * requests where the status of a refused upgrade matters): the Bayeux exchange on one
 * socket, bad input and the close code each gets, the origin policy, upgrades outside the
 * mount path, pings, the first-message timeout, sessions carried over to a new socket, a
 * client that stops reading, drain and close, and option checks.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect } from 'chai';
import { WebSocket, WebSocketServer } from 'ws';
import {
  BayeuxServer,
  createHandler,
  longPolling,
  webSocket,
  type BayeuxServerOptions,
  type CodedError,
  type HandlerOptions,
  type WebSocketOptions,
  type WebSocketTransport,
} from '../index.js';
import type { WireMessage } from './support/raw-client.js';
import { startServer, stopAllServers, type RunningServer } from './support/servers.js';
import { Inbox, waitUntil, withTimeout } from './support/wait.js';
import { WsClient, closeAllWsClients, rawUpgrade, wsUrl } from './support/ws-client.js';

/** A Bayeux server on node:http whose WebSocket transport the spec configures. */
interface WsServer {
  readonly bayeux: BayeuxServer;
  readonly http: http.Server;
  readonly transport: WebSocketTransport;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** `<origin>/cometd` */
  readonly url: string;
  /** Errors the server reported (`error` event): none expected. */
  readonly errors: unknown[];
  stop(): Promise<void>;
}

const servers = new Set<WsServer>();

async function startWsServer(
  options: BayeuxServerOptions = {},
  ws: WebSocketOptions = {},
  handlerOptions: Omit<HandlerOptions, 'path' | 'transports'> = {},
): Promise<WsServer> {
  const bayeux = new BayeuxServer(options);
  const errors: unknown[] = [];
  bayeux.on('error', (err) => errors.push(err));
  const transport = webSocket(ws);
  const handler = createHandler(bayeux, { path: '/cometd', transports: [transport, longPolling()], ...handlerOptions });
  const server = http.createServer((req, res) => handler(req, res));
  server.on('upgrade', handler.upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopping: Promise<void> | null = null;
  const s: WsServer = {
    bayeux,
    http: server,
    transport,
    origin,
    url: origin + '/cometd',
    errors,
    stop() {
      servers.delete(s);
      stopping ??= (async () => {
        await bayeux.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return stopping;
    },
  };
  servers.add(s);
  return s;
}

/** Errors reported by servers of this spec; checked after each test. */
function expectNoServerErrors(): void {
  for (const s of servers) expect(s.errors, 'errors the server reported').to.deep.equal([]);
}

/** A fresh socket on the server completes handshake and connect: the server is unharmed. */
async function expectServerWorks(url: string): Promise<void> {
  const c = await WsClient.open(url);
  await c.handshakeAndConnect();
  c.terminate();
}

function replyTo(frame: readonly WireMessage[], id: string): WireMessage {
  const found = frame.filter((m) => m.id === id && 'successful' in m);
  if (found.length !== 1) throw new Error(`expected one reply to id ${id}, got ${JSON.stringify(frame)}`);
  return found[0]!;
}

const SESSION_UNKNOWN = { successful: false, error: '402::session_unknown', advice: { reconnect: 'handshake', interval: 0 } };

describe('WebSocket, raw', function () {
  afterEach(async function () {
    closeAllWsClients();
    if (this.currentTest?.state === 'passed') expectNoServerErrors();
    await Promise.all([...servers].map((s) => s.stop()));
    await stopAllServers();
  });

  describe('one socket, by hand', function () {
    let server: RunningServer;
    beforeEach(async function () {
      // A short hold, so that a spec can see it end.
      server = await startServer('node:http', { timeout: 500 });
    });

    it('handshakes, connects, subscribes and publishes; the replies to one frame come in one frame', async function () {
      const c = await WsClient.open(server.url);
      const handshake = await c.handshake();
      expect(handshake.supportedConnectionTypes, 'websocket advertised first').to.have.property('0', 'websocket');
      expect(c.frames.items[0], 'the handshake reply alone in its frame').to.have.length(1);

      const first = c.connect();
      expect(replyTo(await c.frameAnswering(first, 'the first connect reply'), first)).to.deep.include({ successful: true });

      // Three messages in one frame: their three replies in one frame.
      const frame = await c.request([
        { channel: '/meta/subscribe', subscription: '/raw/a', id: 'sa' },
        { channel: '/meta/subscribe', subscription: '/raw/b', id: 'sb' },
        { channel: '/raw/a', data: { n: 1 }, id: 'pa' },
      ]);
      expect(replyTo(frame, 'sa')).to.deep.include({ successful: true, subscription: '/raw/a' });
      expect(replyTo(frame, 'sb')).to.deep.include({ successful: true, subscription: '/raw/b' });
      expect(replyTo(frame, 'pa')).to.deep.include({ successful: true, channel: '/raw/a' });

      // The client's own publish comes back (broadcastToPublisher), at the latest with its next connect.
      c.connect();
      const delivery = await c.messages.until((m) => m.channel === '/raw/a' && 'data' in m, 'the delivery of the own publish');
      expect(delivery).to.deep.equal({ channel: '/raw/a', data: { n: 1 } });
    });

    it('accepts a frame holding one message object instead of an array, and answers with an array', async function () {
      const c = await WsClient.open(server.url);
      c.sendRaw(JSON.stringify({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'], id: 'h' }));
      const frame = await c.frameAnswering('h', 'the handshake reply');
      expect(frame).to.be.an('array').with.length(1);
      expect(frame[0]).to.deep.include({ channel: '/meta/handshake', successful: true });
      c.clientId = frame[0]!.clientId as string;
      c.sendRaw(JSON.stringify({ channel: '/meta/connect', connectionType: 'websocket', clientId: c.clientId, id: 'c' }));
      expect(replyTo(await c.frameAnswering('c', 'the connect reply'), 'c')).to.deep.include({ successful: true });
    });

    it('holds a connect until `timeout`, then answers it', async function () {
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      const sent = Date.now();
      const id = c.connect();
      await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');
      const frame = await c.frameAnswering(id, 'the held connect reply', 5000);
      // Timers never fire early: the answer cannot come before the hold's timeout.
      expect(Date.now() - sent).to.be.at.least(490);
      expect(frame).to.have.length(1);
      expect(replyTo(frame, id)).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 500 } });
      expect(server.bayeux.connects.get(c.clientId!), 'no longer held').to.equal(undefined);
    });

    it('writes a delivery at once, in its own frame, while the connect stays held; the connect reply comes later', async function () {
      // A hold long enough that the delivery cannot be riding on its answer.
      await server.stop();
      server = await startServer('node:http', { timeout: 3000 });
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      await c.subscribe('/raw/stream');
      const id = c.connect();
      await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');
      const before = c.frames.length;

      expect(await server.bayeux.publish('/raw/stream', { n: 1 })).to.equal(1);
      const frame = await c.frames.nth(before, 'the delivery frame');
      expect(frame).to.deep.equal([{ channel: '/raw/stream', data: { n: 1 } }]);
      expect(server.bayeux.connects.get(c.clientId!), 'the connect is still held').to.not.equal(undefined);
      expect(c.messages.items.some((m) => m.id === id), 'no connect reply yet').to.equal(false);

      // A second delivery, from another client's publish: also at once, also alone.
      const other = await WsClient.open(server.url);
      await other.handshakeAndConnect();
      await other.request([{ channel: '/raw/stream', data: { n: 2 } }]);
      expect(await c.frames.nth(before + 1, 'the second delivery frame')).to.deep.equal([{ channel: '/raw/stream', data: { n: 2 } }]);
      expect(server.bayeux.connects.get(c.clientId!), 'the connect is still held').to.not.equal(undefined);

      const reply = await c.frameAnswering(id, 'the held connect reply, at its timeout', 8000, before);
      expect(reply).to.have.length(1);
      expect(replyTo(reply, id)).to.deep.include({ successful: true });
    });
  });

  describe('bad input', function () {
    let server: WsServer;
    beforeEach(async function () {
      server = await startWsServer({ maxBodyBytes: 4096 });
    });

    /** Opens a socket, sends `data` as its first frame, and returns how the server closed it. */
    async function closeAfter(data: string | Buffer, url = server.url): Promise<number> {
      const c = await WsClient.open(url);
      c.sendRaw(data);
      return (await c.closed(`the server to close the socket after ${String(data).slice(0, 40)}`)).code;
    }

    it('closes with 1003 on a binary frame', async function () {
      expect(await closeAfter(Buffer.from(JSON.stringify([{ channel: '/meta/handshake' }])))).to.equal(1003);
      await expectServerWorks(server.url);
    });

    it('closes with 1007 on text that is not JSON', async function () {
      expect(await closeAfter('[{"channel": "/meta/handshake"')).to.equal(1007);
      expect(await closeAfter('hello')).to.equal(1007);
      await expectServerWorks(server.url);
    });

    it('closes with 1007 on JSON that is neither an array nor an object', async function () {
      for (const text of ['42', '"x"', 'null', 'true']) expect(await closeAfter(text), text).to.equal(1007);
      await expectServerWorks(server.url);
    });

    it('closes with 1007 on an empty array, and keeps serving', async function () {
      expect(await closeAfter('[]')).to.equal(1007);
      await expectServerWorks(server.url);
    });

    it('closes with 1007 on messages without a channel, or not objects (the core refuses the request)', async function () {
      expect(await closeAfter(JSON.stringify([{ id: '1', version: '1.0' }]))).to.equal(1007);
      expect(await closeAfter(JSON.stringify([{ channel: 42 }]))).to.equal(1007);
      expect(await closeAfter(JSON.stringify([1, 2]))).to.equal(1007);
      await expectServerWorks(server.url);
    });

    it('closes with 1009 on a frame larger than maxBodyBytes (the default frame limit)', async function () {
      const big = JSON.stringify([{ channel: '/meta/handshake', version: '1.0', ext: { pad: 'x'.repeat(5000) } }]);
      expect(await closeAfter(big)).to.equal(1009);
      await expectServerWorks(server.url);
    });

    it('closes with 1009 on a frame larger than maxFrameBytes, and takes one just under it', async function () {
      const small = await startWsServer({}, { maxFrameBytes: 1000 });
      const frame = (pad: number): string =>
        JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'], id: 'h', ext: { pad: 'x'.repeat(pad) } }]);
      const under = frame(880);
      expect(Buffer.byteLength(under)).to.be.within(950, 1000);
      const c = await WsClient.open(small.url);
      c.sendRaw(under);
      expect(replyTo(await c.frameAnswering('h', 'the handshake reply'), 'h')).to.deep.include({ successful: true });

      expect(await closeAfter(frame(1000), small.url)).to.equal(1009);
      expect(c.isOpen, 'the other socket is untouched').to.equal(true);
      await expectServerWorks(small.url);
    });

    it('answers messages before the handshake (unknown clientId: 402, none: 401) with advice to handshake, and keeps the socket open', async function () {
      const c = await WsClient.open(server.url);
      const frame = await c.request([
        { channel: '/meta/connect', connectionType: 'websocket', clientId: 'nosuchclient', id: 'c' },
        { channel: '/meta/subscribe', subscription: '/x', clientId: 'nosuchclient', id: 's' },
        { channel: '/some/channel', data: 1, clientId: 'nosuchclient', id: 'p' },
        { channel: '/meta/connect', connectionType: 'websocket', id: 'none' },
      ]);
      for (const id of ['c', 's', 'p']) expect(replyTo(frame, id), id).to.deep.include(SESSION_UNKNOWN);
      expect(replyTo(frame, 'none')).to.deep.include({ ...SESSION_UNKNOWN, error: '401::client_id_missing' });
      expect(c.isOpen).to.equal(true);
      // The client does what the advice says, on the same socket.
      await c.handshakeAndConnect();
      await expectServerWorks(server.url);
    });

    it('survives a burst of bad frames on one socket after a handshake', async function () {
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      // Refused one by one with Bayeux errors, on an open socket; then a broken frame closes it.
      const frame = await c.request([
        { channel: '/meta/subscribe', subscription: '/bad/**/x', id: 'g' },
        { channel: '/meta/unknown', id: 'm' },
        { channel: '/a/*', data: 1, id: 'w' },
        { channel: '/meta/subscribe', subscription: '/meta/connect', id: 'd' },
      ]);
      for (const id of ['g', 'm', 'w', 'd']) {
        const reply = replyTo(frame, id);
        expect(reply.successful, id).to.equal(false);
        expect(reply.error, id).to.match(/^4\d\d:/);
      }
      expect(c.isOpen).to.equal(true);
      c.sendRaw('{"channel":');
      expect((await c.closed()).code).to.equal(1007);
      await expectServerWorks(server.url);
    });
  });

  describe('origin policy', function () {
    let server: WsServer;
    beforeEach(async function () {
      server = await startWsServer({}, {}, { cors: { origins: ['https://app.example'] } });
    });

    it('allows an upgrade with no Origin (not a browser)', async function () {
      expect((await rawUpgrade(server.origin, '/cometd')).status).to.equal(101);
    });

    it("allows the server's own origin (that of the Host header)", async function () {
      expect((await rawUpgrade(server.origin, '/cometd', { Origin: server.origin })).status).to.equal(101);
      const c = await WsClient.open(server.url, { origin: server.origin });
      await c.handshakeAndConnect();
    });

    it('allows an origin listed in the handler’s cors.origins', async function () {
      expect((await rawUpgrade(server.origin, '/cometd', { Origin: 'https://app.example' })).status).to.equal(101);
      const c = await WsClient.open(server.url, { origin: 'https://app.example' });
      await c.handshakeAndConnect();
    });

    it('refuses `Origin: null` (sandboxed frames, file: pages) unless listed', async function () {
      expect((await rawUpgrade(server.origin, '/cometd', { Origin: 'null' })).status).to.equal(403);
    });

    it('refuses the origin of another site with 403, before any socket is opened', async function () {
      const r = await rawUpgrade(server.origin, '/cometd', { Origin: 'https://evil.example' });
      expect(r.status).to.equal(403);
      // Same host, other port: another origin.
      const port = Number(new URL(server.origin).port);
      expect((await rawUpgrade(server.origin, '/cometd', { Origin: `http://127.0.0.1:${port + 1}` })).status).to.equal(403);
      let status = 0;
      const ws = new WebSocket(wsUrl(server.url), { origin: 'https://evil.example' });
      ws.on('error', () => {});
      await withTimeout(
        new Promise<void>((resolve) =>
          ws.once('unexpected-response', (_req, res) => {
            status = res.statusCode ?? 0;
            res.resume();
            ws.terminate();
            resolve();
          }),
        ),
        'the refusal of the upgrade',
      );
      expect(status).to.equal(403);
      expect(server.transport.socketsOpened, 'no socket opened for a refused origin').to.equal(0);
    });
  });

  describe('upgrades outside the mount path', function () {
    it('refuses them with 404 when the handler is the only upgrade listener', async function () {
      const server = await startWsServer();
      expect((await rawUpgrade(server.origin, '/elsewhere')).status).to.equal(404);
      expect((await rawUpgrade(server.origin, '/cometdx')).status).to.equal(404);
      expect(server.transport.socketsOpened).to.equal(0);
      await expectServerWorks(server.url);
    });

    it('leaves them to another ws server on the same http.Server, which keeps working', async function () {
      const server = await startWsServer();
      const echo = new WebSocketServer({ noServer: true });
      echo.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
      const other = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
        if (req.url === '/echo') echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
      };
      server.http.on('upgrade', other);
      try {
        const ws = new WebSocket(wsUrl(server.origin + '/echo'));
        const got = new Inbox<string>();
        ws.on('message', (data) => got.push(data.toString()));
        await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'the echo socket to open');
        ws.send('hello');
        expect(await got.nth(0, 'the echo')).to.equal('hello');
        expect(server.transport.socketsOpened, 'Bayeux took no socket').to.equal(0);
        // And Bayeux still takes its own path, on the same server.
        await expectServerWorks(server.url);
        expect(server.transport.socketsOpened).to.equal(1);
        ws.send('again');
        expect(await got.nth(1, 'the second echo')).to.equal('again');
        ws.terminate();
      } finally {
        for (const s of echo.clients) s.terminate();
        echo.close();
        server.http.off('upgrade', other);
      }
    });
  });

  describe('malformed upgrades', function () {
    it('gets a 400 from ws for a bad WebSocket handshake, and the server is unharmed', async function () {
      const server = await startWsServer();
      expect((await rawUpgrade(server.origin, '/cometd', { 'Sec-WebSocket-Version': '7' })).status).to.equal(400);
      expect((await rawUpgrade(server.origin, '/cometd', { 'Sec-WebSocket-Key': 'short' })).status).to.equal(400);
      expect((await rawUpgrade(server.origin, '/cometd', { Upgrade: 'h2c' })).status).to.equal(400);
      expect(server.transport.socketsOpened).to.equal(0);
      await expectServerWorks(server.url);
    });

    it('a handler without the WebSocket transport refuses upgrades at once (400) and does not advertise websocket', async function () {
      const bayeux = new BayeuxServer();
      const handler = createHandler(bayeux, { path: '/cometd', transports: [longPolling()] });
      const httpServer = http.createServer((req, res) => handler(req, res));
      httpServer.on('upgrade', handler.upgrade);
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
      try {
        const origin = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
        // CometD then marks websocket unusable and falls back to long-polling.
        expect((await rawUpgrade(origin, '/cometd')).status).to.equal(400);
        const res = await fetch(origin + '/cometd', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket', 'long-polling'] }]),
        });
        const [reply] = (await res.json()) as WireMessage[];
        expect(reply!.supportedConnectionTypes).to.deep.equal(['long-polling']);
      } finally {
        await bayeux.close();
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      }
    });
  });

  describe('pings', function () {
    it('pings every pingInterval; a client that answers stays open', async function () {
      const server = await startWsServer({}, { pingInterval: 300 });
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      c.connect();
      // Several intervals with nothing sent but pongs: the pongs keep the socket alive.
      await waitUntil(() => c.pings >= 4, 'four pings', 10_000, 20);
      expect(c.isOpen).to.equal(true);
    });

    it('closes a socket that answers no ping and sends nothing; its session then expires', async function () {
      const server = await startWsServer({ maxInterval: 300, sweepInterval: 50 }, { pingInterval: 300 });
      const c = await WsClient.open(server.url, { autoPong: false });
      await c.handshakeAndConnect();
      const removed = new Promise<string>((resolve) =>
        server.bayeux.on('sessionRemoved', (id, reason) => {
          if (id === c.clientId) resolve(reason);
        }),
      );
      c.connect();
      await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');
      // A ping marks the socket; the next finds it unanswered and ends it (two intervals; generous bound).
      const closed = await c.closed('the server to end the silent socket', 10_000);
      expect(closed.code, 'terminated: no close frame').to.equal(1006);
      expect(c.pings).to.be.at.least(1);
      expect(await withTimeout(removed, 'the session to expire', 10_000)).to.equal('timeout');
      expect(server.transport.openSockets).to.equal(0);
    });
  });

  it('closes a socket that sends nothing within firstMessageTimeout with 1008', async function () {
    const server = await startWsServer({}, { firstMessageTimeout: 200 });
    // One that speaks in time, opened first: its timer would fire before the silent one's.
    const spoke = await WsClient.open(server.url);
    await spoke.handshakeAndConnect();
    const silent = await WsClient.open(server.url);
    const closed = await silent.closed('the server to close the silent socket', 10_000);
    expect(closed.code).to.equal(1008);
    expect(spoke.isOpen, 'a socket that spoke is not closed by the first-message timer').to.equal(true);
    await waitUntil(() => server.transport.openSockets === 1, 'the silent socket forgotten');
  });

  describe('requireHandshakePerConnection', function () {
    it('on: a new socket whose first frame is a connect of an existing session gets 402, and may handshake', async function () {
      const server = await startWsServer({}, { requireHandshakePerConnection: true });
      const a = await WsClient.open(server.url);
      await a.handshakeAndConnect();
      const b = await WsClient.open(server.url);
      const frame = await b.request([{ channel: '/meta/connect', connectionType: 'websocket', clientId: a.clientId, id: 'c' }]);
      expect(replyTo(frame, 'c')).to.deep.include({ ...SESSION_UNKNOWN, channel: '/meta/connect' });
      const sub = await b.request([{ channel: '/meta/subscribe', subscription: '/x', clientId: a.clientId, id: 's' }]);
      expect(replyTo(sub, 's')).to.deep.include(SESSION_UNKNOWN);
      expect(b.isOpen).to.equal(true);
      await b.handshakeAndConnect();
      expect(b.clientId).to.not.equal(a.clientId);
      // The session itself is untouched: its own socket carries on.
      await a.subscribe('/still/here');
    });

    it('off (default): a new socket’s connect adopts the session, and gets the mail queued while no socket was open', async function () {
      const server = await startWsServer();
      const a = await WsClient.open(server.url);
      await a.handshakeAndConnect();
      await a.subscribe('/adopt');
      a.ws.close();
      await a.closed();
      expect(await server.bayeux.publish('/adopt', { n: 1 })).to.equal(1);
      expect(await server.bayeux.publish('/adopt', { n: 2 })).to.equal(1);

      const b = await WsClient.open(server.url);
      b.clientId = a.clientId;
      const id = b.connect();
      const reply = replyTo(await b.frameAnswering(id, 'the connect reply on the new socket'), id);
      expect(reply).to.deep.include({ successful: true });
      const mail = await b.messages.atLeast(2, 'the mail queued meanwhile');
      expect(mail.filter((m) => m.channel === '/adopt')).to.deep.equal([
        { channel: '/adopt', data: { n: 1 } },
        { channel: '/adopt', data: { n: 2 } },
      ]);
      // And it streams on the new socket.
      b.connect();
      await waitUntil(() => server.bayeux.connects.get(a.clientId!) !== undefined, 'the connect to be held');
      await server.bayeux.publish('/adopt', { n: 3 });
      expect(await b.messages.until((m) => (m.data as { n?: number } | undefined)?.n === 3, 'the next delivery')).to.deep.equal({
        channel: '/adopt',
        data: { n: 3 },
      });
    });

    it('mail an asynchronous outgoing extension was preparing when the socket died goes to the next socket, in order', async function () {
      this.timeout(60_000);
      const server = await startWsServer();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const seen: unknown[] = [];
      const a = await WsClient.open(server.url);
      await a.handshakeAndConnect();
      // A session's own extension: it sees the session's mail as it is streamed.
      server.bayeux.session(a.clientId!).addExtension({
        async outgoing(message) {
          if (message.channel === '/prep') {
            seen.push(message.data);
            await gate;
          }
          return message;
        },
      });
      await a.subscribe('/prep');
      a.connect();
      await waitUntil(() => server.bayeux.connects.get(a.clientId!) !== undefined, 'the connect to be held');
      expect(await server.bayeux.publish('/prep', { n: 1 })).to.equal(1);
      expect(await server.bayeux.publish('/prep', { n: 2 })).to.equal(1);
      await waitUntil(() => seen.length >= 1, 'the extension to hold the first delivery');
      a.terminate();
      await a.closed();
      await waitUntil(() => server.bayeux.connects.get(a.clientId!) === undefined, 'the server to see the socket gone');
      release();

      const b = await WsClient.open(server.url);
      b.clientId = a.clientId;
      const id = b.connect();
      expect(replyTo(await b.frameAnswering(id, 'the connect reply on the new socket'), id)).to.deep.include({ successful: true });
      await waitUntil(() => b.messages.items.filter((m) => m.channel === '/prep').length >= 2, 'the two deliveries on the new socket');
      expect(b.messages.items.filter((m) => m.channel === '/prep')).to.deep.equal([
        { channel: '/prep', data: { n: 1 } },
        { channel: '/prep', data: { n: 2 } },
      ]);
      expect(server.errors).to.deep.equal([]);
    });
  });

  describe('a client that stops reading', function () {
    /** v8's gc, exposed at run time (mocha is not started with --expose-gc). */
    function gc(): () => void {
      v8.setFlagsFromString('--expose-gc');
      return vm.runInNewContext('gc') as () => void;
    }
    function usedBytes(collect: () => void): number {
      collect();
      collect();
      const m = process.memoryUsage();
      // ws turns each frame into a Buffer: what a slow reader costs is mostly outside the JS heap.
      return m.heapUsed + m.external;
    }

    it('costs bounded memory: the engine queue drops its oldest (queueOverflow), and the newest arrive in order after it resumes', async function () {
      this.timeout(120_000);
      const TOTAL = 100_000;
      const MAX_QUEUE = 1000;
      const server = await startWsServer({ maxQueue: MAX_QUEUE }, { maxBufferedBytes: 16 * 1024 });
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      await c.subscribe('/slow');
      c.connect();
      await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');
      let dropped = 0;
      server.bayeux.on('queueOverflow', (id, n) => {
        if (id === c.clientId) dropped += n;
      });

      const collect = gc();
      const before = usedBytes(collect);
      // The client's process stops reading: the kernel buffers fill, then ws's, then the engine queue.
      c.ws.pause();
      // ~1 KB per message: 100,000 of them held anywhere in the process would be > 100 MB.
      const pad = 'x'.repeat(1000);
      const CHUNK = 1000;
      for (let n = 0; n < TOTAL; n += CHUNK) {
        const chunk: Promise<number>[] = [];
        for (let i = n; i < n + CHUNK; i++) chunk.push(server.bayeux.publish('/slow', { n: i, pad }));
        await Promise.all(chunk);
        // A turn for the server to write (or hold back) what was queued.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const growth = usedBytes(collect) - before;
      // Bounded: one maxQueue of messages in the engine (~1 MB), what ws and the kernel hold
      // for the socket, and the spec's own client state. Unbounded buffering would be > 100 MB;
      // 40 MB leaves room for allocator and GC noise on a loaded machine.
      expect(growth, `heap + external growth, ${(growth / 1e6).toFixed(1)} MB`).to.be.below(40e6);
      expect(dropped, 'messages dropped, reported by queueOverflow').to.be.above(0);

      c.ws.resume();
      // The last one published always arrives (it is among the newest in the queue).
      await c.messages.until((m) => (m.data as { n?: number } | undefined)?.n === TOTAL - 1, 'the last message', 30_000);
      const ns = c.messages.items.filter((m) => m.channel === '/slow').map((m) => (m.data as { n: number }).n);
      for (let i = 1; i < ns.length; i++) if (ns[i]! <= ns[i - 1]!) expect.fail(`out of order or repeated at ${i}: ${ns[i - 1]} then ${ns[i]}`);
      // Nothing lost silently: every message arrived or was reported dropped.
      expect(ns.length + dropped, 'received + dropped').to.equal(TOTAL);
      // After the last gap, the newest run: at most maxQueue (what the queue kept), ending with the last.
      let run = 1;
      while (run < ns.length && ns[ns.length - run - 1] === ns[ns.length - run]! - 1) run++;
      expect(ns[ns.length - 1]).to.equal(TOTAL - 1);
      expect(run, 'the newest messages after the last gap').to.be.at.most(MAX_QUEUE);
      expect(c.isOpen, 'the socket stays open').to.equal(true);
    });
    it('stays bounded when the client keeps sending connects while not reading (frames wait until it reads)', async function () {
      this.timeout(120_000);
      const TOTAL = 100_000;
      const server = await startWsServer({ maxQueue: 1000 }, { maxBufferedBytes: 16 * 1024 });
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      await c.subscribe('/slow/connects');
      let dropped = 0;
      server.bayeux.on('queueOverflow', (id, n) => {
        if (id === c.clientId) dropped += n;
      });
      const collect = gc();
      const before = usedBytes(collect);
      c.ws.pause();
      const pad = 'x'.repeat(1000);
      const CHUNK = 1000;
      let last = '';
      for (let n = 0; n < TOTAL; n += CHUNK) {
        const chunk: Promise<number>[] = [];
        for (let i = n; i < n + CHUNK; i++) chunk.push(server.bayeux.publish('/slow/connects', { n: i, pad }));
        await Promise.all(chunk);
        // Each connect would take the whole queue, whatever the socket's backlog (timeout 0: answered at once, never held).
        last = c.connect({ advice: { timeout: 0 } });
        await new Promise((resolve) => setImmediate(resolve));
      }
      const growth = usedBytes(collect) - before;
      // As above: > 100 MB if every connect's mail were written to the socket; bounded, a few MB.
      expect(growth, `heap + external growth, ${(growth / 1e6).toFixed(1)} MB`).to.be.below(40e6);
      expect(dropped, 'messages dropped, reported by queueOverflow').to.be.above(0);

      c.ws.resume();
      // Every connect is answered once the client reads, the last one too.
      await c.frameAnswering(last, 'the reply to the last connect', 30_000);
      await c.messages.until((m) => (m.data as { n?: number } | undefined)?.n === TOTAL - 1, 'the last message', 30_000);
      const ns = c.messages.items.filter((m) => m.channel === '/slow/connects').map((m) => (m.data as { n: number }).n);
      for (let i = 1; i < ns.length; i++) if (ns[i]! <= ns[i - 1]!) expect.fail(`out of order or repeated at ${i}: ${ns[i - 1]} then ${ns[i]}`);
      expect(ns.length + dropped, 'received + dropped').to.equal(TOTAL);
    });
  });

  describe('drain and close', function () {
    it('drain() answers the held connect with its advice and closes the socket with 1001; upgrades then get 503', async function () {
      const server = await startWsServer();
      const c = await WsClient.open(server.url);
      await c.handshakeAndConnect();
      const id = c.connect();
      await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');
      const drained = server.bayeux.drain();
      const reply = replyTo(await c.frameAnswering(id, 'the drained connect reply'), id);
      expect(reply).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 30_000 } });
      expect((await c.closed()).code).to.equal(1001);
      expect(await withTimeout(drained, 'the drain')).to.equal(true);
      const r = await rawUpgrade(server.origin, '/cometd');
      expect(r.status).to.equal(503);
      expect(r.headers['retry-after']).to.equal('1');
    });

    it('close() closes every open socket with 1001; upgrades then get 503', async function () {
      const server = await startWsServer();
      const held = await WsClient.open(server.url);
      await held.handshakeAndConnect();
      held.connect();
      await waitUntil(() => server.bayeux.connects.get(held.clientId!) !== undefined, 'the connect to be held');
      const idle = await WsClient.open(server.url);
      await idle.handshake();
      const silent = await WsClient.open(server.url);
      await server.bayeux.close();
      for (const c of [held, idle, silent]) expect((await c.closed()).code).to.equal(1001);
      expect((await rawUpgrade(server.origin, '/cometd')).status).to.equal(503);
      await waitUntil(() => server.transport.openSockets === 0, 'no socket left');
    });
  });

  describe('options', function () {
    function invalid(options: unknown, name: string): void {
      let thrown: unknown;
      try {
        webSocket(options as WebSocketOptions);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(TypeError);
      expect((thrown as CodedError).code).to.equal('ERR_BAYEUX_INVALID_OPTION');
      expect((thrown as Error).message).to.contain(name);
    }

    it('throws a TypeError (ERR_BAYEUX_INVALID_OPTION) naming a bad or unknown option', function () {
      invalid({ pingInterval: -1 }, 'pingInterval');
      invalid({ bogus: 1 }, 'bogus');
      invalid({ maxBufferedBytes: 10 }, 'maxBufferedBytes');
      invalid({ firstMessageTimeout: 'soon' }, 'firstMessageTimeout');
      invalid({ requireHandshakePerConnection: 1 }, 'requireHandshakePerConnection');
      expect(() => webSocket({ pingInterval: 0, maxFrameBytes: 64 })).to.not.throw();
    });
  });
});
