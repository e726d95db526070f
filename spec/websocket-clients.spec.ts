/**
 * The real Node clients on the WebSocket transport: CometD JavaScript 9 (through
 * `cometd-nodejs-client`, whose WebSocket is `ws`) and Faye 1.4 (`faye-websocket`), in
 * what is particular to a socket: the server's side of it, a disconnect closing it, a
 * socket killed under the client; then CometD's AckExtension through a relay that loses
 * frames, and a socket moved between two processes of one Redis cluster. The everyday
 * scenarios (publish, wildcards, 1000 in order, service calls, unsubscribe) run over
 * WebSocket in interop.spec.ts, in each mount.
 *
 * Every client is checked to be on `websocket` (its own word, and the server's: the
 * `/meta/connect`s arrive on an upgraded request) before a scenario counts. Negative
 * checks use a sentinel from the same publisher instead of a sleep (see interop.spec.ts).
 */
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { AckExtension, type Message } from 'cometd';
import { ackExtension, type ServerSession } from '../index.js';
import { redisEngine } from '../redis.js';
import { ACK_TOTAL, receiveBursts } from './support/ack-bursts.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { COMETD, FAYE, type Delivered, type InteropClient, type InteropClientKind } from './support/interop-clients.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { Inbox, nextEvent, waitUntil } from './support/wait.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { FrameDroppingRelay, closeAllWsRelays } from './support/websocket-relays.js';
import { socketClosed, startWsServer, stopAllWsServers, type WsTestServer } from './support/websocket-server.js';

const CLIENT_ID = /^[0-9a-f]{32}$/;

/** What a scenario gets. */
interface Context {
  /** A server offering WebSocket then long-polling, with the wire watched (see {@link watchWire}). */
  start(): Promise<WsTestServer>;
  /** A connected client that has settled on WebSocket (at the server unless `url` says otherwise). */
  connected(url?: string): Promise<InteropClient>;
  /** How the `/meta/connect`s of the server `start` started last arrived. */
  wire(): ConnectWire;
}

/** How each session's `/meta/connect`s reached the server: `websocket` when on an upgraded request. */
type ConnectWire = Map<string, { connectionType: unknown; upgraded: boolean }[]>;

function watchWire(server: WsTestServer): ConnectWire {
  const wire: ConnectWire = new Map();
  server.bayeux.addExtension({
    incoming(message, { request }) {
      if (message.channel !== '/meta/connect' || typeof message.clientId !== 'string') return;
      let list = wire.get(message.clientId);
      if (!list) wire.set(message.clientId, (list = []));
      list.push({ connectionType: message.connectionType, upgraded: request?.headers.upgrade?.toLowerCase() === 'websocket' });
    },
  });
  return wire;
}

/** Waits until `c` says it is on WebSocket and the server has seen one of its `/meta/connect`s arrive on a socket. */
async function onWebSocket(wire: ConnectWire, c: InteropClient): Promise<void> {
  await waitUntil(() => c.connectionType === 'websocket', 'the client to pick websocket');
  await waitUntil(() => wire.get(c.clientId!)?.some((x) => x.upgraded) === true, 'a /meta/connect on the socket');
  // Once on the socket, every connect says so.
  for (const x of wire.get(c.clientId!)!.filter((x) => x.upgraded)) expect(x.connectionType).to.equal('websocket');
}

interface Scenario {
  title: string;
  run(ctx: Context): Promise<void>;
}

