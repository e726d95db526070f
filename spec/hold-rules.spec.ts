/**
 * When a `/meta/connect` is answered at once and when it is held; what releases a held
 * connect (timeout, mail, a newer connect, disconnect, server shutdown); piggy-backing;
 * session expiry and the per-session limits. What released a connect is read from the reply
 * (mail in it, or a bare reply); time bounds only say a timer did not fire before its
 * deadline, with upper bounds of seconds, so the specs hold on a loaded machine.
 */
import { expect } from 'chai';
import type { BayeuxServerOptions } from '../index.js';
import {
  RawServer,
  deliveries,
  nextEvent,
  on,
  replyOn,
  waitForHold,
  waitUntil,
  type RawClient,
  type WireMessage,
} from './support/raw-client.js';

/** Generous upper bound for "answered at once" (the hold timeout in those tests is far longer). */
const PROMPT_MS = 1000;

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await p;
  return { value, ms: performance.now() - start };
}

/** Marks a promise as observed (so a rejection while the test is busy elsewhere is not "unhandled"). */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function connectReply(messages: WireMessage[]): WireMessage {
  const reply = replyOn(messages, '/meta/connect');
  expect(messages[messages.length - 1], 'the connect reply comes last').to.equal(reply);
  return reply;
}

describe('hold rules', function () {
  const servers: RawServer[] = [];
  async function start(options: BayeuxServerOptions): Promise<RawServer> {
    const s = await RawServer.start(options);
    servers.push(s);
    return s;
  }
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  describe('answered at once', function () {
    let server: RawServer;
    beforeEach(async function () {
      server = await start({ timeout: 5000 });
    });

    it('the first connect after handshake', async function () {
      const c = server.client();
      await c.handshake();
      const { value, ms } = await timed(c.connect());
      expect(ms).to.be.below(PROMPT_MS);
      expect(value).to.have.length(1);
      expect(connectReply(value).successful).to.equal(true);
    });

    it('a connect with advice.timeout 0', async function () {
      const c = await server.connectedClient();
      const { value, ms } = await timed(c.connect({ advice: { timeout: 0 } }));
      expect(ms).to.be.below(PROMPT_MS);
      expect(connectReply(value).successful).to.equal(true);
    });

    it('a connect batched with a subscribe, before or after it', async function () {
      const c = await server.connectedClient();
      for (const batch of [
        [{ channel: '/meta/connect', connectionType: 'long-polling' }, { channel: '/meta/subscribe', subscription: '/a' }],
        [{ channel: '/meta/subscribe', subscription: '/b' }, { channel: '/meta/connect', connectionType: 'long-polling' }],
      ]) {
        const { value, ms } = await timed(c.send(batch));
        expect(ms).to.be.below(PROMPT_MS);
        expect(value.map((m) => [m.channel, m.successful])).to.deep.include.members([
          ['/meta/connect', true],
          ['/meta/subscribe', true],
        ]);
      }
    });

    it('a connect while mail is queued, with the mail ahead of the reply', async function () {
      const c = await server.connectedClient();
      await c.mustSubscribe('/q');
      await server.bayeux.publish('/q', 'waiting');
      const { value, ms } = await timed(c.connect());
      expect(ms).to.be.below(PROMPT_MS);
      expect(value[0]).to.deep.equal({ channel: '/q', data: 'waiting' });
      expect(connectReply(value).successful).to.equal(true);
    });

    it('a server with timeout 0 never holds', async function () {
      const s = await start({ timeout: 0 });
      const c = await s.connectedClient();
      const { value, ms } = await timed(c.connect());
      expect(ms).to.be.below(PROMPT_MS);
      expect(connectReply(value).advice).to.deep.equal({ reconnect: 'retry', interval: 0, timeout: 0 });
    });
  });

  describe('held', function () {
    // Long enough that nothing a test does between the hold and the event that releases it
    // takes as long, even on a loaded machine; a release before it is not the timeout.
    const TIMEOUT = 1500;
    /**
     * Upper bound for a reply due at the timeout: late timers on a loaded machine, not early
     * ones (lower bounds allow 2 ms: hold deadlines are whole milliseconds).
     */
    const LATE_MS = 5000;
    let server: RawServer;
    let a: RawClient;
    let b: RawClient;
    beforeEach(async function () {
      server = await start({ timeout: TIMEOUT });
      a = await server.connectedClient();
      b = await server.connectedClient();
      await a.mustSubscribe('/chat/*');
    });

    it('a later connect is held until the timeout and then answered with a bare connect reply', async function () {
      // Several in a row, on two sessions: each answer holds its own reply and nothing else.
      for (const [client, id] of [
        [a, 'held-a1'],
        [b, 'held-b1'],
        [a, 'held-a2'],
      ] as const) {
        const { value, ms } = await timed(client.connect({ id }));
        expect(ms).to.be.within(TIMEOUT - 2, TIMEOUT + LATE_MS);
        expect(value).to.deep.equal([
          { id, channel: '/meta/connect', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: TIMEOUT } },
        ]);
      }
    });

    it('a client advice.timeout shorter than the server timeout wins', async function () {
      const { ms } = await timed(a.connect({ advice: { timeout: 80 } }));
      expect(ms).to.be.within(78, TIMEOUT - 2);
    });

    it('a client advice.timeout longer than the server timeout does not (CometD-JS sends 60000)', async function () {
      const { ms } = await timed(a.connect({ advice: { timeout: 60_000, interval: 0 } }));
      expect(ms).to.be.within(TIMEOUT - 2, TIMEOUT + LATE_MS);
    });

    it('a publish from another client releases it: delivery first, then the connect reply', async function () {
      const held = later(timed(a.connect({ id: 'c1' })));
      await waitForHold(server, a.clientId);
      const ack = await b.publish('/chat/room', { text: 'hi' }, { id: 'p1' });
      expect(ack).to.deep.equal([{ id: 'p1', channel: '/chat/room', successful: true }]);
      const { value, ms } = await held;
      expect(ms).to.be.below(TIMEOUT);
      expect(value).to.have.length(2);
      expect(value[0]).to.deep.equal({ channel: '/chat/room', data: { text: 'hi' } });
      expect(connectReply(value)).to.include({ id: 'c1', successful: true });
    });

    it('an app-code publish and a direct session.deliver release it too', async function () {
      let held = later(a.connect());
      await waitForHold(server, a.clientId);
      await server.bayeux.publish('/chat/x', 1);
      expect(deliveries(await held)).to.deep.equal([{ channel: '/chat/x', data: 1 }]);

      held = later(a.connect());
      await waitForHold(server, a.clientId);
      expect(await server.bayeux.session(a.clientId!).deliver('/private', 2)).to.equal(true);
      expect(deliveries(await held)).to.deep.equal([{ channel: '/private', data: 2 }]);
    });

    it('a burst of publishes in the same tick rides one response, in order', async function () {
      const held = later(a.connect());
      await waitForHold(server, a.clientId);
      await Promise.all([1, 2, 3, 4, 5].map((n) => server.bayeux.publish('/chat/burst', n)));
      const value = await held;
      expect(deliveries(value).map((m) => m.data)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(value).to.have.length(6);
    });

    it('a batch of publishes from another client rides one response, in order', async function () {
      const held = later(a.connect());
      await waitForHold(server, a.clientId);
      await b.send([1, 2, 3].map((n) => ({ channel: '/chat/batch', data: n })));
      expect(deliveries(await held).map((m) => m.data)).to.deep.equal([1, 2, 3]);
    });

    it('a publish to a channel the session is not subscribed to does not release it', async function () {
      const held = later(timed(a.connect()));
      await waitForHold(server, a.clientId);
      await b.publish('/elsewhere/x', 1);
      await b.publish('/chat/a/b', 1); // `*` matches one segment only
      const { value, ms } = await held;
      expect(ms).to.be.at.least(TIMEOUT - 2);
      expect(deliveries(value)).to.deep.equal([]);
    });

    it('a second connect answers the older one; the newer stays held and gets the next message', async function () {
      const first = later(timed(a.connect({ id: 'old' })));
      await waitForHold(server, a.clientId);
      const second = later(a.connect({ id: 'new' }));
      const { value: older, ms } = await first;
      expect(ms).to.be.below(TIMEOUT);
      expect(older).to.deep.equal([
        { id: 'old', channel: '/meta/connect', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: TIMEOUT } },
      ]);
      await waitUntil(() => server.bayeux.connects.get(a.clientId!)?.replyId === 'new', 'the newer connect to be held');
      await b.publish('/chat/room', 'after');
      const newer = await second;
      expect(newer[0]).to.deep.equal({ channel: '/chat/room', data: 'after' });
      expect(connectReply(newer).id).to.equal('new');
    });

    it('a client that aborts its held connect loses nothing: the mail comes with the next connect', async function () {
      const abort = new AbortController();
      const held = later(a.connect({}, { signal: abort.signal }));
      await waitForHold(server, a.clientId);
      abort.abort();
      await held.then(
        () => expect.fail('the aborted request resolved'),
        () => undefined,
      );
      await waitUntil(() => server.bayeux.connects.get(a.clientId!) === undefined, 'the server to notice the abort');
      await b.publish('/chat/room', 'while away');
      await server.bayeux.publish('/chat/room', 'also while away');
      const { value, ms } = await timed(a.connect());
      expect(ms).to.be.below(TIMEOUT);
      expect(deliveries(value).map((m) => m.data)).to.deep.equal(['while away', 'also while away']);
      expect(connectReply(value).successful).to.equal(true);
    });

    it('piggy-back: a subscribe or publish of a session with queued mail gets the mail ahead of its reply', async function () {
      await b.publish('/chat/one', 1);
      const sub = await a.subscribe('/other');
      expect(sub.map((m) => m.channel)).to.deep.equal(['/chat/one', '/meta/subscribe']);
      expect(sub[0]).to.deep.equal({ channel: '/chat/one', data: 1 });

      await b.publish('/chat/two', 2);
      const pub = await a.publish('/elsewhere', 'x', { id: 'px' });
      expect(pub).to.deep.equal([
        { channel: '/chat/two', data: 2 },
        { id: 'px', channel: '/elsewhere', successful: true },
      ]);
      // Nothing is left for the next connect.
      const { value, ms } = await timed(a.connect());
      expect(ms).to.be.at.least(TIMEOUT - 2);
      expect(deliveries(value)).to.deep.equal([]);
    });

    it('piggy-back while a connect is held: the delivery rides the publish response, not both', async function () {
      const held = later(timed(a.connect()));
      await waitForHold(server, a.clientId);
      const pub = await a.publish('/chat/self', 'mine', { id: 'ps' });
      expect(pub).to.deep.equal([
        { channel: '/chat/self', data: 'mine' },
        { id: 'ps', channel: '/chat/self', successful: true },
      ]);
      const { value, ms } = await held;
      expect(ms).to.be.at.least(TIMEOUT - 2);
      expect(deliveries(value), 'no second copy on the held connect').to.deep.equal([]);
    });

    it('disconnect releases the held connect with advice reconnect none', async function () {
      const held = later(timed(a.connect({ id: 'hc' })));
      await waitForHold(server, a.clientId);
      const removed = nextEvent(server.bayeux, 'sessionRemoved');
      const bye = await a.disconnect({ id: 'bye' });
      expect(bye).to.deep.equal([{ id: 'bye', channel: '/meta/disconnect', successful: true }]);
      const { value, ms } = await held;
      expect(ms).to.be.below(TIMEOUT);
      expect(value).to.have.length(1);
      expect(value[0]).to.deep.include({ id: 'hc', channel: '/meta/connect', successful: true });
      expect(value[0]!.advice).to.deep.include({ reconnect: 'none' });
      expect(await removed).to.deep.equal([a.clientId, 'disconnect']);
    });

    it('server-side session.disconnect() answers the held connect with a /meta/disconnect and reconnect none', async function () {
      const held = later(a.connect({ id: 'hs' }));
      await waitForHold(server, a.clientId);
      const removed = nextEvent(server.bayeux, 'sessionRemoved');
      expect(await server.bayeux.session(a.clientId!).disconnect()).to.equal(true);
      const value = await held;
      expect(value).to.have.length(2);
      expect(value[0]).to.deep.include({ channel: '/meta/disconnect', successful: true });
      expect(value[1]).to.deep.include({ id: 'hs', channel: '/meta/connect', successful: true });
      expect(value[1]!.advice).to.deep.include({ reconnect: 'none' });
      expect(await removed).to.deep.equal([a.clientId, 'server']);
      const [again] = await a.connect();
      expect(again).to.include({ successful: false, error: '402::session_unknown' });
      expect(await server.bayeux.session(a.clientId!).disconnect(), 'a second disconnect finds nothing').to.equal(false);
    });

    it('bayeux.close() answers held connects at once; later requests get 503', async function () {
      const heldA = later(timed(a.connect({ id: 'ca' })));
      const heldB = later(timed(b.connect({ id: 'cb' })));
      await waitForHold(server, a.clientId);
      await waitForHold(server, b.clientId);
      await server.bayeux.close();
      for (const [held, id] of [
        [heldA, 'ca'],
        [heldB, 'cb'],
      ] as const) {
        const { value, ms } = await held;
        expect(ms).to.be.below(TIMEOUT);
        expect(value).to.have.length(1);
        expect(value[0]).to.deep.include({ id, channel: '/meta/connect', successful: true });
      }
      const r = await server.post(JSON.stringify([{ channel: '/meta/handshake', version: '1.0' }]));
      expect(r.status).to.equal(503);
    });
  });

  describe('session expiry', function () {
    it('a session that stops connecting is removed (reason timeout) and then gets 402', async function () {
      const server = await start({ timeout: 300, maxInterval: 100, sweepInterval: 20 });
      const c = await server.connectedClient();
      const began = performance.now();
      const [id, reason] = await nextEvent(server.bayeux, 'sessionRemoved', 10_000);
      expect(performance.now() - began).to.be.at.least(98);
      expect([id, reason]).to.deep.equal([c.clientId, 'timeout']);
      const [reply] = await c.connect();
      expect(reply).to.deep.include({ successful: false, error: '402::session_unknown' });
      expect(reply!.advice).to.deep.equal({ reconnect: 'handshake', interval: 0 });
      const [pub] = await c.publish('/x', 1);
      expect(pub).to.deep.include({ successful: false, error: '402::session_unknown' });
    });

    it('a session that handshakes and never connects is removed too', async function () {
      const server = await start({ timeout: 300, maxInterval: 100, sweepInterval: 20 });
      const c = server.client();
      await c.handshake();
      const [id, reason] = await nextEvent(server.bayeux, 'sessionRemoved', 10_000);
      expect([id, reason]).to.deep.equal([c.clientId, 'timeout']);
      expect(await server.bayeux.sessionCount()).to.equal(0);
    });

    it('a session whose connect is held does not expire, however long the hold', async function () {
      // The hold is several times maxInterval; maxInterval itself is wide enough for the
      // client's next connect to arrive in time on a loaded machine.
      const server = await start({ timeout: 3000, maxInterval: 600, sweepInterval: 20 });
      const c = await server.connectedClient();
      const removed: string[] = [];
      server.bayeux.on('sessionRemoved', (id) => removed.push(id));
      const { value, ms } = await timed(c.connect());
      expect(ms).to.be.at.least(2998);
      expect(connectReply(value).successful).to.equal(true);
      expect(removed).to.deep.equal([]);
      expect(await server.bayeux.session(c.clientId!).exists()).to.equal(true);
      // Connecting again in time keeps it alive; stopping lets it go.
      const next = later(c.connect());
      await waitForHold(server, c.clientId);
      await server.bayeux.session(c.clientId!).deliver('/x', 'kept');
      expect(deliveries(await next)).to.deep.equal([{ channel: '/x', data: 'kept' }]);
      const [id] = await nextEvent(server.bayeux, 'sessionRemoved', 10_000);
      expect(id).to.equal(c.clientId);
    });

    it('a session that keeps connecting lives on, and mail published meanwhile is not lost', async function () {
      // maxInterval wide enough for each next connect on a loaded machine; the loop runs
      // for several maxIntervals, so the session outlives any single one.
      const MAX_INTERVAL = 500;
      const server = await start({ timeout: 50, maxInterval: MAX_INTERVAL, sweepInterval: 20 });
      const c = await server.connectedClient();
      await c.mustSubscribe('/t');
      const removed: string[] = [];
      server.bayeux.on('sessionRemoved', (id) => removed.push(id));
      const got: unknown[] = [];
      const began = performance.now();
      let n = 0;
      for (; n < 8 || performance.now() - began < 3 * MAX_INTERVAL; n++) {
        await server.bayeux.publish('/t', n);
        got.push(...deliveries(await c.connect()).map((m) => m.data));
      }
      expect(got).to.deep.equal([...Array(n).keys()]);
      expect(removed).to.deep.equal([]);
    });
  });

  describe('limits', function () {
    it('maxQueue drops the oldest messages and emits queueOverflow', async function () {
      const server = await start({ timeout: 300, maxQueue: 3 });
      const c = await server.connectedClient();
      await c.mustSubscribe('/q');
      const overflow: [string, number][] = [];
      server.bayeux.on('queueOverflow', (id, dropped) => overflow.push([id, dropped]));
      for (let i = 1; i <= 5; i++) await server.bayeux.publish('/q', i);
      expect(overflow.reduce((n, [, d]) => n + d, 0)).to.equal(2);
      expect(overflow.every(([id]) => id === c.clientId)).to.equal(true);
      const value = await c.connect();
      expect(deliveries(value).map((m) => m.data)).to.deep.equal([3, 4, 5]);
    });

    it('maxQueue counts per session: a session that drains keeps everything', async function () {
      const server = await start({ timeout: 300, maxQueue: 3 });
      const slow = await server.connectedClient();
      const fast = await server.connectedClient();
      await slow.mustSubscribe('/q');
      await fast.mustSubscribe('/q');
      const fastGot: unknown[] = [];
      for (let i = 1; i <= 6; i++) {
        await server.bayeux.publish('/q', i);
        if (i % 2 === 0) fastGot.push(...deliveries(await fast.connect()).map((m) => m.data));
      }
      expect(fastGot).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(deliveries(await slow.connect()).map((m) => m.data)).to.deep.equal([4, 5, 6]);
    });

    it('maxSubscriptionsPerSession refuses the subscription beyond the limit with 403', async function () {
      const server = await start({ timeout: 300, maxSubscriptionsPerSession: 2 });
      const c = await server.connectedClient();
      await c.mustSubscribe('/a');
      await c.mustSubscribe('/b/**');
      await c.mustSubscribe('/a'); // already held: no new slot needed
      await c.mustSubscribe('/service/x'); // service channels are not recorded
      const over = replyOn(await c.subscribe('/c', { id: 'over' }), '/meta/subscribe');
      expect(over).to.deep.include({ id: 'over', successful: false, error: '403:2:too_many_subscriptions', subscription: '/c' });
      await c.unsubscribe('/a');
      const both = replyOn(await c.subscribe(['/c', '/d']), '/meta/subscribe');
      expect(both.successful, 'a batch that would exceed the limit is refused as a whole').to.equal(false);
      expect((await server.bayeux.session(c.clientId!).subscriptions())!.sort()).to.deep.equal(['/b/**']);
      await c.mustSubscribe('/c');
    });
  });

  describe('response shape of long polls', function () {
    it('every long-poll answer is HTTP 200 with a non-empty JSON array', async function () {
      const server = await start({ timeout: 100 });
      const c = await server.connectedClient();
      for (let i = 0; i < 3; i++) {
        const r = await server.post(JSON.stringify([c.fill({ channel: '/meta/connect', connectionType: 'long-polling' })]));
        expect(r.status).to.equal(200);
        const value = JSON.parse(r.text) as WireMessage[];
        expect(value).to.be.an('array').with.length.above(0);
        expect(on(value, '/meta/connect')).to.have.length(1);
      }
    });
  });
});
