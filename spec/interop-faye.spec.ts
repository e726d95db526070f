/**
 * The real Faye 1.4 Node client against the server mounted in Express, Koa and plain
 * node:http. Every scenario runs in each mount.
 *
 * Negative checks ("X did not arrive") use a sentinel instead of a sleep: the same
 * publisher sends the sentinel after X, and a session's deliveries arrive in order, so
 * once the sentinel is in, X would have been too. They count messages on the wire (an
 * incoming extension), since the client fans one message out to every local match.
 */
import { expect } from 'chai';
import { FayeClient, closeAllFayeClients, type Delivered } from './support/faye-client.js';
import { PAYLOADS, assertSamePayload } from './support/interop-payloads.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { INTEROP_MOUNTS, startServer, stopAllServers, type RunningServer } from './support/servers.js';
import { Inbox, nextEvent } from './support/wait.js';
import type { BayeuxServerOptions, ServerSession } from '../index.js';

const CLIENT_ID = /^[0-9a-f]{32}$/;

for (const mount of INTEROP_MOUNTS) {
  describe(`interop: Faye client, server in ${mount}`, function () {
    let server: RunningServer;

    async function start(options: BayeuxServerOptions = {}): Promise<RunningServer> {
      server = await startServer(mount, { timeout: 2000, ...options });
      return server;
    }

    /** A client that has handshaken. */
    async function connected(url = server.url): Promise<FayeClient> {
      const c = new FayeClient(url);
      await c.connect();
      return c;
    }

    afterEach(async function () {
      await closeAllFayeClients();
      await closeAllProxies();
      await stopAllServers();
    });

    it('handshakes and connects', async function () {
      await start();
      const seen = nextEvent<[ServerSession]>(server.bayeux, 'handshake', 'the server handshake event');
      const c = new FayeClient(server.url);
      const id = await c.connect();
      expect(id).to.match(CLIENT_ID);
      expect(c.state).to.equal('connected');
      expect(c.handshakes.items[0]!.supportedConnectionTypes).to.deep.equal(['long-polling', 'callback-polling', 'iframe']);
      expect((await seen)[0].id).to.equal(id);
      expect(await server.bayeux.session(id).exists()).to.equal(true);
    });

    it('subscribes: the server records the subscription', async function () {
      await start();
      const c = await connected();
      const seen = nextEvent<[ServerSession, string]>(server.bayeux, 'subscribe', 'the server subscribe event');
      await c.subscribe('/chat/room', () => {});
      const [session, channel] = await seen;
      expect(session.id).to.equal(c.clientId);
      expect(channel).to.equal('/chat/room');
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal(['/chat/room']);
    });

    it('delivers a publish from one client to every subscriber, publisher included [matrix Faye (Node)|long-polling]', async function () {
      await start();
      const a = await connected();
      const b = await connected();
      const atA = new Inbox<Delivered>();
      const atB = new Inbox<Delivered>();
      await a.subscribe('/chat/room', atA.push);
      await b.subscribe('/chat/room', atB.push);
      await a.publish('/chat/room', { text: 'hello', from: 'a' });
      expect(await atB.nth(0, 'the message at b')).to.deep.equal({ channel: '/chat/room', data: { text: 'hello', from: 'a' } });
      expect(await atA.nth(0, 'the message back at a')).to.deep.equal({ channel: '/chat/room', data: { text: 'hello', from: 'a' } });
      const wire = b.wireOn('/chat/room')[0]!;
      expect(wire).not.to.have.property('clientId');
    });

    it('routes wildcards: /a/* one level, /a/** all levels, one copy per client [matrix Faye (Node)|long-polling]', async function () {
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
    });

    it('stops delivering after unsubscribe [matrix Faye (Node)|long-polling]', async function () {
      await start();
      const pub = await connected();
      const sub = await connected();
      const news = new Inbox<Delivered>();
      const subscription = await sub.subscribe('/news', news.push);
      const done = new Inbox<Delivered>();
      await sub.subscribe('/done', done.push);
      await pub.publish('/news', 1);
      await news.nth(0, 'the first news');

      // Faye's unsubscribe has no callback: the server's event tells when it is done.
      const seen = nextEvent<[ServerSession, string]>(server.bayeux, 'unsubscribe', 'the server unsubscribe event');
      subscription.cancel();
      expect((await seen)[1]).to.equal('/news');
      expect(await server.bayeux.session(sub.clientId!).subscriptions()).to.deep.equal(['/done']);
      await pub.publish('/news', 2);
      await pub.publish('/done', 'sentinel');
      await done.nth(0, 'the sentinel');
      expect(sub.wireOn('/news').map((m) => m.data)).to.deep.equal([1]);
    });

    it('answers a /service request on a reply channel the client subscribed to', async function () {
      await start();
      // Faye matches nothing by message id: a reply reaches app code only through a local
      // subscription. So the request names a reply channel the client subscribed to, and
      // the server delivers to that session alone (session.deliver bypasses subscriptions:
      // no one else subscribed to the same channel gets it).
      server.bayeux.channel('/service/echo').onMessage((m, session) => {
        const { replyTo, payload } = m.data as { replyTo: string; payload: unknown };
        return session.deliver(replyTo, { echo: payload, by: session.id });
      });
      const c = await connected();
      const other = await connected();
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

    it('answers on the /service channel itself when the client subscribes to it (a no-op subscribe here)', async function () {
      await start();
      // A Faye server refuses /service subscribes (403); this server accepts them as
      // no-ops (CometD clients do that), which gives Faye clients a local listener there.
      server.bayeux.channel('/service/time').onMessage((m, session) => session.deliver(m.channel, { asked: m.data, answer: 42 }));
      const c = await connected();
      const answers = new Inbox<Delivered>();
      await c.subscribe('/service/time', answers.push);
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
      await c.publish('/service/time', 'what time');
      expect(await answers.nth(0, 'the answer')).to.deep.equal({ channel: '/service/time', data: { asked: 'what time', answer: 42 } });
    });

    it('delivers what app code publishes with bayeux.publish to every subscriber', async function () {
      await start();
      const a = await connected();
      const b = await connected();
      const atA = new Inbox<Delivered>();
      const atB = new Inbox<Delivered>();
      await a.subscribe('/stocks/*', atA.push);
      await b.subscribe('/stocks/ACME', atB.push);
      const n = await server.bayeux.publish('/stocks/ACME', { price: 12.5 }, { ext: { source: 'app' } });
      expect(n).to.equal(2);
      for (const [name, inbox] of [['a', atA], ['b', atB]] as const) {
        expect(await inbox.nth(0, `the app publish at ${name}`)).to.deep.equal({ channel: '/stocks/ACME', data: { price: 12.5 } });
      }
      expect(b.wireOn('/stocks/ACME')[0]!.ext).to.deep.equal({ source: 'app' });
    });

    it('delivers 1000 messages published back-to-back, complete and in order [matrix Faye (Node)|long-polling]', async function () {
      await start();
      const pub = await connected();
      const sub = await connected();
      const got = new Inbox<Delivered>();
      await sub.subscribe('/seq', got.push);
      // Faye sends a burst as ~2 KB batches on parallel requests (about 46 sockets for
      // these 1000), so the order between requests is the network's, not the client's.
      // The server's promise is to deliver in the order it accepted: check against that.
      const accepted: number[] = [];
      server.bayeux.on('publish', (_s, channel, data) => {
        if (channel === '/seq') accepted.push((data as { i: number }).i);
      });
      const acks: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) acks.push(pub.publish('/seq', { i }, 15000));
      await Promise.all(acks);
      for (let i = 1000; i < 2000; i++) void server.bayeux.publish('/seq', { i });
      const all = await got.atLeast(2000, 'all 2000 messages', 15000);
      const delivered = all.map((m) => (m.data as { i: number }).i);
      expect([...accepted].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i));
      expect(delivered).to.deep.equal(accepted);
      expect(sub.wireOn('/seq')).to.have.length(2000);
    });

    it('round-trips payloads exactly (unicode, nesting, numbers, null, 64 KB) [matrix Faye (Node)|long-polling]', async function () {
      await start();
      const pub = await connected();
      const sub = await connected();
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
    });

    it('disconnects: the server removes the session, the client is disconnected', async function () {
      await start();
      const c = await connected();
      const id = c.clientId!;
      const removed = nextEvent<[string, string]>(server.bayeux, 'sessionRemoved', 'sessionRemoved', (cid) => cid === id);
      await c.disconnect();
      expect((await removed)[1]).to.equal('disconnect');
      expect(c.state).to.equal('disconnected');
      expect(await server.bayeux.session(id).exists()).to.equal(false);
    });

    it('re-handshakes by itself after the server forgot its session, and re-subscribes', async function () {
      await start({ maxInterval: 300, sweepInterval: 50 });
      const proxy = await OutageProxy.start(server.port);
      const c = await connected(proxy.url());
      const news = new Inbox<Delivered>();
      await c.subscribe('/news', news.push);
      const first = c.clientId!;
      const expired = nextEvent<[string, string]>(server.bayeux, 'sessionRemoved', 'the session to expire', (id) => id === first);
      // Faye re-subscribes by itself after a re-handshake; the server sees it.
      const resubscribed = nextEvent<[ServerSession, string]>(
        server.bayeux,
        'subscribe',
        'the automatic re-subscription',
        (s, ch) => s.id !== first && ch === '/news',
      );

      proxy.cut(); // the client cannot reach the server for longer than maxInterval
      expect((await expired)[1]).to.equal('timeout');
      proxy.restore();

      const [session] = await resubscribed;
      expect(c.handshakes.length).to.equal(2);
      expect(c.clientId).to.equal(session.id).and.match(CLIENT_ID);
      await server.bayeux.publish('/news', 'after expiry');
      expect((await news.nth(0, 'news after the re-handshake')).data).to.equal('after expiry');
    });

    it('recovers after the server restarts on the same port', async function () {
      await start();
      const c = await connected();
      const news = new Inbox<Delivered>();
      await c.subscribe('/news', news.push);
      await server.bayeux.publish('/news', 'before');
      await news.nth(0, 'news before the restart');
      const first = c.clientId;

      const port = server.port;
      await server.stop();
      const restarted = await startServer(mount, { timeout: 2000 }, { port });
      const resubscribed = nextEvent<[ServerSession, string]>(restarted.bayeux, 'subscribe', 'the re-subscription', (_s, ch) => ch === '/news');

      const [session] = await resubscribed;
      expect(session.id).not.to.equal(first);
      expect(c.clientId).to.equal(session.id);
      expect(await restarted.bayeux.publish('/news', 'after')).to.equal(1);
      expect((await news.nth(1, 'news after the restart')).data).to.equal('after');
    });
  });
}
