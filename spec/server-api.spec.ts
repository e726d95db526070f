/**
 * The server's API for app code: events, channel listeners (veto, refusal, order),
 * app-code publish, session handles, option validation and close.
 */
import { expect } from 'chai';
import { BayeuxErrorException, BayeuxServer, EngineUnavailableError, Errors, type BayeuxServerOptions } from '../index.js';
import { RawServer, deliveries, replyOn, waitForHold, type RawClient } from './support/raw-client.js';

describe('server API', function () {
  let server: RawServer;
  let a: RawClient;
  let b: RawClient;

  beforeEach(async function () {
    server = await RawServer.start({ timeout: 300 });
    a = await server.connectedClient();
    b = await server.connectedClient();
  });
  afterEach(async function () {
    await server.close();
  });

  describe('events', function () {
    it('handshake: the new session and the handshake message (ext included)', async function () {
      const seen: [string, unknown][] = [];
      server.bayeux.on('handshake', (session, message) => seen.push([session.id, message.ext]));
      const c = server.client();
      await c.handshake({ ext: { token: 't' } });
      expect(seen).to.deep.equal([[c.clientId, { token: 't' }]]);
    });

    it('no handshake event for a refused handshake', async function () {
      let n = 0;
      server.bayeux.on('handshake', () => n++);
      await server.send([{ channel: '/meta/handshake', version: '2.0' }]);
      await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['flash'] }]);
      expect(n).to.equal(0);
    });

    it('subscribe and unsubscribe: one event per broadcast channel, none for service channels or failures', async function () {
      const seen: string[] = [];
      server.bayeux.on('subscribe', (session, channel) => seen.push(`+${session.id === a.clientId ? 'a' : '?'}${channel}`));
      server.bayeux.on('unsubscribe', (session, channel) => seen.push(`-${session.id === a.clientId ? 'a' : '?'}${channel}`));
      await a.subscribe(['/x', '/y/**', '/service/s']);
      await a.subscribe('/meta/connect');
      await a.unsubscribe('/x');
      await a.unsubscribe('/service/s');
      expect(seen).to.deep.equal(['+a/x', '+a/y/**', '-a/x']);
    });

    it('publish: the session for client publishes, null for app-code publishes; none for service or refused ones', async function () {
      const seen: [string | null, string, unknown][] = [];
      server.bayeux.on('publish', (session, channel, data) => seen.push([session ? session.id : null, channel, data]));
      await a.publish('/p', 1);
      await server.bayeux.publish('/p', 2);
      await a.publish('/service/p', 3);
      await a.publish('/p/*', 4);
      await a.send({ channel: '/p' });
      expect(seen).to.deep.equal([
        [a.clientId, '/p', 1],
        [null, '/p', 2],
      ]);
    });

    it('disconnect and sessionRemoved, with the reason', async function () {
      const seen: string[] = [];
      server.bayeux.on('disconnect', (session) => seen.push(`disconnect ${session.id}`));
      server.bayeux.on('sessionRemoved', (id, reason) => seen.push(`removed ${id} ${reason}`));
      await a.disconnect();
      await server.bayeux.session(b.clientId!).disconnect();
      expect(seen).to.deep.equal([`disconnect ${a.clientId}`, `removed ${a.clientId} disconnect`, `removed ${b.clientId} server`]);
    });
  });

  describe('channel listeners', function () {
    it('see the message and the publishing session before subscribers do', async function () {
      await b.mustSubscribe('/l');
      const seen: unknown[] = [];
      server.bayeux.channel('/l').onMessage((message, session) => {
        seen.push({ id: message.id, data: message.data, ext: message.ext, from: session.id });
      });
      await a.publish('/l', { v: 1 }, { id: 'm1', ext: { e: 1 } });
      expect(seen).to.deep.equal([{ id: 'm1', data: { v: 1 }, ext: { e: 1 }, from: a.clientId }]);
      expect(deliveries(await b.connect())).to.deep.equal([{ channel: '/l', data: { v: 1 }, ext: { e: 1 } }]);
    });

    it('a listener returning false deletes the message: 404::message_deleted, nobody receives it', async function () {
      await b.mustSubscribe('/veto');
      server.bayeux.channel('/veto').onMessage(() => false);
      const [reply] = await a.publish('/veto', 'x', { id: 'v' });
      expect(reply).to.deep.include({ id: 'v', successful: false, error: '404::message_deleted' });
      expect(deliveries(await b.connect({ advice: { timeout: 0 } }))).to.deep.equal([]);
    });

    it('an async listener resolving to false deletes it too', async function () {
      server.bayeux.channel('/veto').onMessage(async () => {
        await new Promise((r) => setImmediate(r));
        return false;
      });
      const [reply] = await a.publish('/veto', 'x');
      expect(reply!.error).to.equal('404::message_deleted');
    });

    it('a listener throwing BayeuxErrorException refuses with that error', async function () {
      server.bayeux.channel('/guard').onMessage(() => {
        throw new BayeuxErrorException(Errors.publishDenied('/guard'));
      });
      const [reply] = await a.publish('/guard', 'x');
      expect(reply).to.deep.include({ successful: false, error: '403:/guard:publish_denied' });
    });

    it('a listener throwing anything else gets 500::internal_error and an error event; the server goes on', async function () {
      const errors: unknown[] = [];
      server.bayeux.on('error', (e) => errors.push(e));
      server.bayeux.channel('/buggy').onMessage(() => {
        throw new Error('listener bug');
      });
      const [reply] = await a.publish('/buggy', 'x');
      expect(reply).to.deep.include({ successful: false, error: '500::internal_error' });
      expect(errors).to.have.length(1);
      expect((errors[0] as Error).message).to.equal('listener bug');
      expect((await a.publish('/fine', 1))[0]!.successful).to.equal(true);
    });

    it('a listener whose engine call fails as unavailable gets 503::engine_unavailable with retry advice, not 500', async function () {
      server.bayeux.channel('/service/needs-engine').onMessage(() => {
        throw new EngineUnavailableError('store unreachable', 700);
      });
      const [reply] = await a.publish('/service/needs-engine', 'x');
      expect(reply).to.deep.include({ successful: false, error: '503::engine_unavailable', advice: { reconnect: 'retry', interval: 700 } });
    });

    it('wildcard listeners run before exact ones, widest first; a veto stops the rest', async function () {
      const order: string[] = [];
      for (const name of ['/o/p', '/o/*', '/**', '/o/**']) {
        server.bayeux.channel(name).onMessage(() => {
          order.push(name);
        });
      }
      server.bayeux.channel('/o/*').onMessage((m) => {
        order.push('/o/* second');
        return m.data !== 'stop';
      });
      await a.publish('/o/p', 'go');
      expect(order).to.deep.equal(['/**', '/o/**', '/o/*', '/o/* second', '/o/p']);
      order.length = 0;
      const [reply] = await a.publish('/o/p', 'stop');
      expect(reply!.error).to.equal('404::message_deleted');
      expect(order).to.deep.equal(['/**', '/o/**', '/o/*', '/o/* second']);
    });

    it('a `*` listener does not hear deeper channels; removal stops a listener', async function () {
      const heard: string[] = [];
      const off = server.bayeux.channel('/w/*').onMessage((m) => {
        heard.push(m.channel);
      });
      await a.publish('/w/x', 1);
      await a.publish('/w/x/y', 1);
      off();
      await a.publish('/w/z', 1);
      expect(heard).to.deep.equal(['/w/x']);
    });

    it('service listeners answer the caller with session.deliver; a veto there is a refusal', async function () {
      server.bayeux.channel('/service/add').onMessage((message, session) => {
        const { x, y } = message.data as { x: number; y: number };
        if (typeof x !== 'number') return false;
        void session.deliver(message.channel, x + y, { id: message.id, successful: true });
      });
      const r = await a.publish('/service/add', { x: 2, y: 3 }, { id: 'sum' });
      expect(r).to.deep.equal([
        { channel: '/service/add', id: 'sum', data: 5, successful: true },
        { id: 'sum', channel: '/service/add', successful: true },
      ]);
      const [bad] = await a.publish('/service/add', { x: 'two' }, { id: 'bad' });
      expect(bad).to.deep.include({ id: 'bad', successful: false, error: '404::message_deleted' });
    });

    it('a listener on a channel with no subscribers still runs', async function () {
      let ran = false;
      server.bayeux.channel('/lonely').onMessage(() => {
        ran = true;
      });
      await a.publish('/lonely', 1);
      expect(ran).to.equal(true);
    });
  });

  describe('app-code publish and channels', function () {
    it('bayeux.publish and channel.publish reach subscribers and resolve to the count', async function () {
      await a.mustSubscribe('/app/*');
      await b.mustSubscribe('/app/x');
      expect(await server.bayeux.publish('/app/x', 1)).to.equal(2);
      expect(await server.bayeux.channel('/app/y').publish(2)).to.equal(1);
      expect(deliveries(await a.connect()).map((m) => m.data)).to.deep.equal([1, 2]);
    });

    it('bayeux.publish refuses what is not a concrete broadcast channel, or no data', async function () {
      for (const channel of ['/a/*', '/a/**', '/meta/x', '/service/x', 'bad', '/a//b']) {
        let thrown: unknown;
        try {
          await server.bayeux.publish(channel, 1);
        } catch (e) {
          thrown = e;
        }
        expect(thrown, channel).to.be.instanceOf(TypeError);
      }
      let thrown: unknown;
      try {
        await server.bayeux.publish('/a', undefined);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).to.be.instanceOf(TypeError);
    });

    it('bayeux.channel refuses an invalid name and knows the kind of a valid one', function () {
      expect(() => server.bayeux.channel('no-slash')).to.throw(TypeError);
      expect(() => server.bayeux.channel('/a/*/b')).to.throw(TypeError);
      expect(server.bayeux.channel('/service/x').kind).to.equal('service');
      expect(server.bayeux.channel('/meta/connect').kind).to.equal('meta');
      expect(server.bayeux.channel('/x/**').isWildcard).to.equal(true);
      expect(server.bayeux.channel('/x').isWildcard).to.equal(false);
      expect(server.bayeux.channel('/x')).to.equal(server.bayeux.channel('/x'));
    });
  });

  describe('session handles', function () {
    it('exists, subscriptions, deliver; an unknown session says so', async function () {
      await a.mustSubscribe(['/s/1', '/s/2']);
      const session = server.bayeux.session(a.clientId!);
      expect(await session.exists()).to.equal(true);
      expect((await session.subscriptions())!.sort()).to.deep.equal(['/s/1', '/s/2']);
      const held = a.connect();
      await waitForHold(server, a.clientId);
      expect(await session.deliver('/private', { secret: 1 }, { ext: { why: 'test' } })).to.equal(true);
      expect(deliveries(await held)).to.deep.equal([{ channel: '/private', data: { secret: 1 }, ext: { why: 'test' } }]);
      const ghost = server.bayeux.session('ghost');
      expect(await ghost.exists()).to.equal(false);
      expect(await ghost.subscriptions()).to.equal(null);
      expect(await ghost.deliver('/x', 1)).to.equal(false);
      expect(await ghost.disconnect()).to.equal(false);
    });

    it('sessionCount counts live sessions', async function () {
      expect(await server.bayeux.sessionCount()).to.equal(2);
      await a.disconnect();
      expect(await server.bayeux.sessionCount()).to.equal(1);
    });
  });

  describe('close', function () {
    it('is idempotent and reported by isClosed', async function () {
      expect(server.bayeux.isClosed).to.equal(false);
      await server.bayeux.close();
      await server.bayeux.close();
      expect(server.bayeux.isClosed).to.equal(true);
      const r = await server.post(JSON.stringify([{ channel: '/meta/handshake', version: '1.0' }]));
      expect(r.status).to.equal(503);
    });
  });

  describe('options', function () {
    it('defaults are applied and advertised', async function () {
      const s = new BayeuxServer();
      try {
        expect(s.options).to.include({
          timeout: 30_000,
          interval: 0,
          maxInterval: 10_000,
          sweepInterval: 1000,
          maxBodyBytes: 1024 * 1024,
          maxMessageBytes: 256 * 1024,
          maxBatchMessages: 1000,
          maxQueue: 10_000,
          maxSubscriptionsPerSession: 1000,
        });
      } finally {
        await s.close();
      }
      const r = replyOn(await server.send([{ channel: '/meta/handshake', version: '1.0' }]), '/meta/handshake');
      expect(r.advice).to.deep.equal({ reconnect: 'retry', interval: 0, timeout: 300 });
    });

    const bad: [string, unknown][] = [
      ['timeout', -1],
      ['timeout', 1.5],
      ['timeout', '1000'],
      ['timeout', Number.NaN],
      ['timeout', 24 * 3600_000],
      ['interval', -5],
      ['maxInterval', 0],
      ['sweepInterval', 0],
      ['sweepInterval', 5],
      ['maxBodyBytes', 10],
      ['maxBodyBytes', Infinity],
      ['maxMessageBytes', 0],
      ['maxBatchMessages', 0],
      ['maxQueue', 0],
      ['maxSubscriptionsPerSession', -1],
      ['engine', 5],
      ['engine', null],
      ['timout', 1000],
    ];
    for (const [name, value] of bad) {
      it(`${name}: ${String(value)} throws a TypeError naming the option`, function () {
        expect(() => new BayeuxServer({ [name]: value } as BayeuxServerOptions))
          .to.throw(TypeError)
          .with.property('message')
          .that.includes(name);
      });
    }

    it('a non-object options argument throws a TypeError', function () {
      expect(() => new BayeuxServer('fast' as unknown as BayeuxServerOptions)).to.throw(TypeError);
    });
  });
});
