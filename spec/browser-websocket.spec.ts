/**
 * WebSocket in a real browser (headless Chromium): the CometD client's first choice and
 * Faye's switch after the handshake both end up on the socket, with messages flowing both
 * ways; a page from an origin the server does not allow is refused the upgrade (403, no
 * socket opened) and the CometD client falls back to an HTTP transport that works for it;
 * and the demo chat runs over WebSocket in two pages (and on long-polling where the server
 * has no upgrade listener).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createDemo } from '../examples/demo/app.js';
import { callbackPolling, longPolling, webSocket, type BayeuxServer, type HandlerOptions, type WebSocketTransport } from '../index.js';
import type { PageServer, TestPage } from './support/browser.js';
import { cometdPage, fayePage } from './support/browser-pages.js';
import { browserSuite } from './support/browser-suite.js';
import { waitUntil } from './support/wait.js';

interface Started {
  clientId: string;
  transport: string;
}

/** One incoming message as the server saw it: was its request an upgraded socket? */
interface Arrival {
  channel: string;
  clientId: string | undefined;
  connectionType: string | undefined;
  /** The `Upgrade` header of the request that carried it (`websocket` on a socket). */
  upgrade: string | undefined;
}

/** Records, through an extension, how each incoming message reached the server. */
function recordArrivals(bayeux: BayeuxServer): Arrival[] {
  const arrivals: Arrival[] = [];
  bayeux.addExtension({
    incoming(message, context) {
      const upgrade = context.request?.headers.upgrade;
      arrivals.push({
        channel: message.channel,
        clientId: message.clientId,
        connectionType: message.connectionType,
        upgrade: typeof upgrade === 'string' ? upgrade.toLowerCase() : undefined,
      });
    },
  });
  return arrivals;
}

/** The text frames a page's WebSockets received, each parsed (Playwright sees the wire). */
function framesReceived(page: TestPage): unknown[][] {
  const frames: unknown[][] = [];
  page.page.on('websocket', (socket) => {
    socket.on('framereceived', (f) => {
      if (typeof f.payload === 'string') frames.push(JSON.parse(f.payload) as unknown[]);
    });
  });
  return frames;
}

