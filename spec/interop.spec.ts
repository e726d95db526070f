/**
 * The real Node clients against the server mounted in Express, Koa and plain node:http:
 * CometD JavaScript 9 (through `cometd-nodejs-client`) and Faye 1.4. One table of
 * scenarios runs against each client in each mount, through the common interface of
 * support/interop-clients.ts; after the table, each client's own scenarios (titles
 * starting `<client> only:`) run in the same suites.
 *
 * Negative checks ("X did not arrive") use a sentinel instead of a sleep: the same
 * publisher sends the sentinel after X, and a session's deliveries arrive in order, so
 * once the sentinel is in, X would have been too. They count messages on the wire (an
 * incoming extension), since the client fans one message out to every local match.
 */
import { expect } from 'chai';
import type { Message } from 'cometd';
import type { CometDClient } from './support/cometd-client.js';
import type { FayeClient } from './support/faye-client.js';
import { COMETD, FAYE, type Delivered, type InteropClient, type InteropClientKind, type OpenOptions } from './support/interop-clients.js';
import { PAYLOADS, assertSamePayload } from './support/interop-payloads.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { INTEROP_MOUNTS, startServer, stopAllServers, type RunningServer } from './support/servers.js';
import { Inbox, nextEvent, waitUntil } from './support/wait.js';
import type { BayeuxServerOptions, ServerSession } from '../index.js';

const CLIENT_ID = /^[0-9a-f]{32}$/;

/** What a scenario gets: the server of the test and clients of the suite's library. */
interface Context<Raw = unknown> {
  readonly kind: InteropClientKind<Raw>;
  readonly mount: (typeof INTEROP_MOUNTS)[number];
  /** The server `start` started last. */
  readonly server: RunningServer;
  start(options?: BayeuxServerOptions): Promise<RunningServer>;
  /** A handshaken client whose first connect has been answered (at the server unless `url` says otherwise). */
  connected(url?: string, options?: OpenOptions): Promise<InteropClient<Raw>>;
}

interface Scenario {
  title: string;
  /** Proves the client on long-polling end to end: the title gets the suite's matrix tag. */
  matrix?: true;
  run(ctx: Context): Promise<void>;
}

/**
 * Waits until `c`, in a new session, has its subscription back: the server's `subscribe`
 * event from the new session (`subscribed`, listened for before the old session ended),
 * then the client's successful re-subscribe reply. Returns the new session.
 */
async function renewed(
  c: InteropClient,
  subscribed: Promise<[ServerSession, string]>,
  resubscribed: (what: string) => Promise<void>,
): Promise<ServerSession> {
  const [session] = await subscribed;
  await resubscribed('the re-subscription reply');
  expect(c.clientId).to.equal(session.id).and.match(CLIENT_ID);
  return session;
}

/** Two clients, `a` subscribed to `channelA` and `b` to `channelB`, and what each receives there. */
async function subscribers(connected: Context['connected'], channelA: string, channelB: string) {
  const a = await connected();
  const b = await connected();
  const atA = new Inbox<Delivered>();
  const atB = new Inbox<Delivered>();
  await a.subscribe(channelA, atA.push);
  await b.subscribe(channelB, atB.push);
  return { a, b, atA, atB };
}

