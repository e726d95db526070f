/**
 * The Redis engine's bound on commands (`commandTimeoutMs`, lib/engines/redis/reply-watchdog.ts),
 * against a real redis-server: a process too busy to read replies for longer than the bound
 * fails nothing Redis answered (the case of a publish waking thousands of held connects), and
 * a Redis that goes silent (its replies held back on the way) fails the waiting commands
 * after the bound, with one engineDown, and engineUp once it answers again.
 */
import { expect } from 'chai';
import { BayeuxServer, EngineUnavailableError } from '../index.js';
import { redisEngine } from '../redis.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { StallingRelay, closeAllStallingRelays } from './support/stalling-relay.js';
import { waitUntil } from './support/wait.js';

const BOUND = 300;

/** Blocks the event loop for `ms`, as writing thousands of responses in one turn does. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin
  }
}

describe('Redis engine: the bound on commands', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let prefixes = 0;
  const servers: BayeuxServer[] = [];

  before(async function () {
    redis = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await closeAllStallingRelays();
  });

  for (const fanout of ['queues', 'logs'] as const) {
    /** A server on the engine, opened, with its health events recorded. */
    async function open(url: string): Promise<{ bayeux: BayeuxServer; events: string[] }> {
      const bayeux = new BayeuxServer({ engine: redisEngine({ url, prefix: `cb${process.pid}x${++prefixes}`, commandTimeoutMs: BOUND, fanout }) });
      servers.push(bayeux);
      const events: string[] = [];
      bayeux.on('engineDown', () => events.push('down'));
      bayeux.on('engineUp', () => events.push('up'));
      bayeux.on('error', () => events.push('error'));
      await bayeux.ready();
      return { bayeux, events };
    }

    it(`${fanout}: a process busy for 4 × the bound fails none of the commands Redis answered meanwhile`, async function () {
      const { bayeux, events } = await open(redis.url);
      const engine = bayeux.engine.inner;
      await engine.createSession('busy', 60_000);
      await engine.subscribe('busy', ['/busy'], 10);
      const calls = Array.from({ length: 200 }, (_, k) => (k % 2 === 0 ? engine.hasSession('busy') : engine.publish('/busy', `{"k":${k}}`)));
      busy(4 * BOUND);
      const results = await Promise.all(calls);
      expect(results.filter((r, k) => (k % 2 === 0 ? r !== true : r !== 1)), 'every call answered as Redis answered it').to.deep.equal([]);
      expect((await engine.takeQueued('busy'))?.length, 'the 100 publishes queued').to.equal(100);
      expect(events, 'no outage reported').to.deep.equal([]);
      expect(bayeux.engineStatus).to.equal('up');
    });

    it(`${fanout}: a Redis silent past the bound fails the waiting commands, reports one outage, and is back when it answers`, async function () {
      const relay = await StallingRelay.start(redis.port);
      const { bayeux, events } = await open(relay.url);
      const engine = bayeux.engine.inner;
      await engine.createSession('quiet', 60_000);
      const commands = relay.connections.find((c) => c.sent.toLowerCase().includes('eval'))!;
      commands.stall('down');
      const t0 = Date.now();
      const results = await Promise.allSettled([engine.hasSession('quiet'), engine.hasSession('quiet'), engine.publish('/quiet', '1')]);
      const waited = Date.now() - t0;
      for (const r of results) {
        expect(r.status).to.equal('rejected');
        expect((r as PromiseRejectedResult).reason).to.be.instanceOf(EngineUnavailableError);
        expect(String((r as PromiseRejectedResult).reason.message)).to.match(/answered nothing/);
      }
      expect(waited, 'not before the bound').to.be.at.least(BOUND - 5);
      expect(bayeux.engineStatus).to.equal('down');
      commands.release('down');
      await waitUntil(() => events.includes('up'), 'engineUp once Redis answers again', 15_000);
      expect(events).to.deep.equal(['down', 'error', 'up']);
      expect(await engine.hasSession('quiet')).to.equal(true);
    });
  }
});
