/**
 * The Redis engine's bound on commands (`commandTimeoutMs`, lib/engines/redis/reply-watchdog.ts),
 * against a real redis-server: a process too busy to read replies for longer than the bound
 * fails nothing Redis answered (the case of a publish waking thousands of held connects), and
 * a Redis that goes silent (its replies held back on the way) fails the waiting commands
 * after the bound, with one engineDown, and engineUp once it answers again. A take that
 * failed that way but that Redis ran afterwards (its reply came late) loses nothing: its mail
 * goes out ahead of the session's next take (held here) or back to the front of its queue,
 * and the session is woken.
 */
import { expect } from 'chai';
import { BayeuxServer, EngineUnavailableError } from '../index.js';
import type { EngineListener } from '../engine.js';
import { redisEngine } from '../redis.js';
import type { RedisEngine } from '../redis.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { StallingRelay, closeAllStallingRelays, type RelayedConnection } from './support/stalling-relay.js';
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
  const engines: RedisEngine[] = [];

  before(async function () {
    redis = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });
  afterEach(async function () {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await Promise.all(engines.splice(0).map((e) => e.close()));
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

    /** An engine on `url` opened with a listener that records wakes, overflows and health. */
    async function openEngine(url: string, messageTtlMs?: number): Promise<{ engine: RedisEngine; wakes: string[]; overflows: [string, number][]; health: string[] }> {
      const engine = redisEngine({ url, prefix: `cb${process.pid}x${++prefixes}`, commandTimeoutMs: BOUND, retryMs: 200, fanout, messageTtlMs });
      engines.push(engine);
      const wakes: string[] = [];
      const overflows: [string, number][] = [];
      const health: string[] = [];
      const listener: EngineListener = {
        wake: (id) => wakes.push(id),
        sessionRemoved: () => {},
        queueOverflow: (id, n) => overflows.push([id, n]),
        health: (status) => health.push(status),
      };
      await engine.open(listener, { maxQueue: 100, sweepInterval: 1000 });
      return { engine, wakes, overflows, health };
    }

    it(`${fanout}: a take that failed by the bound but that Redis ran afterwards puts its mail back, in order, and wakes the session`, async function () {
      const relay = await StallingRelay.start(redis.port);
      const { engine, wakes, overflows, health } = await openEngine(relay.url);
      await engine.createSession('late', 60_000);
      expect(await engine.subscribe('late', ['/late'], 10)).to.equal('ok');
      for (let k = 1; k <= 3; k++) expect(await engine.publish('/late', `{"k":${k}}`)).to.equal(1);
      const commands = relay.connections.find((c) => c.sent.toLowerCase().includes('eval'))!;
      commands.stall('down');
      let failure: unknown = null;
      await Promise.resolve(engine.takeQueued('late')).catch((err: unknown) => (failure = err));
      expect(failure, 'the take failed by the bound').to.be.instanceOf(EngineUnavailableError);
      // Redis ran it: its reply is on the way back, held.
      commands.release('down');
      await waitUntil(() => wakes.includes('late'), 'the session woken once its mail is back', 15_000);
      expect(await engine.takeQueued('late'), 'the three messages, in order').to.deep.equal(['{"k":1}', '{"k":2}', '{"k":3}']);
      expect(overflows).to.deep.equal([]);
      await waitUntil(() => health.includes('up'), 'the engine up again', 15_000);
    });

    /** Publishes 3 messages to a fresh session, then has its take fail by the bound while Redis runs it. */
    async function lateTake(relay: StallingRelay, engine: RedisEngine, id: string): Promise<RelayedConnection> {
      await engine.createSession(id, 60_000);
      expect(await engine.subscribe(id, [`/${id}`], 10)).to.equal('ok');
      for (let k = 1; k <= 3; k++) expect(await engine.publish(`/${id}`, `{"k":${k}}`)).to.equal(1);
      const commands = relay.connections.find((c) => c.sent.toLowerCase().includes('eval'))!;
      commands.stall('down');
      let failure: unknown = null;
      await Promise.resolve(engine.takeQueued(id)).catch((err: unknown) => (failure = err));
      expect(failure, 'the take failed by the bound').to.be.instanceOf(EngineUnavailableError);
      return commands;
    }

    it(`${fanout}: a put-back that failed by the bound is not sent again (it may have run): its late reply counts, no mail twice`, async function () {
      const relay = await StallingRelay.start(redis.port);
      const { engine, wakes, overflows } = await openEngine(relay.url);
      const commands = await lateTake(relay, engine, 'twice');
      // The take's late reply comes through; the put-back's reply is held past the bound.
      commands.release('down');
      commands.stall('down');
      await new Promise((r) => setTimeout(r, 3 * BOUND)); // a resend would go out meanwhile
      commands.release('down');
      await waitUntil(() => wakes.includes('twice'), 'the session woken once the put-back answered', 15_000);
      expect(await engine.takeQueued('twice'), 'the three messages, once each').to.deep.equal(['{"k":1}', '{"k":2}', '{"k":3}']);
      expect(overflows).to.deep.equal([]);
    });

    it(`${fanout}: mail taken after the bound that cannot be put back within messageTtlMs is reported dropped, not lost silently`, async function () {
      const relay = await StallingRelay.start(redis.port);
      const { engine, overflows } = await openEngine(relay.url, 1000);
      const commands = await lateTake(relay, engine, 'gone');
      // The take's late reply comes through; the put-back never reaches Redis.
      commands.stall('up');
      commands.release('down');
      await waitUntil(() => overflows.length > 0, 'the put-back to give up', 15_000);
      expect(overflows).to.deep.equal([['gone', 3]]);
      commands.release('up');
    });

    if (fanout === 'logs') {
      it('logs: a commit of mail the process read that failed by the bound but that Redis ran afterwards puts the mail back', async function () {
        const relay = await StallingRelay.start(redis.port);
        const { engine, wakes, overflows } = await openEngine(relay.url);
        await engine.createSession('cm', 60_000);
        expect(await engine.subscribe('cm', ['/cm'], 10)).to.equal('ok');
        await engine.beginConnect('cm', false); // the first connect is answered at once
        expect((await engine.beginConnect('cm', true))?.held, 'held').to.equal(true);
        for (let k = 1; k <= 3; k++) expect(await engine.publish('/cm', `{"k":${k}}`)).to.equal(1);
        // The process read the log for the held session (its wake), so the take is a commit.
        await waitUntil(() => wakes.includes('cm'), 'the held session woken by the read', 15_000);
        wakes.length = 0;
        const commands = relay.connections.find((c) => c.sent.toLowerCase().includes('eval'))!;
        commands.sent = '';
        commands.stall('down');
        let failure: unknown = null;
        await Promise.resolve(engine.takeAndEnd!('cm', 60_000)).catch((err: unknown) => (failure = err));
        expect(failure, 'the commit failed by the bound').to.be.instanceOf(EngineUnavailableError);
        expect(commands.sent, 'a commit was sent').to.include('$1\r\nc\r\n$2\r\ncm\r\n');
        commands.release('down');
        await waitUntil(() => wakes.includes('cm'), 'the session woken once its mail is back', 15_000);
        expect(await engine.takeQueued('cm'), 'the three messages, in order').to.deep.equal(['{"k":1}', '{"k":2}', '{"k":3}']);
        expect(overflows).to.deep.equal([]);
      });
    }
  }
});
