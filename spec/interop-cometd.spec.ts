/**
 * The real CometD JavaScript client (npm `cometd` 9 in Node through
 * `cometd-nodejs-client`) against the server mounted in Express, Koa and plain node:http.
 * Every scenario runs in each mount.
 *
 * Negative checks ("X did not arrive") use a sentinel instead of a sleep: the same
 * publisher sends the sentinel after X, and a session's deliveries arrive in order, so
 * once the sentinel is in, X would have been too. They count messages on the wire (an
 * incoming extension), since the client fans one message out to every local match.
 */
import { expect } from 'chai';
import type { Message } from 'cometd';
import { CometDClient, closeAllCometDClients, type CometDOptions } from './support/cometd-client.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { INTEROP_MOUNTS, startServer, stopAllServers, type RunningServer } from './support/servers.js';
import { Inbox, nextEvent, waitUntil } from './support/wait.js';
import { PAYLOADS, assertSamePayload } from './support/interop-payloads.js';
import type { BayeuxServerOptions, ServerSession } from '../index.js';

const CLIENT_ID = /^[0-9a-f]{32}$/;

for (const mount of INTEROP_MOUNTS) {
  describe(`interop: CometD client, server in ${mount}`, function () {
    let server: RunningServer;

    async function start(options: BayeuxServerOptions = {}): Promise<RunningServer> {
      server = await startServer(mount, { timeout: 2000, ...options });
      return server;
    }

    /** A handshaken client whose first connect has been answered. */
    async function connected(url = server.url, options: CometDOptions = {}): Promise<CometDClient> {
      const c = new CometDClient(url, options);
      await c.handshake();
      await c.connects.atLeast(1, 'the first /meta/connect reply');
      return c;
    }

    afterEach(async function () {
      await closeAllCometDClients();
      await closeAllProxies();
      await stopAllServers();
    });

    it('handshakes and connects', async function () {
      await start();
      const seen = nextEvent<[ServerSession]>(server.bayeux, 'handshake', 'the server handshake event');
      const c = new CometDClient(server.url);
      const reply = await c.handshake();
      expect(reply.clientId).to.match(CLIENT_ID);
      expect(c.clientId).to.equal(reply.clientId);
      expect(reply.supportedConnectionTypes).to.include('long-polling');
      const [session] = await seen;
      expect(session.id).to.equal(reply.clientId);
      await c.connects.atLeast(1, 'the first /meta/connect reply');
      // Between connects the status flips connected -> connecting -> connected.
      expect(c.status).to.be.oneOf(['connecting', 'connected']);
      expect(c.cometd.getTransport()?.type).to.equal('long-polling');
      expect(await server.bayeux.session(reply.clientId!).exists()).to.equal(true);
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

    it('delivers a publish from one client to every subscriber, publisher included [matrix cometd-nodejs-client|long-polling]', async function () {
      await start();
      const a = await connected();
      const b = await connected();
      const atA = new Inbox<Message>();
      const atB = new Inbox<Message>();
      await a.subscribe('/chat/room', atA.push);
      await b.subscribe('/chat/room', atB.push);
      const ack = await a.publish('/chat/room', { text: 'hello', from: 'a' });
      expect(ack.successful).to.equal(true);
      const got = await atB.nth(0, 'the message at b');
      expect(got.channel).to.equal('/chat/room');
      expect(got.data).to.deep.equal({ text: 'hello', from: 'a' });
      expect(got).not.to.have.property('clientId');
      expect((await atA.nth(0, 'the message back at a')).data).to.deep.equal({ text: 'hello', from: 'a' });
    });

    it('routes wildcards: /a/* one level, /a/** all levels, one copy per client [matrix cometd-nodejs-client|long-polling]', async function () {
      await start();
      const pub = await connected();
      const one = await connected(); // /a/*
      const all = await connected(); // /a/**
      const both = await connected(); // /a/b and /a/* and /a/**
      const local = { one: new Inbox<Message>(), all: new Inbox<Message>(), both: new Inbox<Message>() };
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

    it('stops delivering after unsubscribe [matrix cometd-nodejs-client|long-polling]', async function () {
      await start();
      const pub = await connected();
      const sub = await connected();
      const news = new Inbox<Message>();
      const handle = await sub.subscribe('/news', news.push);
      const done = new Inbox<Message>();
      await sub.subscribe('/done', done.push);
      await pub.publish('/news', 1);
      await news.nth(0, 'the first news');

      const seen = nextEvent<[ServerSession, string]>(server.bayeux, 'unsubscribe', 'the server unsubscribe event');
      await sub.unsubscribe(handle);
      expect((await seen)[1]).to.equal('/news');
      expect(await server.bayeux.session(sub.clientId!).subscriptions()).to.deep.equal(['/done']);
      await pub.publish('/news', 2);
      await pub.publish('/done', 'sentinel');
      await done.nth(0, 'the sentinel');
      expect(sub.wireOn('/news').map((m) => m.data)).to.deep.equal([1]);
    });

    it('answers a remoteCall on a /service channel through session.deliver', async function () {
      await start();
      // CometD-JS publishes remoteCall('/echo', ...) to /service/echo with an id and waits
      // for a message with that id and `data` (successful or not) on any channel.
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

      // Service traffic goes to the caller only, never to subscribers (not even /**).
      await c.publish('/done', 'sentinel');
      await watcher.wire.until((m) => m.channel === '/done', 'the sentinel at the watcher');
      expect(watcher.wire.items.map((m) => m.channel)).to.deep.equal(['/done']);
    });

    it('delivers what app code publishes with bayeux.publish to every subscriber', async function () {
      await start();
      const a = await connected();
      const b = await connected();
      const atA = new Inbox<Message>();
      const atB = new Inbox<Message>();
      await a.subscribe('/stocks/*', atA.push);
      await b.subscribe('/stocks/ACME', atB.push);
      const n = await server.bayeux.publish('/stocks/ACME', { price: 12.5 }, { ext: { source: 'app' } });
      expect(n).to.equal(2);
      for (const [name, inbox] of [['a', atA], ['b', atB]] as const) {
        const m = await inbox.nth(0, `the app publish at ${name}`);
        expect(m.channel).to.equal('/stocks/ACME');
        expect(m.data).to.deep.equal({ price: 12.5 });
        expect(m.ext).to.deep.equal({ source: 'app' });
      }
    });

    it('delivers 1000 messages published back-to-back, complete and in order [matrix cometd-nodejs-client|long-polling]', async function () {
      await start();
      const pub = await connected();
      const sub = await connected();
      const got = new Inbox<Message>();
      await sub.subscribe('/seq', got.push);
      // CometD-JS sends one non-connect request at a time, in call order, so the server
      // receives them in order and must deliver them in that order.
      const acks: Promise<Message>[] = [];
      for (let i = 0; i < 1000; i++) acks.push(pub.publish('/seq', { i }, 15000));
      await Promise.all(acks);
      // And 1000 more from app code, in the same turn.
      for (let i = 1000; i < 2000; i++) void server.bayeux.publish('/seq', { i });
      const all = await got.atLeast(2000, 'all 2000 messages', 15000);
      expect(all.map((m) => (m.data as { i: number }).i)).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i));
      expect(sub.wireOn('/seq')).to.have.length(2000);
    });

    it('round-trips payloads exactly (unicode, nesting, numbers, null, 64 KB) [matrix cometd-nodejs-client|long-polling]', async function () {
      await start();
      // CometD-JS refuses to send a message over 8 KB unless this is raised.
      const big = { maxSendBayeuxMessageSize: 1024 * 1024 };
      const pub = await connected(server.url, big);
      const sub = await connected(server.url, big);
      const got = new Inbox<Message>();
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
      const reply = await c.disconnect();
      expect(reply?.successful).to.equal(true);
      expect((await removed)[1]).to.equal('disconnect');
      expect(c.status).to.equal('disconnected');
      expect(await server.bayeux.session(id).exists()).to.equal(false);
    });

    it('stops when the server ends the session (session.disconnect)', async function () {
      await start();
      const c = await connected();
      // The end is pushed on the held connect, so wait until the server holds one (no
      // public event says so). Between two connects, the client would instead get
      // 402::session_unknown on its next connect and re-handshake.
      await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the server to hold a connect');
      const disconnected = new Inbox<Message>();
      c.cometd.addListener('/meta/disconnect', disconnected.push);
      expect(await server.bayeux.session(c.clientId!).disconnect()).to.equal(true);
      await disconnected.nth(0, 'the /meta/disconnect pushed by the server');
      expect(c.status).to.equal('disconnected');
      expect(c.handshakes.length).to.equal(1);
    });

    it('re-handshakes by itself after the server forgot its session, and subscriptions work again', async function () {
      await start({ maxInterval: 300, sweepInterval: 50 });
      const proxy = await OutageProxy.start(server.port);
      const c = await connected(proxy.url());
      const news = new Inbox<Message>();
      const resubscribed = new Inbox<Message>();
      // CometD drops subscriptions on re-handshake; apps re-subscribe in this listener.
      c.cometd.addListener('/meta/handshake', (m: Message) => {
        if (m.successful && m.reestablish) c.cometd.subscribe('/news', news.push, resubscribed.push);
      });
      await c.subscribe('/news', news.push);
      const first = c.clientId!;
      const expired = nextEvent<[string, string]>(server.bayeux, 'sessionRemoved', 'the session to expire', (id) => id === first);

      proxy.cut(); // the client cannot reach the server for longer than maxInterval
      expect((await expired)[1]).to.equal('timeout');
      proxy.restore();

      await c.handshakes.atLeast(2, 'the automatic re-handshake');
      const again = await resubscribed.nth(0, 'the re-subscription');
      expect(again.successful).to.equal(true);
      expect(c.clientId).to.match(CLIENT_ID).and.not.equal(first);
      await server.bayeux.publish('/news', 'after expiry');
      expect((await news.nth(0, 'news after the re-handshake')).data).to.equal('after expiry');
    });

    it('recovers after the server restarts on the same port', async function () {
      await start();
      const c = await connected();
      const news = new Inbox<Message>();
      const resubscribed = new Inbox<Message>();
      c.cometd.addListener('/meta/handshake', (m: Message) => {
        if (m.successful && m.reestablish) c.cometd.subscribe('/news', news.push, resubscribed.push);
      });
      await c.subscribe('/news', news.push);
      await server.bayeux.publish('/news', 'before');
      await news.nth(0, 'news before the restart');
      const first = c.clientId;

      const port = server.port;
      await server.stop();
      const restarted = await startServer(mount, { timeout: 2000 }, { port });

      await c.handshakes.atLeast(2, 'the re-handshake with the new server');
      await resubscribed.nth(0, 'the re-subscription');
      expect(c.clientId).not.to.equal(first);
      expect(await restarted.bayeux.publish('/news', 'after')).to.equal(1);
      expect((await news.nth(1, 'news after the restart')).data).to.equal('after');
    });
  });
}
