/**
 * The shape of what the server writes, as the clients depend on it: `id` echoed as a
 * string on every reply, `successful` on every reply, `data` on every delivery and never
 * on an ack, deliveries without `clientId`/`id`, `subscription` echoed unchanged, full
 * advice, the handshake reply first and alone, unique client ids, one copy per session.
 */
import { expect } from 'chai';
import type { Exchange } from '../index.js';
import { RawServer, deliveries, replyOn, waitForHold, type RawClient, type WireMessage } from './support/raw-client.js';

/** Splits a response into replies (have `successful`, no `data`) and deliveries (have `data`). */
function classify(messages: WireMessage[]): { replies: WireMessage[]; deliveries: WireMessage[] } {
  return {
    replies: messages.filter((m) => 'successful' in m && !('data' in m)),
    deliveries: messages.filter((m) => 'data' in m),
  };
}

describe('reply shape', function () {
  const TIMEOUT = 250;
  const INTERVAL = 40;
  let server: RawServer;
  let a: RawClient;
  let b: RawClient;

  beforeEach(async function () {
    server = await RawServer.start({ timeout: TIMEOUT, interval: INTERVAL });
    a = await server.connectedClient();
    b = await server.connectedClient();
  });
  afterEach(async function () {
    await server.close();
  });

  describe('id', function () {
    const ids: [unknown, string][] = [
      ['abc', 'abc'],
      ['', ''],
      [7, '7'],
      [0, '0'],
      [1.5, '1.5'],
      [-3, '-3'],
    ];
    for (const [sent, echoed] of ids) {
      it(`id ${JSON.stringify(sent)} is echoed as ${JSON.stringify(echoed)} on every reply type`, async function () {
        const c = server.client();
        const hs = await c.handshake({ id: sent });
        expect(hs.id).to.equal(echoed);
        const all: WireMessage[] = [];
        all.push(...(await c.connect({ id: sent })));
        all.push(...(await c.subscribe('/x', { id: sent })));
        all.push(...(await c.subscribe('/meta/x', { id: sent }))); // refused
        all.push(...(await c.publish('/x', 1, { id: sent })));
        all.push(...(await c.publish('/service/x', 1, { id: sent })));
        all.push(...(await c.publish('/x/*', 1, { id: sent }))); // refused
        all.push(...(await c.publish('/x', undefined, { id: sent }))); // refused: no data
        all.push(...(await c.unsubscribe('/x', { id: sent })));
        all.push(...(await c.send({ channel: '/meta/unknown', id: sent }))); // refused
        const held = c.connect({ id: sent });
        await waitForHold(server, c.clientId);
        all.push(...(await c.disconnect({ id: sent })));
        all.push(...(await held));
        all.push(...(await c.connect({ id: sent }))); // refused: gone
        const { replies } = classify(all);
        expect(replies.length).to.equal(12);
        for (const r of replies) expect(r.id, JSON.stringify(r)).to.equal(echoed);
      });
    }

    it('a reply to a message without id has no id', async function () {
      const r = await a.send({ channel: '/x', data: 1, id: undefined });
      expect(r).to.deep.equal([{ channel: '/x', successful: true }]);
    });
  });

  describe('successful and data', function () {
    it('every reply carries a boolean successful; failures carry an error string', async function () {
      const all: WireMessage[] = [];
      all.push(...(await a.subscribe('/s')));
      all.push(...(await a.subscribe(5)));
      all.push(...(await a.publish('/s', 'x')));
      all.push(...(await a.publish('bad', 'x')));
      all.push(...(await a.unsubscribe('/s')));
      all.push(...(await a.connect({ advice: { timeout: 0 } })));
      all.push(...(await server.send([{ channel: '/meta/connect', clientId: 'nobody', connectionType: 'long-polling' }])));
      const { replies } = classify(all);
      expect(replies).to.have.length(7);
      for (const r of replies) {
        expect(r.successful, JSON.stringify(r)).to.be.a('boolean');
        if (r.successful) expect(r).to.not.have.property('error');
        else expect(r.error).to.be.a('string').and.match(/^\d{3}:[^:]*:/);
      }
    });

    for (const data of [null, false, 0, '', [], {}, 'text', { nested: [1, { deep: true }] }]) {
      it(`a delivery of ${JSON.stringify(data)} carries it as data; the publish ack has no data`, async function () {
        await a.mustSubscribe('/d');
        const ack = await b.publish('/d', data, { id: 'p' });
        expect(ack).to.deep.equal([{ id: 'p', channel: '/d', successful: true }]);
        const got = await a.connect();
        expect(deliveries(got)).to.deep.equal([{ channel: '/d', data }]);
      });
    }

    it('deliveries carry neither the publisher clientId nor its message id; ext is kept', async function () {
      await a.mustSubscribe('/d');
      await b.publish('/d', 'x', { id: 'secret-id', ext: { trace: 'abc' } });
      const [delivery] = deliveries(await a.connect());
      expect(delivery).to.deep.equal({ channel: '/d', data: 'x', ext: { trace: 'abc' } });
    });

    it('an app-code publish delivers channel, data and ext only', async function () {
      await a.mustSubscribe('/d');
      await server.bayeux.publish('/d', { v: 1 }, { ext: { source: 'app' } });
      expect(deliveries(await a.connect())).to.deep.equal([{ channel: '/d', data: { v: 1 }, ext: { source: 'app' } }]);
    });

    it('publish acks never carry data, also when the publisher receives its own message', async function () {
      await a.mustSubscribe('/d');
      const r = await a.publish('/d', 'mine', { id: 'own' });
      expect(r).to.deep.equal([
        { channel: '/d', data: 'mine' },
        { id: 'own', channel: '/d', successful: true },
      ]);
    });
  });

  describe('subscription echo', function () {
    const values: unknown[] = ['/e', '/e/*', '/e/**', ['/e/a', '/e/b'], ['/e/single'], '/service/e', ['/e/x', '/service/e']];
    for (const sub of values) {
      it(`subscribe and unsubscribe echo ${JSON.stringify(sub)} unchanged`, async function () {
        const s = replyOn(await a.subscribe(sub), '/meta/subscribe');
        expect(s).to.deep.include({ successful: true });
        expect(s.subscription).to.deep.equal(sub);
        const u = replyOn(await a.unsubscribe(sub), '/meta/unsubscribe');
        expect(u).to.deep.include({ successful: true });
        expect(u.subscription).to.deep.equal(sub);
      });
    }

    it('failed subscribes echo the subscription too', async function () {
      for (const sub of ['/meta/connect', ['/ok', '/bad//name'], '/a/*/b']) {
        const s = replyOn(await a.subscribe(sub), '/meta/subscribe');
        expect(s.successful).to.equal(false);
        expect(s.subscription).to.deep.equal(sub);
      }
    });

    it('unsubscribing from a channel never subscribed to succeeds (nothing to undo)', async function () {
      const u = replyOn(await a.unsubscribe('/never'), '/meta/unsubscribe');
      expect(u).to.deep.include({ successful: true, subscription: '/never' });
    });
  });

  describe('advice', function () {
    const full = { reconnect: 'retry', interval: INTERVAL, timeout: TIMEOUT };

    it('the handshake reply has full advice and the negotiation fields', async function () {
      const c = server.client();
      const reply = await c.handshake({ id: 'h1' });
      expect(reply).to.deep.equal({
        id: 'h1',
        channel: '/meta/handshake',
        successful: true,
        version: '1.0',
        minimumVersion: '1.0',
        clientId: c.clientId,
        supportedConnectionTypes: ['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource'],
        advice: full,
      });
    });

    it('a handshake without supportedConnectionTypes (cross-domain dojox) is accepted', async function () {
      const [reply] = await server.send([{ channel: '/meta/handshake', version: '1.0', minimumVersion: '0.9', id: '0' }]);
      expect(reply).to.deep.include({ successful: true, supportedConnectionTypes: ['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource'] });
    });

    it('handshake with the connection types Faye and CometD offer is accepted, advertising ours', async function () {
      for (const offered of [
        ['websocket', 'eventsource', 'long-polling', 'cross-origin-long-polling', 'callback-polling'],
        ['websocket', 'long-polling', 'callback-polling'],
        ['in-process', 'websocket', 'long-polling'],
        ['long-polling-json-encoded'],
      ]) {
        const [reply] = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: offered }]);
        expect(reply, JSON.stringify(offered)).to.deep.include({ successful: true });
        expect(reply!.supportedConnectionTypes).to.deep.equal(['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource']);
      }
    });

    it('every successful connect reply has full advice: immediate, released by mail, timed out', async function () {
      await a.mustSubscribe('/adv');
      const immediate = replyOn(await a.connect({ advice: { timeout: 0 } }), '/meta/connect');
      const held = a.connect();
      await waitForHold(server, a.clientId);
      await server.bayeux.publish('/adv', 1);
      const released = replyOn(await held, '/meta/connect');
      const timedOut = replyOn(await a.connect(), '/meta/connect');
      for (const r of [immediate, released, timedOut]) expect(r.advice, JSON.stringify(r)).to.deep.equal(full);
    });

    it('advice on refusals sends clients the right way', async function () {
      const unknown = replyOn(await server.send([{ channel: '/meta/connect', clientId: 'gone', connectionType: 'long-polling' }]), '/meta/connect');
      expect(unknown.advice).to.deep.equal({ reconnect: 'handshake', interval: 0 });
      const [version] = await server.send([{ channel: '/meta/handshake', version: '3.0' }]);
      expect(version!.advice).to.deep.include({ reconnect: 'none' });
    });
  });

  describe('the handshake reply', function () {
    it('comes first and alone, even when a handshake listener queues mail; the mail comes with the first connect', async function () {
      server.bayeux.on('handshake', (session) => {
        void session.deliver('/welcome', 'hello');
      });
      const c = server.client();
      const r = await c.send({
        channel: '/meta/handshake',
        version: '1.0',
        supportedConnectionTypes: ['long-polling'],
      });
      expect(r, JSON.stringify(r)).to.have.length(1);
      expect(r[0]!.channel).to.equal('/meta/handshake');
      c.clientId = r[0]!.clientId as string;
      const first = await c.connect();
      expect(first.map((m) => m.channel)).to.deep.equal(['/welcome', '/meta/connect']);
      expect(first[0]).to.deep.equal({ channel: '/welcome', data: 'hello' });
    });

    it('client ids are 32 lower-case hex characters', async function () {
      for (let i = 0; i < 50; i++) {
        const reply = await server.client().handshake();
        expect(reply.clientId).to.match(/^[0-9a-f]{32}$/);
      }
    });

    it('client ids are unique over 10,000 handshakes', async function () {
      this.timeout(20_000);
      const ids = new Set<string>();
      const N = 10_000;
      // Through the real pipeline, without HTTP (that part is covered above), to keep this fast.
      for (let i = 0; i < N; i++) {
        const reply = await processOne(server, { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] });
        const id = reply.clientId as string;
        expect(id).to.match(/^[0-9a-f]{32}$/);
        ids.add(id);
      }
      expect(ids.size).to.equal(N);
      // Plus a few hundred over HTTP, concurrently.
      const overHttp = await Promise.all(Array.from({ length: 300 }, () => server.client().handshake()));
      for (const r of overHttp) ids.add(r.clientId as string);
      expect(ids.size).to.equal(N + 300);
    });
  });

  describe('fan-out', function () {
    it('one copy per session when exact and wildcard subscriptions all match', async function () {
      await a.mustSubscribe(['/f/g/h', '/f/g/*', '/f/g/**', '/f/**', '/**']);
      await b.publish('/f/g/h', 'once');
      const got = await a.connect();
      expect(deliveries(got)).to.deep.equal([{ channel: '/f/g/h', data: 'once' }]);
    });

    it('each subscribed session gets its copy; an app-code publish resolves to the number of sessions', async function () {
      const c = await server.connectedClient();
      await a.mustSubscribe('/f/*');
      await b.mustSubscribe('/f/x');
      await c.mustSubscribe('/**');
      expect(await server.bayeux.publish('/f/x', 1)).to.equal(3);
      expect(await server.bayeux.publish('/f/x', 2, { exclude: b.clientId })).to.equal(2);
      for (const [client, expected] of [
        [a, [1, 2]],
        [b, [1]],
        [c, [1, 2]],
      ] as const) {
        expect(deliveries(await client.connect()).map((m) => m.data)).to.deep.equal(expected);
      }
    });

    it('a service channel subscribe succeeds and records nothing; service publishes reach no broadcast subscriber', async function () {
      const s = replyOn(await a.subscribe('/service/x'), '/meta/subscribe');
      expect(s.successful).to.equal(true);
      expect(await server.bayeux.session(a.clientId!).subscriptions()).to.deep.equal([]);
      await b.mustSubscribe(['/**', '/service/**', '/service/*']);
      expect((await server.bayeux.session(b.clientId!).subscriptions())!).to.deep.equal(['/**']);
      const ack = await a.publish('/service/x', 'private', { id: 'sx' });
      expect(ack).to.deep.equal([{ id: 'sx', channel: '/service/x', successful: true }]);
      expect(deliveries(await b.connect({ advice: { timeout: 0 } }))).to.deep.equal([]);
      expect(deliveries(await a.connect({ advice: { timeout: 0 } }))).to.deep.equal([]);
    });

    it('a service channel listener answers the caller only (request/response)', async function () {
      await b.mustSubscribe('/**');
      server.bayeux.channel('/service/echo').onMessage((message, session) => {
        void session.deliver(message.channel, { echo: message.data }, { id: message.id, successful: true });
      });
      const r = await a.publish('/service/echo', 'ping', { id: 'call-1' });
      const { replies, deliveries: answers } = classify(r);
      expect(replies).to.deep.equal([{ id: 'call-1', channel: '/service/echo', successful: true }]);
      expect(answers).to.deep.equal([{ channel: '/service/echo', id: 'call-1', data: { echo: 'ping' }, successful: true }]);
      expect(deliveries(await b.connect({ advice: { timeout: 0 } })), 'nobody else hears it').to.deep.equal([]);
    });
  });
});

/** Runs one message through `bayeux.process` with an in-memory exchange and returns its reply. */
async function processOne(server: RawServer, message: Record<string, unknown>): Promise<WireMessage> {
  const out: string[] = [];
  const exchange: Exchange = {
    context: { headers: {}, remoteAddress: '127.0.0.1', url: '/cometd' },
    connectionType: 'long-polling',
    piggyback: true,
    open: true,
    held: null,
    send(parts) {
      out.push(...parts);
    },
    fail(status, text) {
      throw new Error(`refused: ${status} ${text}`);
    },
  };
  await server.bayeux.process([message], exchange);
  if (out.length === 0) throw new Error('no answer');
  return JSON.parse(out[out.length - 1]!) as WireMessage;
}