describe('WebSocket in Chromium', function () {
  describe('the CometD JavaScript client', function () {
    const suite = browserSuite(this, { page: { name: 'cometd-ws.html', html: cometdPage({ websocket: true }) }, bayeux: { timeout: 5000 } });
    let ws: WebSocketTransport;

    /** A page server whose handler has the default transports in the default order, with a handle on the WebSocket one. */
    function start(handler: Omit<HandlerOptions, 'path' | 'transports'> = {}): Promise<PageServer> {
      ws = webSocket();
      return suite.start({ handler: { ...handler, transports: [ws, longPolling(), callbackPolling()] } });
    }

    it('same origin: handshakes, subscribes and receives over the socket [matrix CometD|websocket]', async function () {
      const s = await start();
      const arrivals = recordArrivals(s.bayeux);
      const reader = await suite.open(s.origin);
      const wire = framesReceived(reader);
      const writer = await suite.open(s.origin);

      const a = await reader.run<Started>(`T.start(${JSON.stringify(s.url)})`);
      const b = await writer.run<Started>(`T.start(${JSON.stringify(s.url)})`);
      expect([a.transport, b.transport], 'the transport each client uses').to.deep.equal(['websocket', 'websocket']);
      // Chosen at the very first handshake: no HTTP transport was tried first.
      expect(await reader.run('T.handshakes')).to.deep.equal([{ successful: true, transport: 'websocket' }]);
      // On the wire: the handshake reply came in a frame of its own, advertising websocket first.
      const handshakeReply = wire[0]?.[0] as { channel?: string; successful?: boolean; supportedConnectionTypes?: string[] } | undefined;
      expect(wire[0], 'the first frame holds the handshake reply alone').to.have.length(1);
      expect(handshakeReply?.channel).to.equal('/meta/handshake');
      expect(handshakeReply?.successful).to.equal(true);
      expect(handshakeReply?.supportedConnectionTypes?.[0]).to.equal('websocket');

      await reader.run(`T.subscribe('/ws/browser')`);
      await writer.run(`T.publish('/ws/browser', { from: 'writer', text: 'héllo \\u2028 ✓' })`);
      await s.bayeux.publish('/ws/browser', { from: 'server' });
      expect(await reader.run('T.waitFor(2, 5000)')).to.deep.equal([
        { channel: '/ws/browser', data: { from: 'writer', text: 'héllo \u2028 ✓' } },
        { channel: '/ws/browser', data: { from: 'server' } },
      ]);
      // The deliveries came in on the reader's socket.
      const delivered = wire.flat().filter((m) => (m as { channel?: string }).channel === '/ws/browser' && 'data' in (m as object));
      expect(delivered).to.have.length(2);

      // Server side: two sockets, and every message of both clients arrived on one.
      expect(ws.socketsOpened).to.equal(2);
      expect(ws.openSockets).to.equal(2);
      const mine = arrivals.filter((m) => m.clientId === a.clientId || m.clientId === b.clientId || m.channel === '/meta/handshake');
      expect(mine.map((m) => m.channel)).to.include.members(['/meta/handshake', '/meta/connect', '/meta/subscribe', '/ws/browser']);
      for (const m of mine) expect(m.upgrade, `${m.channel} came on a socket`).to.equal('websocket');
      for (const m of mine.filter((x) => x.channel === '/meta/connect')) expect(m.connectionType).to.equal('websocket');

      // A disconnect closes the socket (after its reply).
      await reader.run('T.stop()');
      await writer.run('T.stop()');
      await waitUntil(() => ws.openSockets === 0, 'both sockets to close after the disconnects');
      expect(await s.bayeux.session(a.clientId).exists()).to.equal(false);
      expect(reader.errors.concat(writer.errors)).to.deep.equal([]);
    });

    it('a page of another origin, not allowed: the upgrade is refused (403), the client falls back to callback-polling and messages flow', async function () {
      const s = await start();
      const arrivals = recordArrivals(s.bayeux);
      const page = await suite.open(s.otherOrigin);
      const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
      // Without CORS a cross-origin XHR is refused too: JSONP is what is left.
      expect(info.transport).to.equal('callback-polling');
      expect(ws.socketsOpened, 'sockets opened').to.equal(0);
      // The browser's own account of the upgrade: refused with 403.
      expect(page.errors.filter((e) => /WebSocket/.test(e))).to.satisfy(
        (errs: string[]) => errs.length > 0 && errs.every((e) => /403/.test(e)),
        `the WebSocket errors the page logged: ${JSON.stringify(page.errors)}`,
      );

      await page.run(`T.subscribe('/ws/refused')`);
      await page.run(`T.publish('/ws/refused', { from: 'page' })`);
      await s.bayeux.publish('/ws/refused', { from: 'server' });
      expect(await page.run('T.waitFor(2, 5000)')).to.deep.equal([
        { channel: '/ws/refused', data: { from: 'page' } },
        { channel: '/ws/refused', data: { from: 'server' } },
      ]);
      expect(arrivals.length).to.be.above(0);
      for (const m of arrivals) expect(m.upgrade, `${m.channel} came over HTTP`).to.equal(undefined);
      const connectTypes = new Set(arrivals.filter((m) => m.channel === '/meta/connect').map((m) => m.connectionType));
      expect([...connectTypes]).to.deep.equal(['callback-polling']);
      // The refused socket and the refused XHR show as console errors; nothing else may.
      expect(page.errors.filter((e) => !/WebSocket|CORS|Failed to load resource|net::ERR_FAILED/.test(e))).to.deep.equal([]);
    });

    it('a page of another origin on the CORS allow-list gets the socket', async function () {
      let pageOrigin = '';
      const s = await start({ cors: { origins: (o) => o === pageOrigin } });
      pageOrigin = s.otherOrigin;
      const arrivals = recordArrivals(s.bayeux);
      const page = await suite.open(s.otherOrigin);
      const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
      expect(info.transport).to.equal('websocket');
      expect(ws.socketsOpened).to.equal(1);
      await page.run(`T.subscribe('/ws/allowed')`);
      await s.bayeux.publish('/ws/allowed', { from: 'server' });
      expect(await page.run('T.waitFor(1, 5000)')).to.deep.equal([{ channel: '/ws/allowed', data: { from: 'server' } }]);
      for (const m of arrivals) expect(m.upgrade, `${m.channel} came on a socket`).to.equal('websocket');
      expect(page.errors).to.deep.equal([]);
    });
  });

  describe('the Faye browser client', function () {
    const suite = browserSuite(this, { page: { name: 'faye-ws.html', html: fayePage({ websocket: true }) }, bayeux: { timeout: 5000 } });

    it('handshakes over HTTP, then switches to the socket and receives on it [matrix Faye|websocket]', async function () {
      const ws = webSocket();
      const s = await suite.start({ handler: { transports: [ws, longPolling(), callbackPolling()] } });
      const arrivals = recordArrivals(s.bayeux);
      const page = await suite.open(s.origin);
      const wire = framesReceived(page);
      const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
      // Faye probes the socket in the background and switches once it is open.
      await waitUntil(async () => (await page.run<string>('T.transport()')) === 'websocket', 'Faye to switch to websocket', 10_000, 50);
      expect(ws.socketsOpened).to.be.at.least(1);

      await page.run(`T.subscribe('/faye/ws')`);
      await page.run(`T.publish('/faye/ws', { from: 'page', text: 'a&b=c \\u2029 ✓' })`);
      await s.bayeux.publish('/faye/ws', { from: 'server' });
      expect(await page.run('T.waitFor(2, 5000)')).to.deep.equal([
        { channel: '/faye/ws', data: { from: 'page', text: 'a&b=c \u2029 ✓' } },
        { channel: '/faye/ws', data: { from: 'server' } },
      ]);
      // Deliveries (with data; the publish reply names the channel too) came on the socket.
      const delivered = wire.flat().filter((m) => (m as { channel?: string }).channel === '/faye/ws' && 'data' in (m as object));
      expect(delivered, 'deliveries on the socket').to.have.length(2);

      const mine = arrivals.filter((m) => m.clientId === info.clientId);
      const onSocket = mine.filter((m) => m.upgrade === 'websocket');
      expect(onSocket.map((m) => m.channel)).to.include.members(['/meta/connect', '/meta/subscribe', '/faye/ws']);
      for (const m of onSocket.filter((x) => x.channel === '/meta/connect')) expect(m.connectionType).to.equal('websocket');
      // After the switch nothing of this client comes over HTTP any more.
      const firstOnSocket = mine.indexOf(onSocket[0]!);
      expect(mine.slice(firstOnSocket).filter((m) => m.upgrade !== 'websocket')).to.deep.equal([]);
      expect(page.errors).to.deep.equal([]);
    });
  });

  describe('the demo chat', function () {
    const suite = browserSuite(this);

    async function join(origin: string, name: string): Promise<TestPage> {
      const p = await suite.openUrl(origin + '/', { ready: "document.getElementById('status').classList.contains('up')" });
      await p.page.fill('#name', name);
      await p.page.press('#name', 'Enter');
      await p.page.locator('#room').waitFor({ state: 'visible' });
      return p;
    }

    /** Runs the demo on an HTTP server, with the upgrade listener as examples/demo/server.ts adds it, or without. */
    async function startDemo(upgrade: boolean): Promise<{ origin: string; arrivals: Arrival[] }> {
      const demo = createDemo({ tickMs: 60_000 });
      const arrivals = recordArrivals(demo.bayeux);
      const server = http.createServer(demo.app);
      if (upgrade) server.on('upgrade', demo.upgrade);
      suite.afterTest(async () => {
        await demo.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
    }

    /** alice says a line, bob sees it. */
    async function chat(origin: string): Promise<[TestPage, TestPage]> {
      const alice = await join(origin, 'alice');
      const bob = await join(origin, 'bob');
      await alice.page.locator('#members li', { hasText: 'bob' }).waitFor();
      await alice.page.fill('#text', 'hello from alice');
      await alice.page.press('#text', 'Enter');
      const line = bob.page.locator('#log li', { hasText: 'hello from alice' });
      await line.waitFor();
      expect(await line.locator('.who').textContent()).to.equal('alice');
      return [alice, bob];
    }

    it('two pages chat over WebSocket', async function () {
      const { origin, arrivals } = await startDemo(true);
      const [alice, bob] = await chat(origin);
      for (const p of [alice, bob]) expect(await p.page.locator('#status').textContent()).to.equal('connected (websocket)');
      // Server side: both sessions, and every message they sent, on sockets.
      const sessions = new Set(arrivals.filter((m) => m.channel === '/meta/connect').map((m) => m.clientId));
      expect(sessions.size).to.equal(2);
      expect(arrivals.map((m) => m.channel)).to.include.members(['/service/members', '/chat/demo']);
      for (const m of arrivals) expect(m.upgrade, `${m.channel} came on a socket`).to.equal('websocket');
      expect(alice.errors.concat(bob.errors)).to.deep.equal([]);
    });

    it('without the upgrade listener (as behind a proxy that drops upgrades) the page falls back to long-polling', async function () {
      const { origin, arrivals } = await startDemo(false);
      const [alice, bob] = await chat(origin);
      for (const p of [alice, bob]) expect(await p.page.locator('#status').textContent()).to.equal('connected (long-polling)');
      for (const m of arrivals) expect(m.upgrade, `${m.channel} came over HTTP`).to.equal(undefined);
      // Only the failed sockets show as errors in the pages.
      expect(alice.errors.concat(bob.errors).filter((e) => !/WebSocket/.test(e))).to.deep.equal([]);
    });
  });
});