/** The scenarios every client runs, in every mount. */
const SCENARIOS: Scenario[] = [
  {
    title: 'handshakes and connects',
    async run({ kind, start }) {
      const server = await start();
      const seen = nextEvent<[ServerSession]>(server.bayeux, 'handshake', 'the server handshake event');
      const c = await kind.open(server.url);
      const reply = c.handshakes.items[0]!;
      expect(reply.clientId).to.match(CLIENT_ID);
      expect(c.clientId).to.equal(reply.clientId);
      // WebSocket is offered first; these clients have it switched off and stay on long-polling.
      expect(reply.supportedConnectionTypes).to.deep.equal(['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource']);
      const [session] = await seen;
      expect(session.id).to.equal(reply.clientId);
      // CometD's status flips connected -> connecting -> connected between connects; both count as connected.
      expect(c.status).to.equal('connected');
      expect(c.connectionType).to.equal('long-polling');
      expect(await server.bayeux.session(reply.clientId!).exists()).to.equal(true);
    },
  },
  {
    title: 'subscribes: the server records the subscription',
    async run({ start, connected }) {
      const server = await start();
      const c = await connected();
      const seen = nextEvent<[ServerSession, string]>(server.bayeux, 'subscribe', 'the server subscribe event');
      await c.subscribe('/chat/room', () => {});
      const [session, channel] = await seen;
      expect(session.id).to.equal(c.clientId);
      expect(channel).to.equal('/chat/room');
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal(['/chat/room']);
    },
  },
  {
    title: 'delivers a publish from one client to every subscriber, publisher included',
    matrix: true,
    async run({ start, connected }) {
      await start();
      const { a, b, atA, atB } = await subscribers(connected, '/chat/room', '/chat/room');
      await a.publish('/chat/room', { text: 'hello', from: 'a' }); // rejects unless acknowledged as successful
      expect(await atB.nth(0, 'the message at b')).to.deep.equal({ channel: '/chat/room', data: { text: 'hello', from: 'a' } });
      expect(await atA.nth(0, 'the message back at a')).to.deep.equal({ channel: '/chat/room', data: { text: 'hello', from: 'a' } });
      expect(b.wireOn('/chat/room')[0]).not.to.have.property('clientId');
    },
  },
  {
    title: 'routes wildcards: /a/* one level, /a/** all levels, one copy per client',
    matrix: true,
    async run({ start, connected }) {
      await start();
      const pub = await connected();
      const one = await connected(); // /a/*
      const all = await connected(); // /a/**
      const both = await connected(); // /a/b and /a/* and /a/**
      const local = { one: new Inbox<Delivered>(), all: new Inbox<Delivered>(), both: new Inbox<Delivered>() };
      await one.subscribe('/a/*', local.one.push);
      await all.subscribe('/a/**', local.all.push);
      await both.subscribe('/a/b', local.both.push);
      await both.subscribe('/a/*', local.both.push);
      await both.subscribe('/a/**', local.both.push);
      for (const c of [one, all, both]) await c.subscribe('/done', () => {});

      await pub.publish('/a/b', 'one level');
      await pub.publish('/a/b/c', 'two levels');
      await pub.publish('/done', 'sentinel');
      for (const [name, c] of Object.entries({ one, all, both })) {
        await c.wire.until((m) => m.channel === '/done', `the sentinel at ${name}`);
      }

      expect(one.wire.items.map((m) => m.channel)).to.deep.equal(['/a/b', '/done']);
      expect(all.wire.items.map((m) => m.channel)).to.deep.equal(['/a/b', '/a/b/c', '/done']);
      // One copy on the wire per client even though three of its subscriptions match /a/b...
      expect(both.wire.items.map((m) => m.channel)).to.deep.equal(['/a/b', '/a/b/c', '/done']);
      // ...which the client itself fans out to each matching subscription.
      expect(local.both.items.map((m) => m.channel)).to.deep.equal(['/a/b', '/a/b', '/a/b', '/a/b/c']);
      expect(local.one.items.map((m) => m.data)).to.deep.equal(['one level']);
    },
  },
  {
    title: 'stops delivering after unsubscribe',
    matrix: true,
    async run({ start, connected }) {
      const server = await start();
      const pub = await connected();
      const sub = await connected();
      const news = new Inbox<Delivered>();
      const subscription = await sub.subscribe('/news', news.push);
      const done = new Inbox<Delivered>();
      await sub.subscribe('/done', done.push);
      await pub.publish('/news', 1);
      await news.nth(0, 'the first news');

      // The server's event tells when the unsubscribe is done (Faye's has no reply callback).
      const seen = nextEvent<[ServerSession, string]>(server.bayeux, 'unsubscribe', 'the server unsubscribe event');
      await subscription.unsubscribe();
      expect((await seen)[1]).to.equal('/news');
      expect(await server.bayeux.session(sub.clientId!).subscriptions()).to.deep.equal(['/done']);
      await pub.publish('/news', 2);
      await pub.publish('/done', 'sentinel');
      await done.nth(0, 'the sentinel');
      expect(sub.wireOn('/news').map((m) => m.data)).to.deep.equal([1]);
    },
  },
  {
    title: 'answers a remote call on a /service channel through session.deliver, to the caller only',
    async run({ start, connected }) {
      const server = await start();
      // The answer goes back on the request's channel with its id (CometD's remoteCall
      // matches it by id; Faye, subscribed to that channel, takes the next delivery there).
      server.bayeux.channel('/service/echo').onMessage((m, session) =>
        session.deliver(m.channel, { echo: m.data, by: session.id }, { id: m.id, successful: true }),
      );
      server.bayeux.channel('/service/fail').onMessage((m, session) =>
        session.deliver(m.channel, { reason: 'no such thing' }, { id: m.id, successful: false }),
      );
      const c = await connected();
      const watcher = await connected();
      await watcher.subscribe('/**', () => {});
      await watcher.subscribe('/done', () => {});

      const reply = await c.remoteCall('/echo', { n: 42, s: 'ünïcode' });
      expect(reply.successful).to.equal(true);
      expect(reply.channel).to.equal('/service/echo');
      expect(reply.data).to.deep.equal({ echo: { n: 42, s: 'ünïcode' }, by: c.clientId });

      const bad = await c.remoteCall('/fail', null);
      expect(bad.successful).to.equal(false);
      expect(bad.data).to.deep.equal({ reason: 'no such thing' });
      // A subscribe to a /service channel (Faye's way to listen there) is a no-op here.
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);

      // Service traffic goes to the caller only, never to subscribers (not even /**).
      await c.publish('/done', 'sentinel');
      await watcher.wire.until((m) => m.channel === '/done', 'the sentinel at the watcher');
      expect(watcher.wire.items.map((m) => m.channel)).to.deep.equal(['/done']);
    },
  },
  {
    title: 'delivers what app code publishes with bayeux.publish to every subscriber',
    async run({ start, connected }) {
      const server = await start();
      const { a, b, atA, atB } = await subscribers(connected, '/stocks/*', '/stocks/ACME');
      const n = await server.bayeux.publish('/stocks/ACME', { price: 12.5 }, { ext: { source: 'app' } });
      expect(n).to.equal(2);
      for (const [name, c, inbox] of [['a', a, atA], ['b', b, atB]] as const) {
        expect(await inbox.nth(0, `the app publish at ${name}`)).to.deep.equal({ channel: '/stocks/ACME', data: { price: 12.5 } });
        expect(c.wireOn('/stocks/ACME')[0]!.ext, `ext at ${name}`).to.deep.equal({ source: 'app' });
      }
    },
  },
  {
    title: 'delivers 1000 messages published back-to-back, complete and in order',
    matrix: true,
    async run({ kind, start, connected }) {
      const server = await start();
      const pub = await connected();
      const sub = await connected();
      const got = new Inbox<Delivered>();
      await sub.subscribe('/seq', got.push);
      // The server's promise is to deliver in the order it accepted: check against that.
      const accepted: number[] = [];
      server.bayeux.on('publish', (_s, channel, data) => {
        if (channel === '/seq') accepted.push((data as { i: number }).i);
      });
      const acks: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) acks.push(pub.publish('/seq', { i }, 15000));
      await Promise.all(acks);
      // And 1000 more from app code, in the same turn.
      for (let i = 1000; i < 2000; i++) void server.bayeux.publish('/seq', { i });
      const all = await got.atLeast(2000, 'all 2000 messages', 15000);
      const everyOne = Array.from({ length: 2000 }, (_, i) => i);
      expect([...accepted].sort((x, y) => x - y)).to.deep.equal(everyOne);
      expect(all.map((m) => (m.data as { i: number }).i)).to.deep.equal(accepted);
      // CometD sends one non-connect request at a time, in call order, so the server
      // receives them in order (Faye sends a burst as ~2 KB batches on parallel requests,
      // about 46 sockets for these 1000: the order between requests is the network's).
      if (kind.publishesInCallOrder) expect(accepted).to.deep.equal(everyOne);
      expect(sub.wireOn('/seq')).to.have.length(2000);
    },
  },
  {
    title: 'round-trips payloads exactly (unicode, nesting, numbers, null, 64 KB)',
    matrix: true,
    async run({ start, connected }) {
      const server = await start();
      const pub = await connected(server.url, { largeMessages: true });
      const sub = await connected(server.url, { largeMessages: true });
      const got = new Inbox<Delivered>();
      await sub.subscribe('/payload', got.push);
      const atServer: unknown[] = [];
      server.bayeux.on('publish', (_s, channel, data) => {
        if (channel === '/payload') atServer.push(data);
      });
      for (const [i, [name, value]] of PAYLOADS.entries()) {
        await pub.publish('/payload', value);
        const m = await got.nth(i, `the ${name} payload`);
        assertSamePayload(atServer[i], value, `${name}, as the server read it`);
        assertSamePayload(m.data, value, `${name}, as delivered`);
      }
    },
  },
  {
    title: 'disconnects: the server removes the session, the client is disconnected',
    async run({ start, connected }) {
      const server = await start();
      const c = await connected();
      const id = c.clientId!;
      const removed = nextEvent<[string, string]>(server.bayeux, 'sessionRemoved', 'sessionRemoved', (cid) => cid === id);
      expect(await c.disconnect()).to.equal(true);
      expect((await removed)[1]).to.equal('disconnect');
      expect(c.status).to.equal('disconnected');
      expect(await server.bayeux.session(id).exists()).to.equal(false);
    },
  },
  {
    title: 're-handshakes by itself after the server forgot its session, and re-subscribes',
    async run({ start, connected }) {
      const server = await start({ maxInterval: 300, sweepInterval: 50 });
      const proxy = await OutageProxy.start(server.port);
      const c = await connected(proxy.url());
      const news = new Inbox<Delivered>();
      const durable = await c.subscribeAcrossSessions('/news', news.push);
      const first = c.clientId!;
      const expired = nextEvent<[string, string]>(server.bayeux, 'sessionRemoved', 'the session to expire', (id) => id === first);
      const subscribed = nextEvent<[ServerSession, string]>(
        server.bayeux,
        'subscribe',
        'the re-subscription at the server',
        (s, ch) => s.id !== first && ch === '/news',
      );

      proxy.cut(); // the client cannot reach the server for longer than maxInterval
      expect((await expired)[1]).to.equal('timeout');
      proxy.restore();

      await c.handshakes.atLeast(2, 'the automatic re-handshake');
      await renewed(c, subscribed, durable.resubscribed);
      expect(c.handshakes.length).to.equal(2);
      expect(c.clientId).not.to.equal(first);
      await server.bayeux.publish('/news', 'after expiry');
      expect((await news.nth(0, 'news after the re-handshake')).data).to.equal('after expiry');
    },
  },
  {
    title: 'recovers after the server restarts on the same port',
    async run({ mount, start, connected }) {
      const server = await start();
      const c = await connected();
      const news = new Inbox<Delivered>();
      const durable = await c.subscribeAcrossSessions('/news', news.push);
      await server.bayeux.publish('/news', 'before');
      await news.nth(0, 'news before the restart');
      const first = c.clientId;

      const port = server.port;
      await server.stop();
      const restarted = await startServer(mount, { timeout: 2000 }, { port });
      const subscribed = nextEvent<[ServerSession, string]>(restarted.bayeux, 'subscribe', 'the re-subscription', (_s, ch) => ch === '/news');

      await c.handshakes.atLeast(2, 'the re-handshake with the new server');
      const session = await renewed(c, subscribed, durable.resubscribed);
      expect(session.id).not.to.equal(first);
      expect(await restarted.bayeux.publish('/news', 'after')).to.equal(1);
      expect((await news.nth(1, 'news after the restart')).data).to.equal('after');
    },
  },
];

