/**
 * The Redis engine on a real 3-node Redis Cluster (redis-server --cluster-enabled, joined
 * with redis-cli --cluster create, on loopback): the shared engine contract; what the
 * bucket layout promises (a session's keys in one slot, buckets on every node, a publish in
 * two round trips whatever the number of subscribers, a payload stored once per bucket,
 * wakes only to holders, one sweep for the cluster, a channel index that forgets buckets
 * left empty); then several bayeux-server processes on the Cluster with the real CometD and
 * Faye clients, and cluster events seen across processes.
 *
 * REDIS_CLUSTER_MESSAGES sets how many messages the load test sends (default 3,000).
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { ClusterEvent, EngineListener, SessionRemovedReason } from '../engine.js';
import { RedisEngine } from '../lib/engines/redis/redis-engine.js';
import { SCRIPTS } from '../lib/engines/redis/scripts.js';
import { ClusterNode, RoundRobinRelay, stopCluster } from './support/cluster.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { engineContract } from './support/engine-contract.js';
import { FayeClient, closeAllFayeClients } from './support/faye-client.js';
import { RawServer } from './support/raw-client.js';
import { RedisClusterServer, stopAllRedisTopologies } from './support/redis-cluster-server.js';
import { stopAllRedisServers } from './support/redis-server.js';
import { Inbox, waitUntil } from './support/wait.js';

const MESSAGES = Number(process.env.REDIS_CLUSTER_MESSAGES ?? 3000);

let cluster: RedisClusterServer;
let prefixes = 0;
const nextPrefix = (): string => `k${process.pid}x${++prefixes}`;

/**
 * Every command clients send to any node of the cluster (MONITOR on each), those carrying
 * `prefix` only; commands run by scripts are left out. `settle()` waits until each node's
 * feed has caught up (a marker PING sent to every node after the commands to count).
 */
class ClusterMonitor {
  readonly commands: string[][] = [];
  private readonly marks = new Set<string>();
  private readonly monitors: Redis[] = [];
  private markCount = 0;

  static async start(prefix: string): Promise<ClusterMonitor> {
    const m = new ClusterMonitor();
    for (const node of cluster.nodes) {
      const base = new Redis({ port: node.port, host: '127.0.0.1' });
      const mon = await base.monitor();
      base.disconnect();
      mon.on('monitor', (_time: string, args: string[], source: string) => {
        if (args[0]?.toLowerCase() === 'ping' && args[1]?.startsWith('mark-')) m.marks.add(`${node.port}:${args[1]}`);
        else if (source !== 'lua' && args.some((a) => a.includes(prefix))) m.commands.push(args);
      });
      m.monitors.push(mon);
    }
    await m.settle();
    return m;
  }

  /** Waits until every node's feed shows a marker sent now. */
  async settle(): Promise<void> {
    const mark = `mark-${++this.markCount}`;
    for (const node of cluster.nodes) {
      const c = new Redis({ port: node.port, host: '127.0.0.1' });
      await c.ping(mark);
      c.disconnect();
    }
    await waitUntil(() => cluster.nodes.every((n) => this.marks.has(`${n.port}:${mark}`)), 'MONITOR to show the marker on every node');
  }

  /**
   * Commands counted since the last call, by script name (EVALSHA of a known script, or
   * EVAL of its text the first time a node runs it) or command.
   */
  async take(): Promise<string[]> {
    await this.settle();
    const names = new Map<string, string>();
    for (const [name, [, lua]] of Object.entries(SCRIPTS)) {
      names.set(createHash('sha1').update(lua).digest('hex'), name);
      names.set(lua, name);
    }
    return this.commands.splice(0).map((args) => {
      const cmd = args[0]!.toLowerCase();
      if (cmd === 'evalsha') return names.get(args[1]!) ?? 'evalsha?';
      // MONITOR shows a script's text escaped.
      if (cmd === 'eval') return names.get(args[1]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c))) ?? 'eval?';
      return cmd;
    });
  }

  stop(): void {
    for (const m of this.monitors) m.disconnect();
  }
}

