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
 *
 * Step 2 (process reads): a publish sends one notice per log, not per session, and each
 * process reads a log once for all the sessions it holds (counted with MONITOR); the races
 * between holds, subscriptions and notices, made to happen every time with a relay that
 * holds bytes back (spec/support/stalling-relay.ts); two processes holding one session;
 * overlapping subscriptions; streaming and long-polling holds.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { EngineListener, SessionRemovedReason } from '../engine.js';
import { keysOverlap } from '../lib/engines/redis/keys-overlap.js';
import { LOG_SCRIPTS } from '../lib/engines/redis/log-scripts.js';
import { RedisEngine } from '../lib/engines/redis/redis-engine.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { StallingRelay, closeAllStallingRelays } from './support/stalling-relay.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { FayeClient, closeAllFayeClients } from './support/faye-client.js';
import { startWsServer, stopAllWsServers } from './support/websocket-server.js';
import { waitUntil } from './support/wait.js';

let server: RedisServer;
let prefixes = 0;
const nextPrefix = (): string => `lg${process.pid}x${++prefixes}`;

interface Node {
  engine: RedisEngine;
  wakes: string[];
  removed: [string, SessionRemovedReason][];
  overflows: [string, number][];
  /** Called after each wake is recorded (a spec acting as the core). */
  onWake?: (id: string) => void;
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
    await closeAllStallingRelays();
  });

  async function node(prefix: string, options: { maxQueue?: number; sweepInterval?: number; url?: string } = {}): Promise<Node> {
    const n: Node = { engine: new RedisEngine({ url: options.url ?? server.url, prefix, fanout: 'logs' }), wakes: [], removed: [], overflows: [] };
    const listener: EngineListener = {
      wake: (id) => {
        n.wakes.push(id);
        n.onWake?.(id);
      },
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

  describe('notices per log and process reads (step 2)', function () {
    /** Creates a session subscribed to `channels` and leaves its connect held by `n`. */
    async function hold(n: Node, id: string, channels: string[]): Promise<void> {
      await n.engine.createSession(id, 60_000);
      expect(await n.engine.subscribe(id, channels, 10)).to.equal('ok');
      await n.engine.beginConnect(id, true);
      await n.engine.endConnect(id, 60_000, false);
      expect((await n.engine.beginConnect(id, true))?.held, `${id} held`).to.equal(true);
    }

    /** Every command Redis ran while `fn` ran (MONITOR), scripts' own commands included (source 'lua'). */
    async function commandsDuring(fn: () => Promise<void>): Promise<{ source: string; args: string[] }[]> {
      const monitorBase = server.client();
      const monitor = await monitorBase.monitor();
      monitorBase.disconnect(); // monitor() opened its own connection
      const seen: { source: string; args: string[] }[] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ source, args }));
      try {
        await admin.ping('mark-start');
        await waitUntil(() => seen.some((c) => c.args[1] === 'mark-start'), 'MONITOR to see the start mark');
        seen.length = 0;
        await fn();
        await admin.ping('mark-end');
        await waitUntil(() => seen.some((c) => c.args[1] === 'mark-end'), 'MONITOR to see the end mark');
      } finally {
        monitor.disconnect();
      }
      return seen;
    }

    const named = <C extends { args: string[] }>(cmds: C[], name: string): C[] => cmds.filter((c) => c.args[0]!.toLowerCase() === name);

    it('keysOverlap: two subscription keys can match a common channel', function () {
      const yes: [string, string][] = [
        ['/a/b', '/a/b'],
        ['/a/*', '/a/b'],
        ['/a/**', '/a/b/c'],
        ['/a/*', '/a/**'],
        ['/**', '/x/y'],
        ['/a/**', '/a/b/**'],
        ['/a/b/*', '/a/**'],
        ['/*', '/**'],
      ];
      const no: [string, string][] = [
        ['/a/b', '/a/c'],
        ['/a/*', '/a/b/c'],
        ['/a/*', '/b/*'],
        ['/a/*', '/a/b/**'],
        ['/a/**', '/a'],
        ['/a/b/*', '/a/c/**'],
        ['/*', '/a/b'],
        ['/a', '/a/*'],
      ];
      for (const [a, b] of yes) {
        expect(keysOverlap(a, b), `${a} and ${b}`).to.equal(true);
        expect(keysOverlap(b, a), `${b} and ${a}`).to.equal(true);
      }
      for (const [a, b] of no) {
        expect(keysOverlap(a, b), `${a} and ${b}`).to.equal(false);
        expect(keysOverlap(b, a), `${b} and ${a}`).to.equal(false);
      }
    });

    it('a publish to 300 held subscribers on 3 processes sends one notice per log, and each process reads each log once', async function () {
      const prefix = nextPrefix();
      const T = tag(prefix);
      const [a, b, c, idle] = [await node(prefix), await node(prefix), await node(prefix), await node(prefix)];
      const holders = [a, b, c];
      const ids = Array.from({ length: 300 }, (_, k) => `m${k}`);
      for (const [k, id] of ids.entries()) await hold(holders[k % 3]!, id, [k % 2 ? '/many/**' : '/many/x']);
      for (const n of nodes) await n.engine.barrier();
      for (const n of nodes) n.wakes.length = 0;
      expect(a.engine.noticeChannels.sort(), 'a process listens once per log').to.deep.equal([`${T}:l:/many/**`, `${T}:l:/many/x`]);

      const taken = new Map<string, string[]>();
      const cmds = await commandsDuring(async () => {
        expect(await idle.engine.publish('/many/x', '"burst"')).to.equal(300);
        await waitUntil(() => a.wakes.length + b.wakes.length + c.wakes.length >= 300, 'every held session to be woken');
        // Each process answers its woken holds, as the core does: a take that ends each one.
        await Promise.all(
          holders.map(async (n) => {
            const got = await Promise.all(n.wakes.map((id) => n.engine.takeAndEnd(id, 60_000)));
            n.wakes.forEach((id, k) => taken.set(id, [...(got[k] ?? [])]));
          }),
        );
      });
      for (const n of nodes) await n.engine.barrier();
      expect(idle.wakes, 'a process holding no subscriber is not woken').to.deep.equal([]);
      for (const n of holders) expect(n.wakes.sort()).to.deep.equal(ids.filter((_, k) => holders[k % 3] === n).sort());
      expect(ids.every((id) => taken.get(id)?.length === 1 && taken.get(id)![0] === '"burst"'), 'each got the message once').to.equal(true);

      const publishes = named(cmds, 'publish').filter((p) => p.args[1]!.startsWith(`${T}:l:`));
      expect(publishes.map((p) => p.args[1]).sort(), 'one notice per log appended to').to.deep.equal([`${T}:l:/many/**`, `${T}:l:/many/x`]);
      expect(
        named(cmds, 'publish').filter((p) => p.source === 'lua'),
        'no other notice from a script (no wake per holding process)',
      ).to.have.length(2);
      const xranges = named(cmds, 'xrange');
      for (const log of ['/many/x', '/many/**']) {
        const reads = xranges.filter((x) => x.args[1] === `${T}:l:${log}`).length;
        expect(reads, `reads of ${log}: at most one per process, not one per session`).to.be.within(1, holders.length);
      }
      // Each process's read calls (lxRead, by its SHA-1), by connection: one or two (both logs at once, or one each).
      const readSha = createHash('sha1').update(LOG_SCRIPTS.lxRead[1]).digest('hex');
      const readsBy = new Map<string, number>();
      for (const e of named(cmds, 'evalsha').filter((e) => e.args[1] === readSha)) readsBy.set(e.source, (readsBy.get(e.source) ?? 0) + 1);
      expect(readsBy.size, 'every holding process read').to.equal(holders.length);
      for (const [source, n] of readsBy) expect(n, `read calls from ${source}`).to.be.at.most(2);
      expect(named(cmds, 'smembers'), "the publish looks at no subscriber's session").to.deep.equal([]);
      // The holds ended with the takes, and the positions moved over the message.
      for (const id of ['m0', 'm1', 'm2']) {
        const [h, pos] = await admin.hmget(a.engine.sessionKey(id), 'h', `c:${id === 'm1' ? '/many/**' : '/many/x'}`);
        expect(h, `${id} no longer held`).to.equal('');
        expect(pos).to.match(/^\d+ 1$/);
      }
      expect(await a.engine.beginConnect('m0', true), 'nothing taken twice').to.deep.equal({ first: false, messages: null, held: true });
    });

    it('a session subscribing while held on another process gets the next publish at once', async function () {
      const prefix = nextPrefix();
      const T = tag(prefix);
      const [a, b] = [await node(prefix), await node(prefix)];
      await hold(a, 's', ['/first']);
      await a.engine.barrier();
      // Subscribed through process b while a holds the connect: b's script tells a.
      expect(await b.engine.subscribe('s', ['/late'], 10)).to.equal('ok');
      expect(await b.engine.publish('/late', '"late"')).to.equal(1);
      await waitUntil(() => a.wakes.includes('s'), 'the holder to be woken for the new subscription');
      expect(a.engine.noticeChannels).to.include(`${T}:l:/late`);
      expect(await a.engine.takeAndEnd('s', 60_000)).to.deep.equal(['"late"']);
      await b.engine.barrier();
      expect(b.wakes, 'b holds nothing').to.deep.equal([]);
    });

    it('a publish racing the hold (before the notice subscription is active) is delivered at once', async function () {
      const prefix = nextPrefix();
      const T = tag(prefix);
      const relay = await StallingRelay.start(server.port);
      const a = await node(prefix, { url: relay.url });
      const b = await node(prefix);
      const subscriber = relay.connectionThatSent('subscribe');
      await a.engine.createSession('s', 60_000);
      await a.engine.subscribe('s', ['/race'], 10);
      await a.engine.beginConnect('s', true);
      await a.engine.endConnect('s', 60_000, false);
      // a's SUBSCRIBE to the log's notices is held back on its way to Redis.
      subscriber.stall('up');
      expect((await a.engine.beginConnect('s', true))?.held).to.equal(true);
      await waitUntil(() => subscriber.sent.includes(`${T}:l:/race`), 'a to ask for the notices of /race');
      expect(await admin.pubsub('NUMSUB', `${T}:l:/race`), 'nobody listens to the log yet').to.deep.equal([`${T}:l:/race`, 0]);
      expect(await b.engine.publish('/race', '"raced"')).to.equal(1);
      subscriber.release('up');
      await waitUntil(() => a.wakes.includes('s'), 'the hold to be woken by the read that follows the SUBSCRIBE');
      expect(await a.engine.takeAndEnd('s', 60_000)).to.deep.equal(['"raced"']);
    });

    it('a notice that overtakes the reply making the hold is not missed', async function () {
      const prefix = nextPrefix();
      const T = tag(prefix);
      const relay = await StallingRelay.start(server.port);
      const a = await node(prefix, { url: relay.url });
      const b = await node(prefix);
      // A first hold makes a listen to /over's notices; it ends, and a keeps listening a while.
      await hold(a, 's', ['/over']);
      await a.engine.barrier();
      expect(await a.engine.endConnect('s', 60_000, false)).to.deep.equal([]);
      expect(a.engine.noticeChannels).to.deep.equal([`${T}:l:/over`]);
      const commands = relay.connectionThatSent('eval');
      const subscriber = relay.connections.find((c) => c !== commands)!;
      // The next hold is made in Redis, but its reply is held back; the publish's notice arrives first.
      commands.stall('down');
      const held = a.engine.beginConnect('s', true);
      await waitUntil(async () => (await admin.hget(a.engine.sessionKey('s'), 'h')) === a.engine.processId, 'the hold to be made in Redis');
      const before = subscriber.received.length;
      expect(await b.engine.publish('/over', '"first"')).to.equal(1);
      await waitUntil(() => subscriber.received.slice(before).includes(`${T}:l:/over`), 'the notice to reach a');
      await new Promise((r) => setImmediate(r));
      commands.release('down');
      expect((await held)?.held).to.equal(true);
      await waitUntil(() => a.wakes.includes('s'), 's to be woken: the log is past its hold');
      expect(await a.engine.takeAndEnd('s', 60_000)).to.deep.equal(['"first"']);
    });

    it('two processes holding one session (a newer connect on another process) never deliver a message twice or lose one', async function () {
      this.timeout(60_000);
      const prefix = nextPrefix();
      const [a, b, pub] = [await node(prefix), await node(prefix), await node(prefix)];
      const got: string[] = [];
      const pair = [a, b];
      let turn = 0;
      let cycling = Promise.resolve();
      /** The client's next connect, through the other process; until it holds. */
      const connectAgain = async (id: string): Promise<void> => {
        for (;;) {
          const next = pair[++turn % 2]!;
          const r = await next.engine.beginConnect(id, true);
          if (r?.held) return;
          got.push(...(r?.messages ?? []));
          await next.engine.endConnect(id, 60_000, false);
        }
      };
      // As the core does on a wake: take and end the hold; with mail, the client connects
      // again, through the other process; every other time a newer connect follows through
      // the first one while the other still holds (both have it registered, one holds it).
      const onWake = (n: Node) => async (id: string) => {
        const m = await n.engine.takeAndEnd(id, 60_000);
        if (!m) return;
        got.push(...m);
        await connectAgain(id);
        if (turn % 2 === 1) await connectAgain(id);
      };
      for (const n of pair) {
        const wake = onWake(n);
        n.onWake = (id) => void (cycling = cycling.then(() => wake(id)));
      }
      await hold(a, 's', ['/two']);
      // A newer connect through b while a still holds (a learns of it only from Redis).
      expect((await b.engine.beginConnect('s', true))?.held).to.equal(true);
      const total = 200;
      for (let i = 0; i < total; i++) {
        expect(await pub.engine.publish('/two', String(i))).to.equal(1);
        await new Promise((r) => setTimeout(r, 1));
      }
      await waitUntil(
        async () => {
          await cycling;
          return got.length >= total;
        },
        `all ${total} messages (got ${got.length})`,
        20_000,
      );
      await cycling;
      expect(got, 'each once, in order').to.deep.equal(Array.from({ length: total }, (_, i) => String(i)));
      // Nothing left behind either.
      await a.engine.barrier();
      await b.engine.barrier();
      await cycling;
      expect(await pub.engine.endConnect('s', 60_000, true)).to.deep.equal([]);
    });

    it('overlapping subscriptions (/o/* and /o/b) on a held session still deliver once', async function () {
      const a = await node(nextPrefix());
      await hold(a, 's', ['/o/*', '/o/b']);
      await hold(a, 'plain', ['/o/b']);
      await a.engine.barrier();
      for (const p of ['"b1"', '"b2"']) expect(await a.engine.publish('/o/b', p)).to.equal(2);
      expect(await a.engine.publish('/o/c', '"c1"')).to.equal(1);
      await a.engine.barrier();
      expect(a.wakes).to.include('s');
      expect(await a.engine.takeAndEnd('s', 60_000)).to.deep.equal(['"b1"', '"b2"', '"c1"']);
      expect(await a.engine.takeAndEnd('plain', 60_000)).to.deep.equal(['"b1"', '"b2"']);
      expect(await a.engine.endConnect('s', 60_000, true)).to.deep.equal([]);
    });

    it('a held session with acknowledged delivery is woken by a publish and takes its mail itself, numbered', async function () {
      const a = await node(nextPrefix());
      await a.engine.createSession('s', 60_000);
      expect(await a.engine.enableAcknowledgement('s')).to.equal(true);
      await a.engine.subscribe('s', ['/ack'], 10);
      await a.engine.beginConnect('s', true);
      await a.engine.endConnect('s', 60_000, false);
      expect((await a.engine.beginConnect('s', true))?.held).to.equal(true);
      // Mail never rides on other responses for it, and that changes nothing for the hold.
      expect(await a.engine.takeQueued('s', true)).to.equal(null);
      await a.engine.barrier();
      expect(await a.engine.publish('/ack', '"m1"')).to.equal(1);
      await a.engine.barrier();
      expect(a.wakes).to.deep.equal(['s']);
      const m = (await a.engine.takeAndEnd('s', 60_000))!;
      expect([...m]).to.deep.equal(['"m1"']);
      expect(m.batch).to.equal(1);
    });

    it('a streaming hold stays held while its positions are committed; a long poll ends with its take; unneeded notices stop', async function () {
      const prefix = nextPrefix();
      const a = await node(prefix, { sweepInterval: 20 });
      const b = await node(prefix);
      await hold(a, 'stream', ['/st']);
      await hold(a, 'poll', ['/st']);
      await a.engine.barrier();
      const streamed: string[] = [];
      for (let round = 1; round <= 3; round++) {
        a.wakes.length = 0;
        expect(await b.engine.publish('/st', `"r${round}a"`)).to.equal(2);
        expect(await b.engine.publish('/st', `"r${round}b"`)).to.equal(2);
        await a.engine.barrier();
        expect(a.wakes).to.include('stream');
        // A stream's take: the hold goes on.
        streamed.push(...((await a.engine.takeQueued('stream')) ?? []));
        expect(await admin.hget(a.engine.sessionKey('stream'), 'h'), 'still held').to.equal(a.engine.processId);
      }
      expect(streamed).to.deep.equal(['"r1a"', '"r1b"', '"r2a"', '"r2b"', '"r3a"', '"r3b"']);
      const [, n] = (await admin.hget(a.engine.sessionKey('stream'), 'c:/st'))!.split(' ');
      expect(n, 'the position moved over all six').to.equal('6');
      // The long poll: one take of everything, and the hold ends in Redis.
      expect(await a.engine.takeAndEnd('poll', 60_000)).to.deep.equal(streamed);
      expect(await admin.hget(a.engine.sessionKey('poll'), 'h')).to.equal('');
      expect(await a.engine.endConnect('stream', 60_000, true), 'nothing taken twice').to.deep.equal([]);
      // No held session needs /st any more: its notices stop.
      await waitUntil(() => a.engine.noticeChannels.length === 0, 'the notice subscription to go', 5000);
      await waitUntil(async () => ((await admin.pubsub('NUMSUB', `${tag(prefix)}:l:/st`)) as [string, number])[1] === 0, 'Redis to see it go');
    });

    it('real clients through two servers: long-polling (Faye, CometD) and WebSocket (Faye) get every message once, in order', async function () {
      this.timeout(60_000);
      const prefix = nextPrefix();
      const engine = (): RedisEngine => new RedisEngine({ url: server.url, prefix, fanout: 'logs' });
      const [a, b] = [await startWsServer({ engine: engine(), timeout: 2000 }), await startWsServer({ engine: engine(), timeout: 2000 })];
      try {
        const clients = [
          { name: 'Faye long-polling on A', client: new FayeClient(a.url), channel: '/live/*' },
          { name: 'Faye WebSocket on B', client: new FayeClient(b.url, {}, { transport: 'websocket' }), channel: '/live/x' },
        ];
        const got = new Map<string, { p: string; i: number }[]>();
        for (const c of clients) {
          got.set(c.name, []);
          await c.client.subscribe(c.channel, (m) => got.get(c.name)!.push(m.data as { p: string; i: number }));
        }
        const cometd = new CometDClient(b.url);
        got.set('CometD long-polling on B', []);
        await cometd.handshake();
        await cometd.subscribe('/live/**', (m) => got.get('CometD long-polling on B')!.push(m.data as { p: string; i: number }));
        const perServer = 150;
        for (let i = 0; i < perServer; i++) {
          for (const [p, s] of [['A', a], ['B', b]] as const) expect(await s.bayeux.publish('/live/x', { p, i })).to.equal(3);
          if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
        }
        await waitUntil(() => [...got.values()].every((l) => l.length >= 2 * perServer), 'every client to get every message', 30_000);
        expect(clients[1]!.client.connectionType).to.equal('websocket');
        for (const [name, list] of got) {
          expect(list, name).to.have.length(2 * perServer);
          for (const p of ['A', 'B']) {
            expect(
              list.filter((m) => m.p === p).map((m) => m.i),
              `${name}: from ${p}, once each and in order`,
            ).to.deep.equal(Array.from({ length: perServer }, (_, i) => i));
          }
        }
      } finally {
        await closeAllFayeClients();
        await closeAllCometDClients();
        await stopAllWsServers();
      }
    });
  });
});