const SCENARIOS: Scenario[] = [
  {
    title: 'handshakes and connects on websocket, which the server advertises first',
    async run({ start, connected, wire }) {
      const server = await start();
      const c = await connected();
      const reply = c.handshakes.items[0]!;
      expect(reply.clientId).to.match(CLIENT_ID);
      expect(reply.supportedConnectionTypes).to.deep.equal(['websocket', 'long-polling']);
      expect(c.status).to.equal('connected');
      expect(c.connectionType).to.equal('websocket');
      expect(wire().get(c.clientId!)!.filter((x) => x.upgraded)).to.have.length.greaterThan(0);
      expect(server.transport.openSockets).to.be.greaterThan(0);
      expect(await server.bayeux.session(c.clientId!).exists()).to.equal(true);
    },
  },
  {
    title: 'disconnects: the server removes the session and closes the socket',
    async run({ start, connected }) {
      const server = await start();
      const c = await connected();
      const id = c.clientId!;
      const sockets = [...server.upgrades.items];
      const removed = nextEvent<[string, string]>(server.bayeux, 'sessionRemoved', 'sessionRemoved', (cid) => cid === id);
      const disconnected = nextEvent<[ServerSession]>(server.bayeux, 'disconnect', 'the disconnect event', (s) => s.id === id);
      expect(await c.disconnect()).to.equal(true);
      expect((await removed)[1]).to.equal('disconnect');
      await disconnected;
      expect(c.status).to.equal('disconnected');
      expect(await server.bayeux.session(id).exists()).to.equal(false);
      for (const s of sockets) await socketClosed(s, 'the socket to close after the disconnect');
      // ws reports the close to the transport a tick or so after the TCP socket's.
      await waitUntil(() => server.transport.openSockets === 0, 'the transport to forget the socket');
    },
  },
  {
    title: 'a socket killed under the client: it reconnects in the same session, and nothing published meanwhile is lost',
    async run({ start, connected, wire }) {
      const server = await start();
      const pub = await connected();
      const before = server.upgrades.length;
      const relay = await OutageProxy.start(server.port);
      const sub = await connected(relay.url());
      const id = sub.clientId!;
      const got = new Inbox<Delivered>();
      await sub.subscribe('/news', got.push);
      await pub.publish('/news', 0);
      await got.nth(0, 'the first message');

      const relayed = server.upgrades.items.slice(before);
      expect(relayed, 'sockets through the relay').to.have.length.greaterThan(0);
      relay.cut();
      for (const s of relayed) await socketClosed(s, 'the server to see the socket close');
      const connectsBefore = wire().get(id)!.length;
      // The socket is gone: this mail can only wait in the session's queue.
      for (let i = 1; i <= 50; i++) await pub.publish('/news', i);
      expect(await server.bayeux.session(id).exists(), 'the session outlives the socket').to.equal(true);
      relay.restore();

      const all = await got.atLeast(51, 'every message after the reconnection');
      expect(all.map((m) => m.data)).to.deep.equal(Array.from({ length: 51 }, (_, i) => i));
      await pub.publish('/news', 'sentinel');
      await got.until((m) => m.data === 'sentinel', 'the sentinel');
      expect(sub.wireOn('/news'), 'each exactly once').to.have.length(52);
      expect(sub.clientId, 'no new session').to.equal(id);
      expect(sub.handshakes.length).to.equal(1);
      expect(server.upgrades.length, 'a new socket').to.be.greaterThan(before + relayed.length);
      expect(sub.connectionType).to.equal('websocket');
      // Both clients stay on WebSocket once it has worked: every connect since the cut came on a socket.
      const since = wire().get(id)!.slice(connectsBefore);
      expect(since, 'connects since the cut').not.to.be.empty;
      expect(since.every((x) => x.upgraded && x.connectionType === 'websocket'), JSON.stringify(since)).to.equal(true);
    },
  },
];

function suite(kind: InteropClientKind, title: string): void {
  describe(title, function () {
    this.timeout(40_000);
    let server: WsTestServer | undefined;
    let wire: ConnectWire | undefined;
    const ctx: Context = {
      async start() {
        server = await startWsServer({ timeout: 2000 });
        wire = watchWire(server);
        return server;
      },
      async connected(url) {
        const c = await kind.open(url ?? server!.url, { transport: 'websocket' });
        await onWebSocket(wire!, c);
        return c;
      },
      wire: () => wire!,
    };

    afterEach(async function () {
      server = undefined;
      wire = undefined;
      await kind.closeAll();
      await closeAllWsRelays();
    await closeAllProxies();
      await closeAllProxies();
      await stopAllWsServers();
    });

    for (const scenario of SCENARIOS) it(scenario.title, () => scenario.run(ctx));
  });
}

suite(COMETD, 'websocket: CometD client (cometd-nodejs-client)');
suite(FAYE, 'websocket: Faye Node client');

/** Frames that carry deliveries (not only meta replies). */
function carriesMail(frame: string): boolean {
  try {
    const messages = JSON.parse(frame) as { channel: string; data?: unknown }[];
    return Array.isArray(messages) && messages.some((m) => m.data !== undefined && !m.channel.startsWith('/meta/'));
  } catch {
    return false;
  }
}