/** CometD only: what the Faye client has no counterpart of. */
function cometdOnly(ctx: Context<CometDClient>): void {
  it('CometD only: stops when the server ends the session (session.disconnect)', async function () {
    const server = await ctx.start();
    const c = await ctx.connected();
    // The end is pushed on the held connect, so wait until the server holds one (no
    // public event says so). Between two connects, the client would instead get
    // 402::session_unknown on its next connect and re-handshake.
    await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the server to hold a connect');
    const disconnected = new Inbox<Message>();
    c.raw.cometd.addListener('/meta/disconnect', disconnected.push);
    expect(await server.bayeux.session(c.clientId!).disconnect()).to.equal(true);
    await disconnected.nth(0, 'the /meta/disconnect pushed by the server');
    expect(c.status).to.equal('disconnected');
    expect(c.handshakes.length).to.equal(1);
  });
}

/** Faye only: its idiom for request/response, since it matches nothing by message id. */
function fayeOnly(ctx: Context<FayeClient>): void {
  it('Faye only: answers a /service request on a reply channel the client subscribed to', async function () {
    const server = await ctx.start();
    // A reply reaches Faye app code only through a local subscription. So the request
    // names a reply channel the client subscribed to, and the server delivers to that
    // session alone (session.deliver bypasses subscriptions: no one else subscribed to
    // the same channel gets it).
    server.bayeux.channel('/service/echo').onMessage((m, session) => {
      const { replyTo, payload } = m.data as { replyTo: string; payload: unknown };
      return session.deliver(replyTo, { echo: payload, by: session.id });
    });
    const c = await ctx.connected();
    const other = await ctx.connected();
    const replies = new Inbox<Delivered>();
    const replyTo = `/replies/${c.clientId}`;
    await c.subscribe(replyTo, replies.push);
    await other.subscribe('/replies/**', () => {});
    await other.subscribe('/**', () => {});

    await c.publish('/service/echo', { replyTo, payload: { n: 42, s: 'ünïcode' } });
    const reply = await replies.nth(0, 'the service reply');
    expect(reply).to.deep.equal({ channel: replyTo, data: { echo: { n: 42, s: 'ünïcode' }, by: c.clientId } });

    await c.publish('/done', 'sentinel');
    await other.wire.until((m) => m.channel === '/done', 'the sentinel at the other client');
    expect(other.wire.items.map((m) => m.channel)).to.deep.equal(['/done']);
  });
}

