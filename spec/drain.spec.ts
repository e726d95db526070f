/**
 * Draining a process before it stops (a rolling deploy): `bayeux.drain()` answers the
 * connects held here with advice to reconnect at once, answers later connects at once
 * instead of holding them, refuses new handshakes with `503::server_draining` and advice to
 * handshake again (elsewhere), and keeps serving the sessions it has. Over raw HTTP on one
 * process, then end to end: three processes on one Redis behind a round-robin relay, one of
 * them sent SIGTERM (it drains and exits by the recipe of examples/scaling/server.ts) while
 * CometD and Faye clients receive a numbered message every 50 ms — every one, once.
 */
import { expect } from 'chai';
import type { CodedError, Extension } from '../index.js';
import { redisEngine } from '../redis.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { ClusterNode, RoundRobinRelay, stopCluster } from './support/cluster.js';
import { FayeClient, closeAllFayeClients } from './support/faye-client.js';
import { RawServer, deliveries, replyOn, waitForHold, type RawResponse, type WireMessage } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { Inbox, deferred, waitUntil, withTimeout } from './support/wait.js';

/** The advice of connect replies while draining: come back at once (to another process). */
const RECONNECT_NOW = { reconnect: 'retry', interval: 0, timeout: 30_000 };

function batchOf(r: RawResponse): WireMessage[] {
  expect(r.status, r.text).to.equal(200);
  return JSON.parse(r.text) as WireMessage[];
}

