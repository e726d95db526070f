/**
 * The Redis engine against a real redis-server (started on a free loopback port): the
 * shared engine contract, then what only a shared store shows — a payload stored once,
 * one round trip per publish whatever the subscriber count, wakes routed only to the
 * process holding a session, one expiry sweep for several processes, and prompt failure
 * (then recovery) when Redis goes away.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { EngineUnavailableError, type EngineListener, type SessionRemovedReason } from '../engine.js';
import { BayeuxServer } from '../index.js';
import { RedisEngine } from '../lib/engines/redis/redis-engine.js';
import type { RedisEngineOptions } from '../redis.js';
import { engineContract } from './support/engine-contract.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { RawServer } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { waitUntil } from './support/wait.js';

let server: RedisServer;
let prefixes = 0;
const nextPrefix = (): string => `t${process.pid}x${++prefixes}`;

describe('redis engine', function () {
  this.timeout(20_000);

  before(async function () {
    server = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });

  engineContract('redis engine', { makeEngine: () => new RedisEngine({ url: server.url, prefix: nextPrefix(), clusterEvents: true }) });
  // The Cluster layout (sessions over several buckets, a channel index) on a single Redis.
  engineContract('redis engine, 4 buckets', {
    makeEngine: () => new RedisEngine({ url: server.url, prefix: nextPrefix(), clusterEvents: true, buckets: 4 }),
  });
  // Fan-out through channel logs (issue 14): the same contract, unchanged.
  engineContract('redis engine, logs', {
    makeEngine: () => new RedisEngine({ url: server.url, prefix: nextPrefix(), clusterEvents: true, fanout: 'logs' }),
  });
  engineContract('redis engine, logs, 4 buckets', {
    makeEngine: () => new RedisEngine({ url: server.url, prefix: nextPrefix(), clusterEvents: true, buckets: 4, fanout: 'logs' }),
  });

  describe('shared store', function () {
    interface Node {
      engine: RedisEngine;
      wakes: string[];
      removed: [string, SessionRemovedReason][];
    }
    const nodes: Node[] = [];
    let admin: Redis;

    async function node(prefix: string, sweepInterval = 10_000, fanout: 'queues' | 'logs' = 'queues'): Promise<Node> {
      const n: Node = { engine: new RedisEngine({ url: server.url, prefix, fanout }), wakes: [], removed: [] };
      const listener: EngineListener = {
        wake: (id) => n.wakes.push(id),
        sessionRemoved: (id, reason) => n.removed.push([id, reason]),
        queueOverflow: () => {},
      };
      await n.engine.open(listener, { maxQueue: 1000, sweepInterval });
      nodes.push(n);
      return n;
    }

    /** Connects a session and leaves it held by `n`. */
    async function hold(n: Node, id: string): Promise<void> {
      await n.engine.createSession(id, 60_000);
      await n.engine.beginConnect(id, true);
      await n.engine.endConnect(id, 60_000, false);
      expect((await n.engine.beginConnect(id, true))?.held).to.equal(true);
    }

    beforeEach(function () {
      admin = server.client();
    });
    afterEach(async function () {
      await Promise.all(nodes.splice(0).map((n) => n.engine.close()));
      await admin.quit();
    });

    it('stores a published payload once, queues only its id, and frees it when every queue took it', async function () {
      const prefix = nextPrefix();
      const a = await node(prefix);
      for (let i = 0; i < 50; i++) {
        await a.engine.createSession(`s${i}`, 60_000);
        await a.engine.subscribe(`s${i}`, [i % 2 ? '/room/*' : '/room/1'], 10);
      }
      const payload = JSON.stringify({ channel: '/room/1', data: 'x'.repeat(1000) });
      expect(await a.engine.publish('/room/1', payload)).to.equal(50);
      const messageKeys = await admin.keys(`{${prefix}:b0}:m:*`);
      expect(messageKeys, 'one stored payload').to.have.length(1);
      expect(await admin.hget(messageKeys[0]!, 'p')).to.equal(payload);
      expect(a.engine.sessionKey('s7')).to.equal(`{${prefix}:b0}:s:s7`);
      const queued = await admin.lrange(`{${prefix}:b0}:q:s7`, 0, -1);
      expect(queued, 'the queue holds an id, not the payload').to.have.length(1);
      expect(queued[0]!.length).to.be.below(20);
      for (let i = 0; i < 49; i++) expect(await a.engine.takeQueued(`s${i}`)).to.deep.equal([payload]);
      expect(await admin.exists(messageKeys[0]!), 'still queued for s49').to.equal(1);
      await a.engine.destroySession('s49', 'server');
      expect(await admin.exists(messageKeys[0]!), 'freed once no queue holds it').to.equal(0);
    });

    it('costs one round trip per publish, with 1 or 300 subscribers held on 3 processes, and wakes only the holders', async function () {
      const prefix = nextPrefix();
      const [a, b, c, idle] = [await node(prefix), await node(prefix), await node(prefix), await node(prefix)];
      await hold(a, 'solo');
      await a.engine.subscribe('solo', ['/one'], 10);
      const holders = [a, b, c];
      for (let i = 0; i < 300; i++) {
        const id = `m${i}`;
        await hold(holders[i % 3]!, id);
        await holders[i % 3]!.engine.subscribe(id, [i % 2 ? '/many/**' : '/many/x'], 10);
      }
      for (const n of nodes) await n.engine.barrier();
      for (const n of nodes) n.wakes.length = 0;

      // Every command the publishing process sends, seen by Redis itself (MONITOR).
      const id = (await (idle.engine.client as Redis).client('ID')) as number;
      const addr = ((await admin.client('LIST', 'ID', String(id))) as string).match(/ addr=(\S+)/)![1]!;
      const monitorBase = server.client();
      const monitor = await monitorBase.monitor();
      monitorBase.disconnect(); // monitor() opened its own connection
      const sent: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === addr) sent.push(args);
      });
      await idle.engine.client.ping('mark-start');
      await waitUntil(() => sent.some((s) => s[1] === 'mark-start'), 'MONITOR to see the start mark');
      sent.length = 0;

      expect(await idle.engine.publish('/one', '"p1"')).to.equal(1);
      await idle.engine.client.ping('mark-mid');
      await waitUntil(() => sent.some((s) => s[1] === 'mark-mid'), 'MONITOR to see the middle mark');
      const one = sent.length - 1;
      expect(await idle.engine.publish('/many/x', '"p300"')).to.equal(300);
      await idle.engine.client.ping('mark-end');
      await waitUntil(() => sent.some((s) => s[1] === 'mark-end'), 'MONITOR to see the end mark');
      monitor.disconnect();
      const commands = sent.filter((s) => s[0]!.toLowerCase() !== 'ping').map((s) => s[0]!.toLowerCase());
      expect(one, 'commands for a publish to 1 subscriber').to.equal(1);
      expect(commands, 'commands for both publishes').to.have.length(2);
      expect(commands.every((c) => c === 'evalsha' || c === 'eval')).to.equal(true);

      for (const n of nodes) await n.engine.barrier();
      expect(idle.wakes, 'a process holding no subscriber is not woken').to.deep.equal([]);
      expect(a.wakes.sort()).to.deep.equal(['solo', ...Array.from({ length: 100 }, (_, k) => `m${k * 3}`)].sort());
      expect(b.wakes).to.have.length(100);
      expect(c.wakes).to.have.length(100);
      expect(await c.engine.takeQueued('m2')).to.deep.equal(['"p300"']);
    });

    /** Runs `fn` and returns the commands `n`'s command connection sent meanwhile, as Redis saw them (MONITOR). */
    async function commandsDuring(n: Node, fn: () => Promise<void>): Promise<string[][]> {
      const id = (await (n.engine.client as Redis).client('ID')) as number;
      const addr = ((await admin.client('LIST', 'ID', String(id))) as string).match(/ addr=(\S+)/)![1]!;
      const monitorBase = server.client();
      const monitor = await monitorBase.monitor();
      monitorBase.disconnect();
      const sent: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === addr) sent.push(args);
      });
      try {
        await n.engine.client.ping('mark-start');
        await waitUntil(() => sent.some((c) => c[1] === 'mark-start'), 'MONITOR to see the start mark');
        sent.length = 0;
        await fn();
        await n.engine.client.ping('mark-end');
        await waitUntil(() => sent.some((c) => c[1] === 'mark-end'), 'MONITOR to see the end mark');
      } finally {
        monitor.disconnect();
      }
      return sent.filter((c) => c[0]!.toLowerCase() !== 'ping');
    }

    it('merges the takes and hold ends asked for in one tick into one call per bucket, run in the order asked', async function () {
      const prefix = nextPrefix();
      const a = await node(prefix);
      const ids = Array.from({ length: 300 }, (_, k) => `q${k}`);
      for (const id of ids) {
        await hold(a, id);
        await a.engine.deliver(id, JSON.stringify(id));
      }
      let taken: (string[] | null)[] = [];
      const takes = await commandsDuring(a, async () => {
        taken = await Promise.all(ids.map((id) => a.engine.takeQueued(id)));
      });
      expect(taken).to.deep.equal(ids.map((id) => [JSON.stringify(id)]));
      // 300 takes: a full call of 256 as soon as it fills, the other 44 at the end of the tick.
      expect(takes.map((c) => c[0]!.toLowerCase())).to.deep.equal(['evalsha', 'evalsha']);
      expect(takes.map((c) => (c.length - 8) / 4)).to.deep.equal([256, 44]);

      let ended: (string[] | null)[] = [];
      const ends = await commandsDuring(a, async () => {
        ended = await Promise.all(ids.slice(0, 10).map((id) => a.engine.endConnect(id, 60_000, true)));
      });
      expect(ended, 'ends with nothing left to take').to.deep.equal(ids.slice(0, 10).map(() => []));
      expect(ends, 'ten ends in one call').to.have.length(1);
      expect(await a.engine.beginConnect('q0', true)).to.include({ held: true });

      // A command asked for after a take is sent after it: the take still finds the mail.
      await a.engine.deliver('q1', '"last"');
      const take = a.engine.takeQueued('q1');
      const destroyed = a.engine.destroySession('q1', 'disconnect');
      expect(await take).to.deep.equal(['"last"']);
      expect(await destroyed).to.equal(true);
      expect(await a.engine.takeQueued('q1'), 'an unknown session').to.equal(null);
    });

    it('a herd of takes beyond the calls it may have in flight waits in the process, in order; a later command still goes after it', async function () {
      this.timeout(60_000);
      const a = await node(nextPrefix());
      // 16 calls of 256 may be in flight: 5,000 takes leave 4 calls waiting in the process.
      const ids = Array.from({ length: 5000 }, (_, k) => `h${k}`);
      await Promise.all(ids.map((id) => a.engine.createSession(id, 60_000)));
      await Promise.all(ids.map((id) => a.engine.deliver(id, JSON.stringify(id))));
      const takes = ids.map((id) => a.engine.takeQueued(id));
      // Asked for after the herd: sent only once every take is on the connection.
      const last = ids[ids.length - 1]!;
      const destroyed = a.engine.destroySession(last, 'disconnect');
      expect(await Promise.all(takes)).to.deep.equal(ids.map((id) => [JSON.stringify(id)]));
      expect(await destroyed).to.equal(true);
      expect(await a.engine.hasSession(last)).to.equal(false);
    });

    it('takeAndEnd takes the mail of a held connect and ends the hold in one call; with nothing queued the hold goes on', async function () {
      const a = await node(nextPrefix());
      await hold(a, 'x1');
      expect(await a.engine.takeAndEnd('x1', 60_000), 'nothing queued').to.equal(null);
      expect(await admin.hget(a.engine.sessionKey('x1'), 'h'), 'still held by the process').to.equal(a.engine.processId);
      await a.engine.deliver('x1', '"m1"');
      await a.engine.barrier();
      expect(a.wakes).to.deep.equal(['x1']);
      const sent = await commandsDuring(a, async () => {
        expect(await a.engine.takeAndEnd('x1', 60_000)).to.deep.equal(['"m1"']);
      });
      expect(sent, 'one round trip').to.have.length(1);
      expect(await admin.hget(a.engine.sessionKey('x1'), 'h'), 'the hold ended').to.equal('');
      // Ended: the next delivery wakes nobody and waits for the next connect.
      a.wakes.length = 0;
      await a.engine.deliver('x1', '"m2"');
      await a.engine.barrier();
      expect(a.wakes).to.deep.equal([]);
      expect(await a.engine.beginConnect('x1', true)).to.deep.include({ messages: ['"m2"'] });
      expect(await a.engine.takeAndEnd('nobody', 60_000), 'an unknown session').to.equal(null);
    });

    for (const fanout of ['queues', 'logs'] as const) {
      it(`${fanout}: once a newer connect holds the session on another process, the older hold's take and end take nothing: the newer gets the mail, in order`, async function () {
        const prefix = nextPrefix();
        const [a, b] = [await node(prefix, 10_000, fanout), await node(prefix, 10_000, fanout)];
        await a.engine.createSession('moved', 60_000);
        expect(await a.engine.subscribe('moved', ['/moved'], 10)).to.equal('ok');
        await a.engine.beginConnect('moved', false);
        expect((await a.engine.beginConnect('moved', true))?.held, 'held by A').to.equal(true);
        // The client gave up on that long poll; its next connect went to B.
        expect((await b.engine.beginConnect('moved', true))?.held, 'held by B').to.equal(true);
        expect(await admin.hget(a.engine.sessionKey('moved'), 'h')).to.equal(b.engine.processId);
        for (const k of [1, 2]) expect(await a.engine.publish('/moved', `"m${k}"`)).to.equal(1);
        // A's hold answers late (a wake it had, its timeout): it must not take B's mail.
        expect(await a.engine.takeAndEnd!('moved', 60_000), "A's take").to.equal(null);
        expect(await a.engine.endConnect('moved', 60_000, true), "A's end with take").to.deep.equal([]);
        expect(await admin.hget(a.engine.sessionKey('moved'), 'h'), 'still held by B').to.equal(b.engine.processId);
        expect(await a.engine.publish('/moved', '"m3"')).to.equal(1);
        const got: string[] = [];
        await waitUntil(async () => {
          const m = await b.engine.takeQueued('moved');
          if (m) got.push(...m);
          return got.length >= 3;
        }, "B's take to get all three", 15_000);
        expect(got, 'in the order published').to.deep.equal(['"m1"', '"m2"', '"m3"']);
      });
    }

    it('a session held by one process is woken there when another process delivers to it', async function () {
      const prefix = nextPrefix();
      const [a, b] = [await node(prefix), await node(prefix)];
      await hold(b, 's');
      expect(await a.engine.deliver('s', '"hi"')).to.equal(true);
      await a.engine.barrier();
      await b.engine.barrier();
      expect(a.wakes).to.deep.equal([]);
      expect(b.wakes).to.deep.equal(['s']);
      expect(await a.engine.takeQueued('s'), 'any process can take the mail').to.deep.equal(['"hi"']);
    });

    it('a session destroyed through one process is reported to the process holding it', async function () {
      const prefix = nextPrefix();
      const [a, b] = [await node(prefix), await node(prefix)];
      await hold(b, 's');
      expect(await a.engine.destroySession('s', 'disconnect')).to.equal(true);
      await waitUntil(() => b.removed.length > 0, 'the holder to hear of the removal');
      expect(b.removed).to.deep.equal([['s', 'disconnect']]);
      expect(a.removed).to.deep.equal([]);
    });

    it('expired sessions are swept once for all processes (under a lock), each reported once', async function () {
      const prefix = nextPrefix();
      const a = await node(prefix, 5);
      const b = await node(prefix, 5);
      const c = await node(prefix, 5);
      const ids = Array.from({ length: 40 }, (_, i) => `e${i}`);
      for (const id of ids) await a.engine.createSession(id, 30);
      await waitUntil(async () => (await a.engine.sessionCount()) === 0, 'every session to be swept', 5000);
      // Removal notices travel after the sweep script returns: wait for all of them, then a
      // few more sweep periods, so a duplicate notice would have time to show up.
      await waitUntil(() => a.removed.length + b.removed.length + c.removed.length >= ids.length, 'every removal to be reported', 5000);
      await new Promise((r) => setTimeout(r, 50));
      const all = [...a.removed, ...b.removed, ...c.removed];
      expect(all.map(([id]) => id).sort()).to.deep.equal([...ids].sort());
      expect(all.every(([, reason]) => reason === 'timeout')).to.equal(true);
    });

    it('a held session whose process died expires after the connect lease', async function () {
      const prefix = nextPrefix();
      const sweeper = await node(prefix, 5);
      const dying = new RedisEngine({ url: server.url, prefix, connectLeaseMs: 200, fanout: 'queues' });
      await dying.open({ wake() {}, sessionRemoved() {}, queueOverflow() {} }, { maxQueue: 10, sweepInterval: 60_000 });
      await dying.createSession('orphan', 60_000);
      await dying.beginConnect('orphan', true);
      await dying.endConnect('orphan', 60_000, false);
      expect((await dying.beginConnect('orphan', true))?.held).to.equal(true);
      await dying.close(); // gone without answering its hold
      await waitUntil(() => sweeper.removed.length > 0, 'the orphan to expire', 3000);
      expect(sweeper.removed).to.deep.equal([['orphan', 'timeout']]);
    });
  });

  describe('start-up', function () {
    it('an app publish made right after construction waits for the engine to connect instead of rejecting', async function () {
      const bayeux = new BayeuxServer({ engine: new RedisEngine({ url: server.url, prefix: nextPrefix() }) });
      try {
        const local = await bayeux.localClient();
        expect(await bayeux.publish('/early', 1)).to.equal(0);
        await local.subscribe('/early', () => {});
        expect(await bayeux.publish('/early', 2)).to.equal(1);
      } finally {
        await bayeux.close();
      }
      const fresh = new BayeuxServer({ engine: new RedisEngine({ url: server.url, prefix: nextPrefix() }) });
      try {
        // No await before it: the engine is still connecting.
        expect(await fresh.publish('/early', 1)).to.equal(0);
      } finally {
        await fresh.close();
      }
    });
  });

  describe('options', function () {
    it('refuses bad options with a clear error at construction', function () {
      const bad: [unknown, RegExp][] = [
        [{ url: 'http://x' }, /url must be redis:\/\//],
        [{ url: server.url, cluster: [{ host: '127.0.0.1', port: 1 }] }, /only one of url, sentinels, cluster and client/],
        [{ cluster: [] }, /cluster must be a non-empty array/],
        [{ cluster: ['nope'] }, /is not host:port/],
        [{ sentinels: [{ host: '127.0.0.1', port: 26379 }] }, /need the master name/],
        [{ buckets: 0 }, /buckets must be an integer from 1 to 16384/],
        [{ buckets: 2.5 }, /buckets must be an integer/],
        [{ prefix: 'a{b}' }, /prefix must be a non-empty string without \{ or \}/],
        [{ commandTimeoutMs: -1 }, /commandTimeoutMs must be a positive number/],
        [{ fanout: 'fast' }, /fanout must be 'queues' or 'logs'/],
        [{ cluster: ['127.0.0.1:7000'], shardedPubSub: 'yes' }, /shardedPubSub must be a boolean/],
        [{ url: server.url, shardedPubSub: true }, /shardedPubSub is for a Redis Cluster/],
        [{ client: {} }, /client must be an ioredis Redis or Cluster/],
        [null, /options must be an object/],
      ];
      for (const [options, message] of bad) {
        expect(() => new RedisEngine(options as RedisEngineOptions), JSON.stringify(options)).to.throw(TypeError, message);
      }
      expect(new RedisEngine({ url: server.url }).buckets, 'single Redis: one bucket').to.equal(1);
      expect(new RedisEngine({ cluster: ['127.0.0.1:7000'] }).buckets, 'Cluster: 16 buckets').to.equal(16);
      expect(new RedisEngine({ url: server.url, buckets: 8 }).buckets).to.equal(8);
    });

    it("a process whose fanout is not the deployment's stays down with an error naming both, while the others go on", async function () {
      const prefix = nextPrefix();
      const servers: BayeuxServer[] = [];
      const open = async (fanout: 'queues' | 'logs'): Promise<{ bayeux: BayeuxServer; errors: Error[] }> => {
        const bayeux = new BayeuxServer({ engine: new RedisEngine({ url: server.url, prefix, fanout }) });
        servers.push(bayeux);
        const errors: Error[] = [];
        bayeux.on('error', (err: unknown) => errors.push(err as Error));
        await bayeux.ready();
        return { bayeux, errors };
      };
      try {
        const first = await open('queues');
        expect(first.bayeux.engineStatus).to.equal('up');
        const admin = server.client();
        try {
          expect(await admin.get(`{${prefix}:i}:fanout`), 'the mode recorded').to.equal('queues');
        } finally {
          await admin.quit();
        }
        const same = await open('queues');
        expect(same.bayeux.engineStatus, 'the same mode: up').to.equal('up');
        const other = await open('logs');
        await waitUntil(() => other.bayeux.engineStatus === 'down', 'the mismatched process down', 15_000);
        expect(other.errors.map((e) => e.message)).to.have.length(1);
        expect(other.errors[0]!.message).to.match(/fanout 'logs' does not match .*runs fanout 'queues'.*same value/);
        let refused: unknown = null;
        await other.bayeux.publish('/x', 1).catch((err: unknown) => (refused = err));
        expect(refused, 'its publish refused').to.be.instanceOf(EngineUnavailableError);
        expect(await first.bayeux.publish('/x', 1), 'the others go on').to.equal(0);
        expect(first.bayeux.engineStatus).to.equal('up');
      } finally {
        await Promise.all(servers.map((b) => b.close()));
      }
    });

    it("fanout 'logs' on a Redis with sessions of a version that recorded no mode (0.1.0, queues) stays down", async function () {
      const prefix = nextPrefix();
      const old = new BayeuxServer({ engine: new RedisEngine({ url: server.url, prefix, fanout: 'queues' }) });
      const admin = server.client();
      let logs: BayeuxServer | null = null;
      try {
        await old.ready();
        await old.engine.inner.createSession('legacy', 60_000);
        await admin.del(`{${prefix}:i}:fanout`); // as 0.1.0 left it
        logs = new BayeuxServer({ engine: new RedisEngine({ url: server.url, prefix, fanout: 'logs' }) });
        const errors: Error[] = [];
        logs.on('error', (err: unknown) => errors.push(err as Error));
        await logs.ready();
        await waitUntil(() => logs!.engineStatus === 'down', 'the logs process down', 15_000);
        expect(errors[0]?.message).to.match(/runs fanout queues \(sessions without a recorded mode: bayeux-server 0\.1\.0\)/);
        expect(await admin.get(`{${prefix}:i}:fanout`), 'nothing recorded by the refused process').to.equal(null);
      } finally {
        await admin.quit();
        await old.close();
        await logs?.close();
      }
    });

    it('uses an ioredis client it is given, and leaves it open on close', async function () {
      const mine = server.client();
      const engine = new RedisEngine({ client: mine, prefix: nextPrefix() });
      const wakes: string[] = [];
      await engine.open({ wake: (id) => wakes.push(id), sessionRemoved() {}, queueOverflow() {} }, { maxQueue: 10, sweepInterval: 1000 });
      try {
        await engine.createSession('s', 60_000);
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 60_000, false);
        expect((await engine.beginConnect('s', true))?.held).to.equal(true);
        expect(await engine.deliver('s', '"x"')).to.equal(true);
        await engine.barrier();
        expect(wakes, 'woken through its own pub/sub connection').to.deep.equal(['s']);
        expect(await mine.exists(engine.sessionKey('s'))).to.equal(1);
      } finally {
        await engine.close();
      }
      expect(mine.status, 'still open').to.equal('ready');
      expect(await mine.ping()).to.equal('PONG');
      await mine.quit();
    });

    it('without clusterEvents, nothing is published on the events channel', async function () {
      const prefix = nextPrefix();
      const listen = server.client();
      const heard: string[] = [];
      listen.on('message', (_channel: string, message: string) => heard.push(message));
      await listen.subscribe(`${prefix}:ev`);
      const engine = new RedisEngine({ url: server.url, prefix, buckets: 2 });
      const events: unknown[] = [];
      await engine.open({ wake() {}, sessionRemoved() {}, queueOverflow() {}, clusterEvent: (e) => events.push(e) }, { maxQueue: 10, sweepInterval: 10 });
      try {
        await engine.createSession('s', 60_000);
        await engine.subscribe('s', ['/a'], 10);
        await engine.unsubscribe('s', ['/a']);
        await engine.destroySession('s', 'disconnect');
        await engine.createSession('t', 0);
        await waitUntil(async () => !(await engine.hasSession('t')), 'the sweep to remove t');
        // A marker of our own after all that: everything published before it has arrived.
        const say = server.client();
        await say.publish(`${prefix}:ev`, 'marker');
        await say.quit();
        await waitUntil(() => heard.includes('marker'), 'the marker');
        expect(heard).to.deep.equal(['marker']);
        expect(events).to.deep.equal([]);
      } finally {
        await engine.close();
        await listen.quit();
      }
    });
  });

  describe('when Redis goes away', function () {
    afterEach(async function () {
      await closeAllProxies();
    });

    it('mail that would ride on a response stays queued when Redis drops just before it is taken; the replies still go out', async function () {
      const link = await OutageProxy.start(server.port);
      const engine = new RedisEngine({ url: `redis://127.0.0.1:${link.port}`, prefix: nextPrefix() });
      const raw = await RawServer.start({ engine });
      const errors: unknown[] = [];
      raw.bayeux.on('error', (err) => errors.push(err));
      // Cut the link to Redis once the publish is done and its reply is ready: the next
      // engine call of this request is the take of the mail that would ride along.
      raw.bayeux.addExtension({
        outgoing(message, context) {
          if (context.inReplyTo?.channel === '/cut/now' && 'successful' in message) link.cut();
          return message;
        },
      });
      try {
        const client = await raw.connectedClient();
        await client.mustSubscribe('/cut/now');
        const answer = await client.publish('/cut/now', 'kept');
        expect(answer.map((m) => [m.channel, m.successful, m.data]), 'the publish reply, without the mail').to.deep.equal([['/cut/now', true, undefined]]);
        expect(errors.some((e) => e instanceof EngineUnavailableError), 'the failed take is reported').to.equal(true);
        link.restore();
        let mail: unknown[] = [];
        await waitUntil(
          async () => {
            try {
              mail = (await client.connect({ advice: { timeout: 0 } })).filter((m) => m.channel === '/cut/now').map((m) => m.data);
              return mail.length > 0;
            } catch {
              return false;
            }
          },
          'the queued mail after Redis is back',
          5000,
          50,
        );
        expect(mail, 'delivered once, by the next connect').to.deep.equal(['kept']);
      } finally {
        await raw.close();
      }
    });

    it('calls fail promptly as unavailable, and work again once Redis is back', async function () {
      const own = await RedisServer.start();
      const engine = new RedisEngine({ url: own.url, prefix: nextPrefix(), retryMs: 1500 });
      await engine.open({ wake() {}, sessionRemoved() {}, queueOverflow() {} }, { maxQueue: 10, sweepInterval: 50 });
      try {
        await engine.createSession('s', 60_000);
        await own.stop();
        const started = Date.now();
        let failure: unknown = null;
        try {
          await engine.hasSession('s');
        } catch (err) {
          failure = err;
        }
        expect(failure).to.be.instanceOf(EngineUnavailableError);
        expect((failure as EngineUnavailableError).retryMs).to.equal(1500);
        expect(Date.now() - started, 'ms to fail').to.be.below(2500);
        // Many calls while down: each rejects, nothing piles up.
        const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => engine.publish('/x', '"m"')));
        expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof EngineUnavailableError)).to.equal(true);
        await own.start();
        await waitUntil(
          async () => {
            try {
              await engine.createSession('t', 60_000);
              return true;
            } catch {
              return false;
            }
          },
          'the engine to reconnect',
          5000,
          50,
        );
        expect(await engine.hasSession('t')).to.equal(true);
      } finally {
        await engine.close();
        await own.stop();
      }
    });
  });
});
