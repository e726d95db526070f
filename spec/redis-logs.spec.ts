/**
 * The Redis engine's `fanout: 'logs'` mode (issue 14, step 1) against a real redis-server:
 * what the logs promise beyond the shared engine contract (which spec/redis-engine.spec.ts
 * and spec/redis-cluster-engine.spec.ts run on this mode too). Checked with Redis's own
 * commands where the layout is the point: one stream entry per publish whatever the number
 * of subscribers and no per-session queue entries; a publish matched by two subscriptions
 * taken once; direct mail and log mail in the order they were sent; retention (a slow
 * session gets the newest maxQueue and a report of exactly what it lost; a take returns at
 * most maxQueue); the sweeper trimming what every subscriber has read; per-publisher order
 * across three engines; unsubscribe, destroy and the subscriber count.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { EngineListener, SessionRemovedReason } from '../engine.js';
import { RedisEngine } from '../lib/engines/redis/redis-engine.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { waitUntil } from './support/wait.js';

let server: RedisServer;
let prefixes = 0;
const nextPrefix = (): string => `lg${process.pid}x${++prefixes}`;

interface Node {
  engine: RedisEngine;
  wakes: string[];
  removed: [string, SessionRemovedReason][];
  overflows: [string, number][];
}

describe('redis engine, fan-out through channel logs', function () {
  this.timeout(30_000);
  const nodes: Node[] = [];
  let admin: Redis;

  before(async function () {
    server = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });
  beforeEach(function () {
    admin = server.client();
  });
  afterEach(async function () {
    await Promise.all(nodes.splice(0).map((n) => n.engine.close()));
    await admin.quit();
  });

  async function node(prefix: string, options: { maxQueue?: number; sweepInterval?: number } = {}): Promise<Node> {
    const n: Node = { engine: new RedisEngine({ url: server.url, prefix, fanout: 'logs' }), wakes: [], removed: [], overflows: [] };
    const listener: EngineListener = {
      wake: (id) => n.wakes.push(id),
      sessionRemoved: (id, reason) => n.removed.push([id, reason]),
      queueOverflow: (id, dropped) => n.overflows.push([id, dropped]),
    };
    await n.engine.open(listener, { maxQueue: options.maxQueue ?? 1000, sweepInterval: options.sweepInterval ?? 60_000 });
    nodes.push(n);
    return n;
  }

  /** The bucket tag of a single Redis (one bucket). */
  const tag = (prefix: string): string => `{${prefix}:b0}`;

  /** Waits until `n`'s sweeper has run once more, start to end: a session that expires at once is reported removed. */
  async function sweptOnce(n: Node): Promise<void> {
    const marker = `marker${n.removed.length}-${Date.now()}`;
    await n.engine.createSession(marker, 0);
    await waitUntil(() => n.removed.some(([id]) => id === marker), 'a sweep to remove the marker session', 5000);
  }

  it('one publish to 300 subscribers appends ONE stream entry and queues nothing per session', async function () {
    const prefix = nextPrefix();
    const a = await node(prefix);
    const ids = Array.from({ length: 300 }, (_, k) => `s${k}`);
    for (const id of ids) {
      await a.engine.createSession(id, 60_000);
      expect(await a.engine.subscribe(id, ['/room/1'], 10)).to.equal('ok');
    }
    const T = tag(prefix);
    expect(await admin.hget(`${T}:subs`, '/room/1'), 'the log counts its subscribers').to.equal('300');
    expect(await a.engine.publish('/room/1', '"hello"')).to.equal(300);
    expect(await admin.xlen(`${T}:l:/room/1`), 'one entry in the log').to.equal(1);
    for (const pattern of ['/room/*', '/room/**', '/**']) expect(await admin.exists(`${T}:l:${pattern}`), `no log for ${pattern}`).to.equal(0);
    const queued = await Promise.all(ids.map((id) => admin.llen(`${T}:q:${id}`)));
    expect(queued.every((l) => l === 0), 'no per-session queue entries').to.equal(true);
    expect(await admin.keys(`${T}:m:*`), 'no stored payload copies').to.deep.equal([]);
    const taken = await Promise.all(ids.map((id) => a.engine.takeQueued(id)));
    expect(taken.every((m) => m !== null && m.length === 1 && m[0] === '"hello"'), 'every subscriber got it once').to.equal(true);
    expect(await a.engine.takeQueued('s0'), 'and only once').to.equal(null);
  });

  it('a session subscribed to /a/* and /a/b gets a publish on /a/b once', async function () {
    const a = await node(nextPrefix());
    await a.engine.createSession('s', 60_000);
    await a.engine.subscribe('s', ['/a/*', '/a/b'], 10);
    expect(await a.engine.publish('/a/b', '"both"')).to.equal(1);
    expect(await a.engine.publish('/a/c', '"star"')).to.equal(1);
    expect(await a.engine.publish('/a/b', '"again"')).to.equal(1);
    expect(await a.engine.takeQueued('s')).to.deep.equal(['"both"', '"star"', '"again"']);
    expect(await a.engine.takeQueued('s')).to.equal(null);
    // A take capped at maxQueue that ends on a publish in both logs moves both logs past it.
    const small = await node(nextPrefix(), { maxQueue: 3 });
    await small.engine.createSession('s', 60_000);
    await small.engine.subscribe('s', ['/a/*', '/a/b'], 10);
    await small.engine.deliver('s', '"d1"');
    await small.engine.deliver('s', '"d2"');
    await small.engine.publish('/a/b', '"p3"');
    await small.engine.publish('/a/b', '"p4"');
    expect(await small.engine.takeQueued('s')).to.deep.equal(['"d1"', '"d2"', '"p3"']);
    expect(await small.engine.takeQueued('s')).to.deep.equal(['"p4"']);
    expect(await small.engine.takeQueued('s')).to.equal(null);
    expect(small.overflows).to.deep.equal([]);
  });

  it('direct mail and log mail arrive in the order they were sent; requeued mail goes first', async function () {
    const a = await node(nextPrefix());
    await a.engine.createSession('s', 60_000);
    await a.engine.subscribe('s', ['/x', '/y/**'], 10);
    await a.engine.publish('/x', '"p1"');
    await a.engine.deliver('s', '"d1"');
    await a.engine.publish('/y/z', '"p2"');
    await a.engine.publish('/x', '"p3"');
    await a.engine.deliver('s', '"d2"');
    await a.engine.publish('/y/z', '"p4"');
    const taken = (await a.engine.takeQueued('s'))!;
    expect([...taken]).to.deep.equal(['"p1"', '"d1"', '"p2"', '"p3"', '"d2"', '"p4"']);
    // The response carrying them was lost before the write: they go back in front of newer mail.
    await a.engine.publish('/x', '"p5"');
    await a.engine.deliver('s', '"d3"');
    await a.engine.requeue('s', taken);
    expect(await a.engine.takeQueued('s')).to.deep.equal(['"p1"', '"d1"', '"p2"', '"p3"', '"d2"', '"p4"', '"p5"', '"d3"']);
  });

  it('a slow session gets the newest maxQueue messages and a report of exactly how many it lost; a take returns at most maxQueue', async function () {
    const prefix = nextPrefix();
    const maxQueue = 20;
    const a = await node(prefix, { maxQueue });
    await a.engine.createSession('slow', 60_000);
    await a.engine.createSession('quick', 60_000);
    await a.engine.subscribe('slow', ['/busy'], 10);
    await a.engine.subscribe('quick', ['/busy'], 10);
    const quick: string[] = [];
    for (let i = 1; i <= maxQueue + 50; i++) {
      expect(await a.engine.publish('/busy', String(i))).to.equal(2);
      quick.push(...((await a.engine.takeQueued('quick')) ?? []));
    }
    expect(quick, 'a session that keeps up loses nothing').to.deep.equal(Array.from({ length: maxQueue + 50 }, (_, k) => String(k + 1)));
    expect(await admin.xlen(`${tag(prefix)}:l:/busy`), 'the log is trimmed to maxQueue').to.equal(maxQueue);
    expect(a.overflows, 'nothing reported before the slow session reads').to.deep.equal([]);
    const got = await a.engine.takeQueued('slow');
    expect(got).to.deep.equal(Array.from({ length: maxQueue }, (_, k) => String(k + 51)));
    expect(a.overflows).to.deep.equal([['slow', 50]]);
    expect(await a.engine.takeQueued('slow')).to.equal(null);
    expect(a.overflows, 'reported once').to.deep.equal([['slow', 50]]);

    // Log mail and direct mail together beyond maxQueue: one take returns maxQueue, in
    // order, the next the rest; nothing is lost (positions move only over what was taken).
    for (let i = 1; i <= maxQueue; i++) await a.engine.publish('/busy', `"p${i}"`);
    for (let i = 1; i <= 5; i++) await a.engine.deliver('slow', `"d${i}"`);
    const first = (await a.engine.takeQueued('slow'))!;
    expect([...first]).to.deep.equal(Array.from({ length: maxQueue }, (_, k) => `"p${k + 1}"`));
    expect(await a.engine.takeQueued('slow')).to.deep.equal(['"d1"', '"d2"', '"d3"', '"d4"', '"d5"']);
    expect(a.overflows, 'no further drop').to.have.length(1);
  });

  it('the sweeper trims the entries every subscriber has read, and no further', async function () {
    const prefix = nextPrefix();
    const a = await node(prefix, { sweepInterval: 20 });
    const log = `${tag(prefix)}:l:/t`;
    for (const id of ['r1', 'r2', 'r3']) {
      await a.engine.createSession(id, 60_000);
      await a.engine.subscribe(id, ['/t'], 10);
    }
    for (let i = 0; i < 10; i++) await a.engine.publish('/t', String(i));
    expect(await admin.xlen(log)).to.equal(10);
    await a.engine.takeQueued('r1');
    await a.engine.takeQueued('r2');
    await sweptOnce(a);
    expect(await admin.xlen(log), 'r3 has read nothing yet').to.equal(10);
    expect(await a.engine.takeQueued('r3')).to.have.length(10);
    for (let i = 10; i < 15; i++) await a.engine.publish('/t', String(i));
    await a.engine.takeQueued('r1');
    await sweptOnce(a);
    expect(await admin.xlen(log), 'the 10 all have read go; r2 and r3 still need the last 5').to.equal(5);
    await a.engine.takeQueued('r2');
    await a.engine.takeQueued('r3');
    await waitUntil(async () => (await admin.xlen(log)) === 0, 'the sweeper to trim the log to nothing', 5000);
    expect(a.overflows, 'the trim never drops unread entries').to.deep.equal([]);
  });

  it('keeps per-publisher order across three engines on one Redis', async function () {
    this.timeout(60_000);
    const prefix = nextPrefix();
    const engines = [await node(prefix), await node(prefix), await node(prefix)];
    const ids = Array.from({ length: 30 }, (_, k) => `o${k}`);
    for (const [k, id] of ids.entries()) {
      const e = engines[k % 3]!.engine;
      await e.createSession(id, 60_000);
      // Exact, wildcard, and both (a publish matched twice is taken once).
      await e.subscribe(id, k % 3 === 0 ? ['/order/x'] : k % 3 === 1 ? ['/order/*'] : ['/order/x', '/order/**'], 10);
    }
    const perPublisher = 100;
    const received = new Map<string, { p: number; i: number }[]>(ids.map((id) => [id, []]));
    let publishing = true;
    // Takers: every session takes through the engines in turn while the publishes go on.
    const takers = ids.map(async (id, k) => {
      let turn = k;
      for (;;) {
        const m = await engines[turn++ % 3]!.engine.takeQueued(id);
        if (m) for (const s of m) received.get(id)!.push(JSON.parse(s) as { p: number; i: number });
        else if (!publishing && received.get(id)!.length === 3 * perPublisher) return;
        else await new Promise((r) => setImmediate(r));
      }
    });
    // Publishers: each engine publishes in order; the three interleave.
    const publishers = engines.map(async (n, p) => {
      const inFlight: Promise<number>[] = [];
      for (let i = 0; i < perPublisher; i++) {
        const sent = n.engine.publish('/order/x', JSON.stringify({ p, i }));
        // Every other one awaited: the others overlap with the next (same connection, in order).
        if (i % 2 === 0) expect(await sent).to.equal(ids.length);
        else inFlight.push(sent);
      }
      expect(await Promise.all(inFlight)).to.deep.equal(inFlight.map(() => ids.length));
    });
    await Promise.all(publishers);
    publishing = false;
    await Promise.race([
      Promise.all(takers),
      new Promise((_, reject) => setTimeout(() => reject(new Error('not every session received all 300 within 30 s')), 30_000).unref()),
    ]);
    for (const id of ids) {
      const got = received.get(id)!;
      expect(got, id).to.have.length(3 * perPublisher);
      for (let p = 0; p < 3; p++) {
        const order = got.filter((m) => m.p === p).map((m) => m.i);
        expect(order, `${id}: publisher ${p}, strictly increasing and complete`).to.deep.equal(Array.from({ length: perPublisher }, (_, i) => i));
      }
    }
  });

  it('unsubscribe stops delivery and counts the subscriber out; the last one takes the log with it', async function () {
    const prefix = nextPrefix();
    const T = tag(prefix);
    const a = await node(prefix);
    for (const id of ['u1', 'u2', 'u3']) {
      await a.engine.createSession(id, 60_000);
      await a.engine.subscribe(id, ['/u'], 10);
    }
    expect(await admin.hget(`${T}:subs`, '/u')).to.equal('3');
    expect(await admin.hget(a.engine.sessionKey('u1'), 'c:/u'), 'a position per subscription').to.match(/^\d+ \d+$/);
    expect(await a.engine.publish('/u', '"all"')).to.equal(3);
    expect(await a.engine.unsubscribe('u1', ['/u'])).to.equal(true);
    expect(await admin.hget(`${T}:subs`, '/u')).to.equal('2');
    expect(await admin.hexists(a.engine.sessionKey('u1'), 'c:/u'), 'the position goes with it').to.equal(0);
    expect(await a.engine.publish('/u', '"two"')).to.equal(2);
    expect(await a.engine.takeQueued('u1'), 'nothing after the unsubscribe').to.equal(null);
    expect(await a.engine.takeQueued('u2')).to.deep.equal(['"all"', '"two"']);
    expect(await a.engine.destroySession('u2', 'disconnect')).to.equal(true);
    expect(await admin.hget(`${T}:subs`, '/u'), 'a destroyed session counts out too').to.equal('1');
    expect(await a.engine.publish('/u', '"one"')).to.equal(1);
    expect(await a.engine.unsubscribe('u3', ['/u'])).to.equal(true);
    expect(await admin.hexists(`${T}:subs`, '/u')).to.equal(0);
    expect(await admin.exists(`${T}:l:/u`), 'the log went with its last subscriber').to.equal(0);
    expect(await a.engine.publish('/u', '"none"')).to.equal(0);
    expect(await admin.exists(`${T}:l:/u`), 'a publish nobody hears appends nothing').to.equal(0);
    // Subscribing again starts at the end of the log: nothing from before.
    await a.engine.subscribe('u3', ['/u'], 10);
    expect(await a.engine.takeQueued('u3')).to.equal(null);
    expect(await a.engine.publish('/u', '"back"')).to.equal(1);
    expect(await a.engine.takeQueued('u3')).to.deep.equal(['"back"']);
  });

  it('an expired session counts out of its logs', async function () {
    const prefix = nextPrefix();
    const T = tag(prefix);
    const a = await node(prefix, { sweepInterval: 20 });
    await a.engine.createSession('stays', 60_000);
    await a.engine.subscribe('stays', ['/e'], 10);
    await a.engine.createSession('goes', 500);
    await a.engine.subscribe('goes', ['/e', '/only/**'], 10);
    expect(await admin.hget(`${T}:subs`, '/e')).to.equal('2');
    await waitUntil(() => a.removed.some(([id]) => id === 'goes'), 'the sweep to remove the session', 5000);
    expect(await admin.hget(`${T}:subs`, '/e')).to.equal('1');
    expect(await admin.hexists(`${T}:subs`, '/only/**')).to.equal(0);
    expect(await a.engine.publish('/e', '"m"')).to.equal(1);
  });
});