describe('drain', function () {
  describe('one process, raw HTTP', function () {
    let server: RawServer;

    beforeEach(async function () {
      server = await RawServer.start();
    });
    afterEach(async function () {
      await server.close();
    });

    /** A handshaken client past its first connect, subscribed to `channel`, and the raw JSON of its next connect. */
    async function subscribed(channel: string): Promise<{ clientId: string; connect: string }> {
      const c = await server.connectedClient();
      await c.mustSubscribe(channel);
      return { clientId: c.clientId!, connect: JSON.stringify([c.fill({ channel: '/meta/connect', connectionType: 'long-polling' })]) };
    }

    it('answers a held connect now, with the mail queued for it and advice to reconnect at once; resolves true', async function () {
      const c = await subscribed('/drain/a');
      const held = server.post(c.connect);
      await waitForHold(server, c.clientId);
      // Queued, and the hold's wake not yet flushed (that waits for the next turn): the drain's answer takes it.
      await server.bayeux.publish('/drain/a', { n: 1 });
      const drained = server.bayeux.drain();
      expect(server.bayeux.isDraining).to.equal(true);
      const r = await held;
      const batch = batchOf(r);
      expect(deliveries(batch)).to.deep.equal([{ channel: '/drain/a', data: { n: 1 } }]);
      expect(replyOn(batch, '/meta/connect')).to.deep.include({ successful: true, advice: RECONNECT_NOW });
      // The client's next request opens a new connection, which a balancer sends elsewhere.
      expect(r.headers.get('connection')).to.equal('close');
      expect(await withTimeout(drained, 'the drain to resolve')).to.equal(true);
      expect(server.bayeux.connects.size).to.equal(0);
      expect(server.bayeux.drain(), 'a second call: the same promise').to.equal(drained);
    });

    it('answers later connects at once instead of holding them, with their mail; publishes and subscribes are served', async function () {
      const c = await subscribed('/drain/b');
      const other = await server.connectedClient();
      expect(await server.bayeux.drain()).to.equal(true);
      // Nothing queued: held, this connect would wait 30 s (the request limit is 5 s).
      const empty = batchOf(await server.post(c.connect));
      expect(empty).to.have.length(1);
      expect(replyOn(empty, '/meta/connect')).to.deep.include({ successful: true, advice: RECONNECT_NOW });

      // An existing session still subscribes and publishes; the mail goes out with its next connect.
      await other.mustSubscribe('/drain/c');
      const sub = await server.send([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: '/drain/c', id: 's' }]);
      expect(replyOn(sub, '/meta/subscribe')).to.deep.include({ successful: true });
      const pub = await other.publish('/drain/c', { from: 'other' });
      expect(replyOn(pub, '/drain/c')).to.deep.include({ successful: true });
      expect(await server.bayeux.publish('/drain/b', { from: 'app' })).to.equal(1);
      const r = await server.post(c.connect);
      const batch = batchOf(r);
      expect(deliveries(batch)).to.have.deep.members([
        { channel: '/drain/c', data: { from: 'other' } },
        { channel: '/drain/b', data: { from: 'app' } },
      ]);
      expect(replyOn(batch, '/meta/connect')).to.deep.include({ successful: true, advice: RECONNECT_NOW });
      expect(r.headers.get('connection')).to.equal('close');
      expect(server.bayeux.connects.size).to.equal(0);
    });

    it('refuses new handshakes with 503::server_draining and advice to handshake again; in-process clients still get in', async function () {
      void server.bayeux.drain({ handshakeInterval: 2500 });
      const r = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'h' }]);
      expect(r).to.deep.equal([
        { id: 'h', channel: '/meta/handshake', successful: false, error: '503::server_draining', advice: { reconnect: 'handshake', interval: 2500 } },
      ]);
      expect(await server.bayeux.sessionCount()).to.equal(0);
      const local = await server.bayeux.localClient();
      expect(await server.bayeux.session(local.id).exists()).to.equal(true);
    });

    it('resolves false when an answer is still unwritten after `timeout` (an outgoing hook that waits); close() answers it', async function () {
      const c = await subscribed('/drain/d');
      const held = server.post(c.connect);
      await waitForHold(server, c.clientId);
      const gate = deferred();
      const waiting: Extension = {
        outgoing: async (m) => {
          if (m.channel === '/meta/connect') await gate.promise;
          return m;
        },
      };
      server.bayeux.addExtension(waiting);
      expect(await withTimeout(server.bayeux.drain({ timeout: 50 }), 'the drain to give up')).to.equal(false);
      gate.resolve();
      expect(replyOn(batchOf(await held), '/meta/connect')).to.deep.include({ successful: true, advice: RECONNECT_NOW });
    });

    it('rejects a bad option with ERR_BAYEUX_INVALID_OPTION naming it, and does not start draining', async function () {
      for (const [options, name] of [
        [{ timeout: -1 }, 'timeout'],
        [{ handshakeInterval: 1.5 }, 'handshakeInterval'],
        [{ nope: 1 }, 'nope'],
      ] as const) {
        const err = await server.bayeux.drain(options as never).then(
          () => null,
          (e: unknown) => e as CodedError,
        );
        expect(err, name).to.be.instanceOf(TypeError);
        expect(err!.code).to.equal('ERR_BAYEUX_INVALID_OPTION');
        expect(err!.message).to.include(name);
      }
      expect(server.bayeux.isDraining).to.equal(false);
    });
  });

  describe('on Redis', function () {
    this.timeout(60_000);
    let redis: RedisServer;

    before(async function () {
      redis = await RedisServer.start();
    });
    after(async function () {
      await stopAllRedisServers();
    });
    afterEach(async function () {
      await closeAllCometDClients();
      await closeAllFayeClients();
      await stopCluster();
    });

    it('a connect the engine was still beginning when the drain started is answered at once, not held', async function () {
      const server = await RawServer.start({ engine: redisEngine({ url: redis.url, prefix: `r${process.pid}` }) });
      try {
        const c = await server.connectedClient();
        const started: { drain?: Promise<boolean> } = {};
        server.bayeux.addExtension({
          incoming: (m) => {
            // On the next turn: after the engine was asked to begin the connect, before Redis answers.
            if (m.channel === '/meta/connect') setImmediate(() => (started.drain ??= server.bayeux.drain()));
          },
        });
        // Held, it would wait 30 s (the request limit is 5 s).
        const batch = await c.connect();
        expect(replyOn(batch, '/meta/connect')).to.deep.include({ successful: true, advice: RECONNECT_NOW });
        expect(started.drain, 'the drain started').to.not.equal(undefined);
        expect(await withTimeout(started.drain!, 'the drain to resolve')).to.equal(true);
        expect(server.bayeux.connects.size).to.equal(0);
      } finally {
        await server.close();
      }
    });

    it('three processes, one drained by SIGTERM: CometD and Faye get every message published before, during and after, once and in order, and keep their sessions', async function () {
      const env = { REDIS_URL: redis.url, REDIS_PREFIX: `d${process.pid}`, BAYEUX_TIMEOUT: '3000' };
      const [nodes, publisher] = await Promise.all([
        Promise.all(['A', 'B', 'C'].map((name) => ClusterNode.start(name, env, 30_000))),
        // The app's publisher: a process of its own, behind no balancer.
        ClusterNode.start('P', env, 30_000),
      ]);
      const relay = await RoundRobinRelay.start(nodes.map((n) => n.port));
      const cometd = new CometDClient(relay.url);
      const faye = new FayeClient(relay.url);
      const cometdGot = new Inbox<number>();
      const fayeGot = new Inbox<number>();
      await cometd.handshake();
      await cometd.subscribe('/deploy/x', (m) => cometdGot.push((m.data as { i: number }).i));
      await faye.subscribe('/deploy/x', (m) => fayeGot.push((m.data as { i: number }).i));

      // A numbered message every 50 ms, each to both sessions, all along.
      let sent = 0;
      let stoppedInMs = 0;
      let publishing = true;
      const counts: number[] = [];
      const load = (async () => {
        while (publishing) {
          counts.push(await publisher.publish('/deploy/x', { i: sent++ }));
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      try {
        await cometdGot.atLeast(20, 'CometD to receive before the drain', 15_000);
        await fayeGot.atLeast(20, 'Faye to receive before the drain', 15_000);
        // Drain the process holding CometD's long poll now (Faye's too, when it is the same).
        const pending = () => relay.log.filter((r) => r.status === 0 && r.channels.includes('/meta/connect') && r.clientIds.includes(cometd.clientId!));
        await waitUntil(() => pending().length > 0, 'CometD to have a long poll in flight', 15_000);
        const inFlight = pending()[0]!;
        const index = inFlight.target;
        const victim = nodes[index]!;
        const signalled = Date.now();
        const exit = await victim.terminate(15_000);
        stoppedInMs = Date.now() - signalled;
        expect(exit, `${victim.name} drained and exited by itself: ${victim.stderr}`).to.deep.equal({ code: 0, signal: null });
        expect(victim.drained, 'its drain resolved with every held connect answered').to.deep.equal([true]);
        await waitUntil(() => inFlight.status !== 0, 'the relay to pass on the answer to the long poll');
        expect(inFlight.status, 'the long poll in flight there was answered, not cut').to.equal(200);
        // Keep publishing until the relay has found the process gone and the clients carry on without it.
        await waitUntil(() => relay.dead.has(index), `the relay to stop routing to ${victim.name}`, 15_000, 20);
        const after = sent;
        await cometdGot.until((i) => i >= after + 20, 'CometD to receive after the drain', 15_000);
        await fayeGot.until((i) => i >= after + 20, 'Faye to receive after the drain', 15_000);
      } finally {
        publishing = false;
        await load;
      }
      expect(counts.every((n) => n === 2), `every publish reached both sessions: ${counts.join(',')}`).to.equal(true);
      const all = Array.from({ length: sent }, (_, i) => i);
      await cometdGot.atLeast(sent, 'CometD to receive every message', 15_000);
      await fayeGot.atLeast(sent, 'Faye to receive every message', 15_000);
      // Each message once, in the order published, across the drain (one publisher).
      expect([...cometdGot.items], 'CometD: each message once, in order').to.deep.equal(all);
      expect([...fayeGot.items], 'Faye: each message once, in order').to.deep.equal(all);
      expect(cometd.handshakes.length, 'CometD kept its session').to.equal(1);
      expect(faye.handshakes.length, 'Faye kept its session').to.equal(1);
      console.log(`      (${sent} messages to CometD and Faye; SIGTERM to exit of the drained process: ${stoppedInMs} ms)`);
    });
  });
});