describe('websocket: CometD AckExtension through a relay that loses frames', function () {
  this.timeout(60_000);
  const TOTAL = ACK_TOTAL;

  afterEach(async function () {
    await closeAllCometDClients();
    await closeAllWsRelays();
    await closeAllProxies();
    await stopAllWsServers();
  });

  /** Publishes TOTAL numbered messages in bursts to one client behind a relay that drops every other frame with mail, 40 times. */
  async function run(withAck: boolean): Promise<{ received: number[]; relay: FrameDroppingRelay; frames: string[] }> {
    const server = await startWsServer({ timeout: 2000 });
    if (withAck) server.bayeux.addExtension(ackExtension());
    let withMail = 0;
    const frames: string[] = [];
    const relay = await FrameDroppingRelay.start(`ws://127.0.0.1:${server.port}/cometd`, (frame) => {
      frames.push(frame);
      if (!carriesMail(frame)) return false;
      withMail++;
      return withMail % 2 === 1 && withMail < 80;
    });
    const client = new CometDClient(relay.url(), { maxNetworkDelay: 2000 }, { transport: 'websocket' });
    if (withAck) client.cometd.registerExtension('ack', new AckExtension());
    await client.handshake();
    expect((client.cometd.getTransport() as unknown as { type: string }).type).to.equal('websocket');
    const received = await receiveBursts(server.bayeux, client, 30_000);
    expect((client.cometd.getTransport() as unknown as { type: string }).type, 'still on websocket').to.equal('websocket');
    await client.close();
    return { received, relay, frames };
  }

  it('every message arrives exactly once and in order, mail only with numbered connect replies [matrix cometd-nodejs-client|websocket]', async function () {
    const { received, relay, frames } = await run(true);
    expect(relay.dropped, 'frames dropped').to.be.greaterThan(10);
    expect(relay.connections, 'a new socket after each drop').to.be.greaterThan(relay.dropped);
    expect(received).to.deep.equal(Array.from({ length: TOTAL }, (_, i) => i));
    for (const frame of frames.filter(carriesMail)) {
      const connect = (JSON.parse(frame) as { channel: string; ext?: { ack?: unknown } }[]).find((m) => m.channel === '/meta/connect');
      expect(connect, `a frame with mail carries the connect reply: ${frame.slice(0, 200)}`).not.to.equal(undefined);
      expect(connect!.ext?.ack).to.be.a('number');
    }
  });

  it('without the extension the same drops lose messages', async function () {
    const { received, relay } = await run(false);
    expect(relay.dropped, 'frames dropped').to.be.greaterThan(10);
    expect(new Set(received).size, 'distinct messages received').to.be.lessThan(TOTAL);
  });
});

describe('websocket: CometD client on two processes of one Redis', function () {
  this.timeout(40_000);
  let redis: RedisServer;
  let prefixes = 0;

  before(async function () {
    redis = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });
  afterEach(async function () {
    await closeAllCometDClients();
    await closeAllWsRelays();
    await closeAllProxies();
    await stopAllWsServers();
  });

  /** Two servers (two BayeuxServers, each with its own Redis engine) sharing one store. */
  async function cluster(): Promise<[WsTestServer, WsTestServer]> {
    const prefix = `ws${process.pid}x${++prefixes}`;
    const a = await startWsServer({ timeout: 2000, engine: redisEngine({ url: redis.url, prefix }) });
    const b = await startWsServer({ timeout: 2000, engine: redisEngine({ url: redis.url, prefix }) });
    return [a, b];
  }

  async function open(url: string): Promise<CometDClient> {
    const c = new CometDClient(url, {}, { transport: 'websocket' });
    await c.handshake();
    await c.connects.atLeast(1, 'the first /meta/connect reply');
    expect((c.cometd.getTransport() as unknown as { type: string }).type).to.equal('websocket');
    return c;
  }

  it('a publish on process B reaches the socket held by process A; the socket moves to B and nothing is lost [matrix cometd-nodejs-client|websocket]', async function () {
    const [a, b] = await cluster();
    const relay = await OutageProxy.start(a.port);
    const sub = await open(relay.url());
    const id = sub.clientId!;
    const got = new Inbox<Message>();
    await sub.subscribe('/news', got.push);
    const atA: Duplex[] = [...a.upgrades.items];
    expect(atA, 'the subscriber is on a socket at A').to.have.length(1);
    expect(b.upgrades.length).to.equal(0);

    const pub = await open(b.url);
    await pub.publish('/news', 0);
    expect((await got.nth(0, 'the publish from B at A')).data).to.equal(0);

    relay.cut();
    await socketClosed(atA[0]!, 'A to see the socket close');
    for (let i = 1; i <= 50; i++) await pub.publish('/news', i);
    relay.restore(b.port);

    const all = await got.atLeast(51, 'every message, through B');
    expect(all.map((m) => m.data)).to.deep.equal(Array.from({ length: 51 }, (_, i) => i));
    await pub.publish('/news', 'sentinel');
    await got.until((m) => m.data === 'sentinel', 'the sentinel');
    expect(sub.wireOn('/news'), 'each exactly once').to.have.length(52);
    expect(sub.clientId, 'the same session').to.equal(id);
    expect(sub.handshakes.length).to.equal(1);
    expect(a.upgrades.length, 'nothing more at A').to.equal(1);
    expect(b.upgrades.length, 'the subscriber now on a socket at B too').to.be.at.least(2);
    await waitUntil(() => a.transport.openSockets === 0, 'A to forget the socket');
  });
});