describe('redis engine on Redis Cluster', function () {
  this.timeout(60_000);

  before(async function () {
    this.timeout(60_000);
    cluster = await RedisClusterServer.start(3);
  });
  after(async function () {
    await stopAllRedisTopologies();
    await stopAllRedisServers();
  });

  engineContract('redis engine on a 3-node Redis Cluster', {
    makeEngine: () => new RedisEngine({ cluster: cluster.startupNodes, prefix: nextPrefix(), clusterEvents: true }),
  });
  // Fan-out through channel logs (issue 14): the same contract, unchanged.
  engineContract('redis engine on a 3-node Redis Cluster, logs', {
    makeEngine: () => new RedisEngine({ cluster: cluster.startupNodes, prefix: nextPrefix(), clusterEvents: true, fanout: 'logs' }),
  });

  describe('bucket layout', function () {
    interface Node {
      engine: RedisEngine;
      wakes: string[];
      removed: [string, SessionRemovedReason][];
      events: ClusterEvent[];
    }
    const nodes: Node[] = [];

    async function node(prefix: string, options: { sweepInterval?: number; indexGraceMs?: number; shardedPubSub?: boolean; fanout?: 'queues' | 'logs' } = {}): Promise<Node> {
      const n: Node = {
        engine: new RedisEngine({
          cluster: cluster.startupNodes,
          prefix,
          clusterEvents: true,
          indexGraceMs: options.indexGraceMs,
          shardedPubSub: options.shardedPubSub,
          fanout: options.fanout,
        }),
        wakes: [],
        removed: [],
        events: [],
      };
      const listener: EngineListener = {
        wake: (id) => n.wakes.push(id),
        sessionRemoved: (id, reason) => n.removed.push([id, reason]),
        queueOverflow: () => {},
        clusterEvent: (e) => n.events.push(e),
      };
      await n.engine.open(listener, { maxQueue: 1000, sweepInterval: options.sweepInterval ?? 60_000 });
      nodes.push(n);
      return n;
    }

    async function hold(n: Node, id: string): Promise<void> {
      await n.engine.createSession(id, 60_000);
      await n.engine.beginConnect(id, true);
      await n.engine.endConnect(id, 60_000, false);
      expect((await n.engine.beginConnect(id, true))?.held).to.equal(true);
    }

    afterEach(async function () {
      await Promise.all(nodes.splice(0).map((n) => n.engine.close()));
    });

    it("keeps one session's keys in one slot, and spreads the 16 buckets over every node", async function () {
      const prefix = nextPrefix();
      const { engine } = await node(prefix);
      expect(engine.buckets, 'the default on a Cluster').to.equal(16);
      const ids = Array.from({ length: 64 }, (_, i) => `session-${i}`);
      for (const id of ids) await engine.createSession(id, 60_000);
      const slots = new Set<number>();
      const ports = new Set<number>();
      for (const id of ids) {
        const key = engine.sessionKey(id);
        const tag = key.slice(0, key.indexOf('}') + 1);
        const slot = await cluster.slotOf(key);
        for (const other of [`${tag}:q:${id}`, `${tag}:subs:${id}`, `${tag}:exp`, `${tag}:m:1`]) expect(await cluster.slotOf(other), other).to.equal(slot);
        slots.add(slot);
        ports.add(await cluster.nodeOf(key));
      }
      expect(slots.size, 'buckets used by 64 sessions').to.be.above(8);
      expect(ports.size, 'nodes holding them').to.equal(3);
      expect(await engine.sessionCount()).to.equal(64);
    });

    /** Per node: the shard channels and the plain channels of `prefix` that clients listen to there. */
    async function listened(prefix: string): Promise<{ port: number; shard: string[]; plain: string[] }[]> {
      return Promise.all(
        cluster.nodes.map(async (n) => {
          const c = new Redis({ port: n.port, host: '127.0.0.1' });
          try {
            const shard = (await c.call('PUBSUB', 'SHARDCHANNELS', `{${prefix}:*`)) as string[];
            const plain = (await c.call('PUBSUB', 'CHANNELS', `*${prefix}*`)) as string[];
            return { port: n.port, shard, plain };
          } finally {
            c.disconnect();
          }
        }),
      );
    }

    it('notices go by sharded pub/sub: a channel per bucket on the node that owns it, none Cluster-wide; wakes, log notices and events arrive', async function () {
      const prefix = nextPrefix();
      const a = await node(prefix, { fanout: 'logs' });
      const b = await node(prefix, { fanout: 'logs' });
      await hold(a, 'w');
      await a.engine.subscribe('w', ['/shard'], 10);
      await a.engine.barrier();
      a.wakes.length = 0;
      b.events.length = 0;
      expect(await b.engine.publish('/shard', '"x"')).to.equal(1);
      await waitUntil(() => a.wakes.includes('w'), "the log notice to wake a's hold");
      expect(await a.engine.takeAndEnd('w', 60_000)).to.deep.equal(['"x"']);
      await a.engine.destroySession('w', 'disconnect');
      await waitUntil(() => b.events.some((e) => e.type === 'sessionRemoved' && e.clientId === 'w'), 'the removal event to reach b');
      const seen = await listened(prefix);
      const all = seen.flatMap((s) => s.shard);
      for (const s of seen) {
        expect(s.plain, `plain channels on node ${s.port}`).to.deep.equal([]);
        for (const ch of s.shard) expect(await cluster.nodeOf(ch), ch).to.equal(s.port);
      }
      for (const n of [a, b]) {
        for (let k = 0; k < 16; k++) {
          expect(all, 'wake channel').to.include(`{${prefix}:b${k}}:w:${n.engine.processId}`);
          expect(all, 'events channel').to.include(`{${prefix}:b${k}}:ev`);
        }
      }
    });

    it("a node's sharded subscriber lost and replaced: the holds it served are looked at again, so a wake sent meanwhile is not lost", async function () {
      const prefix = nextPrefix();
      const a = await node(prefix, { fanout: 'queues' });
      await hold(a, 'k');
      await a.engine.subscribe('k', ['/kill'], 10);
      await a.engine.barrier();
      a.wakes.length = 0;
      const port = await cluster.nodeOf(a.engine.sessionKey('k'));
      const admin = new Redis({ port, host: '127.0.0.1' });
      try {
        // Every pub/sub connection on the node that owns the session's bucket (ours alone here).
        expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).to.be.at.least(1);
      } finally {
        admin.disconnect();
      }
      // Published while that node's subscriber is gone: the wake to the holder has nobody to reach.
      expect(await a.engine.publish('/kill', '"lost?"')).to.equal(1);
      await waitUntil(() => a.wakes.includes('k'), 'the hold woken once the subscriber is replaced', 20_000);
      expect(await a.engine.takeAndEnd('k', 60_000)).to.deep.equal(['"lost?"']);
      // Notices flow again through the new subscriber.
      await hold(a, 'k2');
      await a.engine.subscribe('k2', ['/kill2'], 10);
      a.wakes.length = 0;
      expect(await a.engine.publish('/kill2', '"again"')).to.equal(1);
      await waitUntil(() => a.wakes.includes('k2'), 'a later wake', 20_000);
    });

    it('with shardedPubSub false, notices go by plain pub/sub and still arrive', async function () {
      const prefix = nextPrefix();
      const a = await node(prefix, { shardedPubSub: false });
      const b = await node(prefix, { shardedPubSub: false });
      await hold(a, 'p');
      await a.engine.subscribe('p', ['/plain'], 10);
      await a.engine.barrier();
      a.wakes.length = 0;
      expect(await b.engine.publish('/plain', '"y"')).to.equal(1);
      await waitUntil(() => a.wakes.includes('p'), "the wake to reach a's hold");
      const seen = await listened(prefix);
      expect(seen.flatMap((s) => s.shard)).to.deep.equal([]);
      expect(seen.flatMap((s) => s.plain)).to.include(`${prefix}:w:${a.engine.processId}`);
    });

    it('queues: a publish is two round trips — the index, then one script per bucket with subscribers — for 1 or 300 subscribers held on 3 processes; only holders are woken', async function () {
      const prefix = nextPrefix();
      const q = { fanout: 'queues' } as const;
      const [a, b, c, idle] = [await node(prefix, q), await node(prefix, q), await node(prefix, q), await node(prefix, q)];
      await hold(a, 'solo');
      await a.engine.subscribe('solo', ['/one'], 10);
      const holders = [a, b, c];
      const manyBuckets = new Set<number>();
      for (let i = 0; i < 300; i++) {
        const id = `m${i}`;
        await hold(holders[i % 3]!, id);
        await holders[i % 3]!.engine.subscribe(id, [i % 2 ? '/many/**' : '/many/x'], 10);
        manyBuckets.add(idle.engine.bucketOf(id));
      }
      for (const n of nodes) await n.engine.barrier();
      for (const n of nodes) n.wakes.length = 0;

      const monitor = await ClusterMonitor.start(prefix);
      try {
        expect(await idle.engine.publish('/nobody', '"p0"')).to.equal(0);
        expect(await monitor.take(), 'a channel without subscribers: the index only').to.deep.equal(['bxRoute']);
        // The nodes' MONITOR feeds arrive in no set order: the index's call may be seen after
        // bucket scripts it preceded on another node. Counted, not ordered.
        expect(await idle.engine.publish('/one', '"p1"')).to.equal(1);
        expect((await monitor.take()).sort(), 'one subscriber').to.deep.equal(['bxPublish', 'bxRoute']);
        expect(await idle.engine.publish('/many/x', '"p300"')).to.equal(300);
        const many = await monitor.take();
        expect(many.filter((c) => c === 'bxRoute'), 'the index once').to.have.length(1);
        expect(many.filter((c) => c !== 'bxRoute'), 'one script per bucket with subscribers').to.deep.equal(Array(manyBuckets.size).fill('bxPublish'));
        expect(many.length, 'bounded by the bucket count').to.be.at.most(17);
      } finally {
        monitor.stop();
      }

      // The payload of the 300-subscriber publish: stored once in each bucket that has subscribers.
      let copies = 0;
      for (const n of cluster.nodes) {
        const admin = new Redis({ port: n.port, host: '127.0.0.1' });
        for (const key of await admin.keys(`{${prefix}:b*}:m:*`)) if ((await admin.hget(key, 'p')) === '"p300"') copies++;
        admin.disconnect();
      }
      expect(copies, 'payload copies').to.equal(manyBuckets.size);

      for (const n of nodes) await n.engine.barrier();
      expect(idle.wakes, 'a process holding no subscriber is not woken').to.deep.equal([]);
      expect(a.wakes.sort()).to.deep.equal(['solo', ...Array.from({ length: 100 }, (_, k) => `m${k * 3}`)].sort());
      expect(b.wakes).to.have.length(100);
      expect(c.wakes).to.have.length(100);
      expect(await c.engine.takeQueued('m2')).to.deep.equal(['"p300"']);
    });

    it('expired sessions are swept once for the cluster, each reported once, with one removal event per process', async function () {
      const prefix = nextPrefix();
      const all = [await node(prefix, { sweepInterval: 20 }), await node(prefix, { sweepInterval: 20 }), await node(prefix, { sweepInterval: 20 })];
      const ids = Array.from({ length: 40 }, (_, i) => `e${i}`);
      for (const id of ids) await all[0]!.engine.createSession(id, 50);
      await waitUntil(async () => (await all[0]!.engine.sessionCount()) === 0, 'every session to be swept', 10_000, 20);
      await waitUntil(() => all.reduce((n, x) => n + x.removed.length, 0) >= ids.length, 'every removal to be reported', 5000);
      const removedEvents = (n: Node) => n.events.filter((e) => e.type === 'sessionRemoved');
      await waitUntil(() => all.every((n) => removedEvents(n).length >= ids.length), 'every process to get every removal event', 5000);
      await new Promise((r) => setTimeout(r, 100)); // a few more sweeps: a duplicate would show up
      for (const n of all) await n.engine.barrier();
      const reported = all.flatMap((n) => n.removed);
      expect(reported.map(([id]) => id).sort()).to.deep.equal([...ids].sort());
      expect(reported.every(([, reason]) => reason === 'timeout')).to.equal(true);
      for (const n of all) {
        expect(removedEvents(n).map((e) => e.clientId).sort(), 'removal events').to.deep.equal([...ids].sort());
      }
    });

    for (const fanout of ['queues', 'logs'] as const) {
      it(`${fanout}: the channel index forgets a bucket whose subscribers left, and a new subscriber is reached again`, async function () {
        const prefix = nextPrefix();
        const n = await node(prefix, { sweepInterval: 20, indexGraceMs: 100, fanout });
        const other = await node(prefix, { sweepInterval: 60_000, fanout });
        const admin = new Redis({ port: await cluster.nodeOf(`{${prefix}:i}`), host: '127.0.0.1' });
        try {
          await n.engine.createSession('s', 60_000);
          await n.engine.subscribe('s', ['/p'], 10);
          expect(await admin.hkeys(`{${prefix}:i}:c:/p`)).to.deep.equal([String(n.engine.bucketOf('s'))]);
          expect(await other.engine.publish('/p', '"1"')).to.equal(1);
          await n.engine.unsubscribe('s', ['/p']);
          await waitUntil(async () => (await admin.exists(`{${prefix}:i}:c:/p`)) === 0, 'the index entry to be removed', 5000, 20);
          expect(await admin.zcard(`{${prefix}:i}:stale`), 'nothing left to check').to.equal(0);
          await n.engine.close(); // its sweeps (every 20 ms) would fill the count below
          const monitor = await ClusterMonitor.start(prefix);
          try {
            expect(await other.engine.publish('/p', '"2"')).to.equal(0);
            expect(await monitor.take(), 'no bucket script once the index forgot the bucket').to.deep.equal(['bxRoute']);
          } finally {
            monitor.stop();
          }
          await other.engine.subscribe('s', ['/p'], 10);
          expect(await other.engine.publish('/p', '"3"')).to.equal(1);
          // Logs mode: mail published before an unsubscribe and not yet taken is not delivered after it.
          expect(await other.engine.takeQueued('s')).to.deep.equal(fanout === 'queues' ? ['"1"', '"3"'] : ['"3"']);
        } finally {
          admin.disconnect();
        }
      });
    }

    it('a bucket that only looks empty within the grace period stays in the index', async function () {
      const prefix = nextPrefix();
      const n = await node(prefix, { sweepInterval: 20, indexGraceMs: 60_000 });
      await n.engine.createSession('s', 60_000);
      await n.engine.subscribe('s', ['/g'], 10);
      await n.engine.unsubscribe('s', ['/g']);
      const admin = new Redis({ port: await cluster.nodeOf(`{${prefix}:i}`), host: '127.0.0.1' });
      try {
        await waitUntil(async () => (await admin.zcard(`{${prefix}:i}:stale`)) === 1, 'the emptied bucket to be noted', 2000, 20);
        await new Promise((r) => setTimeout(r, 200)); // ten sweeps
        expect(await admin.hkeys(`{${prefix}:i}:c:/g`), 'kept: a subscribe may still be on its way').to.have.length(1);
      } finally {
        admin.disconnect();
      }
    });
  });

  describe('a BayeuxServer on the Cluster', function () {
    it('handshake, subscribe, publish and delivery through the engine; cluster events as server events', async function () {
      const engine = new RedisEngine({ cluster: cluster.startupNodes, prefix: nextPrefix(), clusterEvents: true });
      const server = await RawServer.start({ engine });
      try {
        const added = new Inbox<string>();
        const subscribed = new Inbox<[string, string]>();
        const removed = new Inbox<[string, SessionRemovedReason]>();
        server.bayeux.on('clusterSessionAdded', added.push);
        server.bayeux.on('clusterSubscribe', (id, ch) => subscribed.push([id, ch]));
        server.bayeux.on('clusterSessionRemoved', (id, reason) => removed.push([id, reason]));
        const client = await server.connectedClient();
        await client.mustSubscribe('/room/*');
        expect(await server.bayeux.publish('/room/a', { hello: 1 })).to.equal(1);
        const got = await client.connect();
        expect(got.filter((m) => m.channel === '/room/a').map((m) => m.data)).to.deep.equal([{ hello: 1 }]);
        await client.disconnect();
        expect(await added.nth(0, 'the session added event')).to.equal(client.clientId);
        expect(await subscribed.nth(0, 'the subscribe event')).to.deep.equal([client.clientId, '/room/*']);
        expect(await removed.nth(0, 'the removal event')).to.deep.equal([client.clientId, 'disconnect']);
      } finally {
        await server.close();
      }
    });
  });

  describe('several processes on the Cluster', function () {
    let nodes: ClusterNode[];
    let relay: RoundRobinRelay;
    let prefix: string;

    beforeEach(async function () {
      prefix = nextPrefix();
      const env = {
        REDIS_CLUSTER: cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(','),
        REDIS_PREFIX: prefix,
        REDIS_EVENTS: '1',
        BAYEUX_TIMEOUT: '3000',
        BAYEUX_MAX_INTERVAL: '2000',
      };
      nodes = await Promise.all(['A', 'B', 'C'].map((name) => ClusterNode.start(name, env)));
      relay = await RoundRobinRelay.start(nodes.map((n) => n.port));
    });
    afterEach(async function () {
      await closeAllCometDClients();
      await closeAllFayeClients();
      await stopCluster();
    });

    it(`${MESSAGES} messages from three processes reach clients whose sessions are in different slots, none lost or duplicated`, async function () {
      this.timeout(120_000);
      const layout = new RedisEngine({ cluster: cluster.startupNodes, prefix }); // not opened: only its key names
      const receivers: { who: string; id: () => string; got: { from: string; seq: number }[] }[] = [];
      const buckets = new Set<number>();
      // CometD clients until their sessions sit in at least three buckets (16 buckets: a few suffice), and Faye.
      for (let i = 0; i < 8 && (buckets.size < 3 || receivers.length < 3); i++) {
        const c = new CometDClient(relay.url);
        const got: { from: string; seq: number }[] = [];
        await c.handshake();
        await c.subscribe('/load/*', (m) => got.push(m.data as { from: string; seq: number }));
        buckets.add(layout.bucketOf(c.clientId!));
        receivers.push({ who: `CometD ${i}`, id: () => c.clientId!, got });
      }
      const faye = new FayeClient(relay.url);
      const fayeGot: { from: string; seq: number }[] = [];
      await faye.subscribe('/load/*', (m) => fayeGot.push(m.data as { from: string; seq: number }));
      receivers.push({ who: 'Faye', id: () => faye.clientId!, got: fayeGot });
      buckets.add(layout.bucketOf(faye.clientId!));
      const slots = new Set(await Promise.all(receivers.map((r) => cluster.slotOf(layout.sessionKey(r.id())))));
      expect(slots.size, 'receivers in different slots').to.be.at.least(3);

      const per = Math.ceil(MESSAGES / nodes.length);
      const counts = nodes.map((_, i) => Math.min(per, MESSAGES - i * per));
      const started = Date.now();
      const results = await Promise.all(nodes.map((n, i) => n.publishMany(`/load/${n.name}`, n.name, counts[i]!, 100_000)));
      expect(results.map((r) => r.failed)).to.deep.equal([0, 0, 0]);
      await waitUntil(() => receivers.every((r) => r.got.length >= MESSAGES), `all ${MESSAGES} messages`, 100_000, 50).catch((err: Error) => {
        throw new Error(`${err.message} (${receivers.map((r) => `${r.who} ${r.got.length}`).join(', ')})`);
      });
      const took = Date.now() - started;
      for (const { who, got } of receivers) {
        expect(got, who).to.have.length(MESSAGES);
        expect(new Set(got.map((m) => `${m.from}:${m.seq}`)).size, `${who}: distinct messages`).to.equal(MESSAGES);
        for (const [i, n] of nodes.entries()) {
          const seqs = got.filter((m) => m.from === n.name).map((m) => m.seq).sort((x, y) => x - y);
          expect(seqs, `${who}: messages from ${n.name}`).to.deep.equal(Array.from({ length: counts[i]! }, (_, k) => k));
        }
      }
      console.log(`      (${MESSAGES} messages to ${receivers.length} clients in ${slots.size} slots through 3 processes in ${took} ms)`);
    });

    it('process A sees the session that handshook on process B, its subscriptions and its removal; an expiry is reported once', async function () {
      const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
      // A client talking to B only.
      const cometd = new CometDClient(`http://127.0.0.1:${b.port}/cometd`);
      await cometd.handshake();
      const id = cometd.clientId!;
      await cometd.subscribe('/presence/room', () => {});
      await cometd.unsubscribe(await cometd.subscribe('/presence/other', () => {}));
      await cometd.disconnect();
      const about = (n: ClusterNode) => n.events.items.filter((e) => e.clientId === id);
      for (const n of [a, b, c]) {
        await n.events.until((e) => e.clientId === id && e.event === 'sessionRemoved', `${n.name} to see the removal`, 10_000);
        expect(about(n), `events seen by ${n.name}`).to.deep.equal([
          { event: 'sessionAdded', clientId: id },
          { event: 'subscribe', clientId: id, detail: '/presence/room' },
          { event: 'subscribe', clientId: id, detail: '/presence/other' },
          { event: 'unsubscribe', clientId: id, detail: '/presence/other' },
          { event: 'sessionRemoved', clientId: id, detail: 'disconnect' },
        ]);
      }

      // A session that never connects expires (interval 0 + maxInterval): one event per process.
      const res = await fetch(`http://127.0.0.1:${c.port}/cometd`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]),
      });
      const [reply] = (await res.json()) as { clientId: string }[];
      const gone = reply!.clientId;
      for (const n of [a, b, c]) {
        await n.events.until((e) => e.clientId === gone && e.event === 'sessionRemoved', `${n.name} to see the expiry`, 30_000);
      }
      await new Promise((r) => setTimeout(r, 1500)); // more sweeps: a duplicate would show up
      for (const n of [a, b, c]) {
        expect(n.events.items.filter((e) => e.clientId === gone), `${n.name}`).to.deep.equal([
          { event: 'sessionAdded', clientId: gone },
          { event: 'sessionRemoved', clientId: gone, detail: 'timeout' },
        ]);
      }
    });
  });
});