/**
 * The suites of one client library on one transport: the table, then `only`, in each mount.
 * `tag` is the client's matrix tag, written out in full where the suite is declared below
 * (scripts/compat-matrix.mjs finds the tags in the spec sources, mocha in the titles).
 */
function suites<Raw>(
  kind: InteropClientKind<Raw>,
  transport: 'long-polling' | 'websocket',
  tag: string,
  only: (ctx: Context<Raw>) => void,
): void {
  for (const mount of INTEROP_MOUNTS) {
    describe(`interop: ${kind.name} client over ${transport}, server in ${mount}`, function () {
      let server: RunningServer | undefined;
      const ctx: Context<Raw> = {
        kind,
        mount,
        get server(): RunningServer {
          if (!server) throw new Error('no server started yet');
          return server;
        },
        async start(options = {}) {
          server = await startServer(mount, { timeout: 2000, ...options });
          return server;
        },
        connected(url = ctx.server.url, options = {}) {
          return kind.open(url, { transport, ...options });
        },
      };

      afterEach(async function () {
        server = undefined;
        await kind.closeAll();
        await closeAllProxies();
        await stopAllServers();
      });

      for (const scenario of SCENARIOS) {
        it(scenario.matrix ? `${scenario.title} ${tag}` : scenario.title, () => scenario.run(ctx));
      }
      only(ctx);
    });
  }
}

suites(COMETD, 'long-polling', '[matrix cometd-nodejs-client|long-polling]', cometdOnly);
suites(FAYE, 'long-polling', '[matrix Faye (Node)|long-polling]', fayeOnly);
suites(COMETD, 'websocket', '[matrix cometd-nodejs-client|websocket]', cometdOnly);
suites(FAYE, 'websocket', '[matrix Faye (Node)|websocket]', fayeOnly);
