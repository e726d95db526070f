/**
 * WebSocket in every framework a user may mount the server in: a raw `ws` client
 * handshakes, connects, subscribes and receives publishes (the app's and another client's)
 * on each, with the `upgrade` listener registered as the docs tell users to
 * (spec/support/servers.ts) or by `attachToServer` itself; and another `ws` server on
 * another path of the same http.Server keeps working alongside.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { WebSocket, WebSocketServer } from 'ws';
import { BayeuxServer, attachToServer } from '../index.js';
import { APP_ROUTE, httpGet, startServer, stopAllServers, type Mount } from './support/servers.js';
import { Inbox, waitUntil, withTimeout } from './support/wait.js';
import { WsClient, closeAllWsClients, rawUpgrade, wsUrl } from './support/ws-client.js';

const MOUNTS: readonly Mount[] = ['express', 'koa', 'fastify', 'connect', 'node:http'];

/** An echo `ws` server on `/echo`, added to `server` as apps add their own WebSocket endpoints. */
class EchoServer {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly listener = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (req.url === '/echo') this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  };

  constructor(private readonly server: http.Server) {
    this.wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    server.on('upgrade', this.listener);
  }

  /** Opens a socket to `/echo` and checks that it echoes. */
  async check(origin: string): Promise<void> {
    const ws = new WebSocket(wsUrl(origin + '/echo'));
    const got = new Inbox<string>();
    ws.on('message', (data) => got.push(data.toString()));
    ws.on('error', () => {});
    try {
      await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'the echo socket to open');
      ws.send('ping me');
      expect(await got.nth(0, 'the echo')).to.equal('ping me');
    } finally {
      ws.terminate();
    }
  }

  /** Ends its sockets (an open upgraded socket would keep the http.Server from closing). */
  close(): void {
    this.server.off('upgrade', this.listener);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}

/** Handshake, connect, subscribe, then deliveries while the connect is held: from the app and from another socket. */
async function exercise(url: string, bayeux: BayeuxServer): Promise<void> {
  const c = await WsClient.open(url);
  const handshake = await c.handshake();
  expect(handshake.supportedConnectionTypes).to.have.property('0', 'websocket');
  const first = c.connect();
  const reply = (await c.frameAnswering(first, 'the first connect reply')).find((m) => m.id === first);
  expect(reply).to.deep.include({ successful: true });
  await c.subscribe('/mounts/news');
  c.connect();
  await waitUntil(() => bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');

  expect(await bayeux.publish('/mounts/news', { from: 'app' })).to.equal(1);
  expect(await c.messages.until((m) => m.channel === '/mounts/news', 'the app’s publish')).to.deep.equal({
    channel: '/mounts/news',
    data: { from: 'app' },
  });

  const other = await WsClient.open(url);
  await other.handshakeAndConnect();
  const pub = await other.request([{ channel: '/mounts/news', data: { from: 'other' }, id: 'p' }]);
  expect(pub.find((m) => m.id === 'p')).to.deep.include({ successful: true });
  expect(
    await c.messages.until((m) => (m.data as { from?: string } | undefined)?.from === 'other', 'the other client’s publish'),
  ).to.deep.equal({ channel: '/mounts/news', data: { from: 'other' } });
  c.terminate();
  other.terminate();
}

describe('WebSocket in every mount', function () {
  const echoes: EchoServer[] = [];
  afterEach(async function () {
    closeAllWsClients();
    for (const e of echoes.splice(0)) e.close();
    await stopAllServers();
  });

  for (const mount of MOUNTS) {
    describe(mount, function () {
      it('serves a ws client: handshake, connect, subscribe, deliveries', async function () {
        const server = await startServer(mount);
        await exercise(server.url, server.bayeux);
        // The app's own HTTP routes are untouched.
        expect(await httpGet(server.origin, APP_ROUTE)).to.deep.equal({ status: 200, body: `pong from ${mount}` });
      });

      it('shares the http.Server with another ws server on another path', async function () {
        const server = await startServer(mount);
        const echo = new EchoServer(server.httpServer);
        echoes.push(echo);
        await echo.check(server.origin);
        await exercise(server.url, server.bayeux);
        await echo.check(server.origin);
      });
    });
  }

  describe('attachToServer', function () {
    let httpServer: http.Server;
    let bayeux: BayeuxServer;
    let origin: string;

    beforeEach(async function () {
      bayeux = new BayeuxServer();
      httpServer = http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('the app');
      });
      // Registers its own `upgrade` listener: nothing else to add.
      attachToServer(httpServer, bayeux, { path: '/cometd' });
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
    });
    afterEach(async function () {
      closeAllWsClients();
      for (const e of echoes.splice(0)) e.close();
      await bayeux.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    });

    it('serves a ws client, and refuses upgrades elsewhere with 404 while it is the only listener', async function () {
      expect(httpServer.listenerCount('upgrade')).to.equal(1);
      await exercise(origin + '/cometd', bayeux);
      expect((await rawUpgrade(origin, '/elsewhere')).status).to.equal(404);
      expect((await httpGet(origin, '/app')).body).to.equal('the app');
    });

    it('shares the http.Server with another ws server on another path', async function () {
      const echo = new EchoServer(httpServer);
      echoes.push(echo);
      await echo.check(origin);
      await exercise(origin + '/cometd', bayeux);
      await echo.check(origin);
    });
  });
});
