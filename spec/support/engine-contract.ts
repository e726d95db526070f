/**
 * The Engine contract, as specs every engine must pass: sessions, the connect cycle
 * (first / held / mail), requeue ordering, publish fan-out (union, exclude), limits,
 * cluster events and the expiry sweep. `engineContract(name, makeEngine)` defines the suite for one engine.
 *
 * Notices an engine sends its listener may be asynchronous (the Redis engine gets wakes
 * over pub/sub): before asserting on them, a spec awaits `settle()`, which waits for an
 * engine's `barrier()` when it has one (every notice sent before it has arrived).
 */
import { expect } from 'chai';
import type { ClusterEvent, Engine, EngineListener, SessionRemovedReason } from '../../engine.js';

interface Recorded {
  wakes: string[];
  removed: [string, SessionRemovedReason][];
  overflows: [string, number][];
  events: ClusterEvent[];
}

/** What the contract needs to run against one engine. */
export interface ContractTarget {
  /**
   * A fresh, unopened engine with no sessions (called once per test, or more), reporting
   * cluster events (the Redis engine needs `clusterEvents: true`).
   */
  makeEngine(): Engine | Promise<Engine>;
}

type WithBarrier = Engine & { barrier?: () => Promise<void> };

export function engineContract(name: string, target: ContractTarget): void {
  describe(`${name}: engine contract`, function () {
    let engine: WithBarrier;
    let seen: Recorded;
    let onRemoved: (() => void) | null;

    async function open(maxQueue = 100, sweepInterval = 10): Promise<void> {
      seen = { wakes: [], removed: [], overflows: [], events: [] };
      onRemoved = null;
      const listener: EngineListener = {
        wake: (id) => seen.wakes.push(id),
        sessionRemoved: (id, reason) => {
          seen.removed.push([id, reason]);
          onRemoved?.();
        },
        queueOverflow: (id, n) => seen.overflows.push([id, n]),
        clusterEvent: (e) => {
          seen.events.push(e);
          onRemoved?.();
        },
      };
      engine = await target.makeEngine();
      await engine.open(listener, { maxQueue, sweepInterval });
    }

    /** Every notice the engine sent so far has reached the listener. */
    async function settle(): Promise<void> {
      await engine.barrier?.();
    }

    /** Resolves when the sweep has removed `n` sessions in all, or fails after `limitMs`. */
    function removals(n: number, limitMs = 10_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (seen.removed.length < n) return false;
          clearTimeout(timer);
          onRemoved = null;
          resolve();
          return true;
        };
        const timer = setTimeout(() => reject(new Error(`${seen.removed.length} of ${n} sessions removed within ${limitMs} ms`)), limitMs);
        if (!check()) onRemoved = () => void check();
      });
    }

    beforeEach(async function () {
      await open();
    });
    afterEach(async function () {
      await engine.close();
    });

    describe('sessions', function () {
      it('create, has, count, destroy', async function () {
        await engine.createSession('s1', 10_000);
        await engine.createSession('s2', 10_000);
        expect(await engine.hasSession('s1')).to.equal(true);
        expect(await engine.sessionCount()).to.equal(2);
        expect(await engine.destroySession('s1', 'disconnect')).to.equal(true);
        expect(await engine.destroySession('s1', 'disconnect')).to.equal(false);
        expect(await engine.hasSession('s1')).to.equal(false);
        expect(await engine.sessionCount()).to.equal(1);
        // Destroying is the caller's decision: the engine does not report it back as a removal.
        await settle();
        expect(seen.removed).to.deep.equal([]);
      });

      it('every call on an unknown session says so', async function () {
        expect(await engine.beginConnect('nope', true)).to.equal(null);
        expect(await engine.endConnect('nope', 1000, true)).to.equal(null);
        expect(await engine.takeQueued('nope')).to.equal(null);
        expect(await engine.subscribe('nope', ['/a'], 10)).to.equal('unknown-session');
        expect(await engine.unsubscribe('nope', ['/a'])).to.equal(false);
        expect(await engine.subscriptions('nope')).to.equal(null);
        expect(await engine.deliver('nope', '{}')).to.equal(false);
        await engine.requeue('nope', ['x']); // no throw, nothing created
        expect(await engine.hasSession('nope')).to.equal(false);
      });

      it('destroying a session removes its subscriptions and queue', async function () {
        await engine.createSession('s', 10_000);
        await engine.subscribe('s', ['/a', '/b/**'], 10);
        await engine.deliver('s', 'm');
        await engine.destroySession('s', 'server');
        expect(await engine.publish('/a', 'p')).to.equal(0);
        expect(await engine.publish('/b/c', 'p')).to.equal(0);
        await engine.createSession('s', 10_000); // same id again starts clean
        expect(await engine.takeQueued('s')).to.equal(null);
        expect(await engine.subscriptions('s')).to.deep.equal([]);
      });
    });

    describe('connect cycle', function () {
      beforeEach(async function () {
        await engine.createSession('s', 10_000);
      });

      it('the first connect is never held, even when asked to hold', async function () {
        expect(await engine.beginConnect('s', true)).to.deep.equal({ first: true, messages: null, held: false });
      });

      it('the first connect takes mail queued since the handshake', async function () {
        await engine.deliver('s', 'early');
        expect(await engine.beginConnect('s', true)).to.deep.equal({ first: true, messages: ['early'], held: false });
        expect(await engine.takeQueued('s')).to.equal(null);
      });

      it('a later connect with nothing queued is held when asked; mail then wakes the holder', async function () {
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 10_000, false);
        expect(await engine.beginConnect('s', true)).to.deep.equal({ first: false, messages: null, held: true });
        await engine.subscribe('s', ['/a'], 10);
        expect(await engine.publish('/a', 'm1')).to.equal(1);
        expect(await engine.deliver('s', 'm2')).to.equal(true);
        await settle();
        expect(seen.wakes).to.deep.equal(['s', 's']);
        expect(await engine.takeQueued('s')).to.deep.equal(['m1', 'm2']);
      });

      it('a later connect not asked to hold is answered empty', async function () {
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 10_000, false);
        expect(await engine.beginConnect('s', false)).to.deep.equal({ first: false, messages: null, held: false });
      });

      it('a later connect with mail takes it instead of holding', async function () {
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 10_000, false);
        await engine.deliver('s', 'a');
        await engine.deliver('s', 'b');
        expect(await engine.beginConnect('s', true)).to.deep.equal({ first: false, messages: ['a', 'b'], held: false });
        await settle();
        expect(seen.wakes, 'nobody was holding').to.deep.equal([]);
      });

      it('endConnect with take returns the queue and ends the hold; without take the mail stays', async function () {
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 10_000, false);
        await engine.beginConnect('s', true);
        await engine.deliver('s', 'x');
        expect(await engine.endConnect('s', 10_000, true)).to.deep.equal(['x']);
        expect(await engine.endConnect('s', 10_000, true)).to.deep.equal([]);
        await engine.deliver('s', 'y');
        await settle();
        expect(seen.wakes, 'no wake once the hold ended').to.deep.equal(['s']);
        expect(await engine.endConnect('s', 10_000, false)).to.deep.equal([]);
        expect(await engine.takeQueued('s')).to.deep.equal(['y']);
      });

      it("arrays returned to the caller are the caller's: changing one affects nothing else", async function () {
        await engine.createSession('t', 10_000);
        const a = (await engine.endConnect('s', 10_000, true))!;
        a.push('junk');
        expect(await engine.endConnect('t', 10_000, true)).to.deep.equal([]);
        expect(await engine.endConnect('s', 10_000, true)).to.deep.equal([]);
      });

      it('requeue puts messages back in front, in order, and wakes a holder', async function () {
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 10_000, false);
        await engine.deliver('s', 'c');
        const taken = (await engine.takeQueued('s'))!;
        await engine.deliver('s', 'd');
        await engine.requeue('s', ['a', 'b', ...taken]);
        expect(await engine.takeQueued('s')).to.deep.equal(['a', 'b', 'c', 'd']);
        await engine.beginConnect('s', true);
        await engine.requeue('s', ['back']);
        await settle();
        expect(seen.wakes).to.deep.equal(['s']);
        expect(await engine.takeQueued('s')).to.deep.equal(['back']);
        await engine.requeue('s', []);
        expect(await engine.takeQueued('s')).to.equal(null);
      });

      it("requeue does not keep a reference to the caller's array", async function () {
        const mine = ['a'];
        const done = engine.requeue('s', mine);
        mine.push('later');
        await done;
        expect(await engine.takeQueued('s')).to.deep.equal(['a']);
      });
    });

    describe('publish', function () {
      beforeEach(async function () {
        for (const id of ['s1', 's2', 's3']) await engine.createSession(id, 10_000);
      });

      it('one copy per session across exact and wildcard subscriptions', async function () {
        await engine.subscribe('s1', ['/a/b', '/a/*', '/a/**', '/**'], 10);
        await engine.subscribe('s2', ['/a/*'], 10);
        expect(await engine.publish('/a/b', 'p')).to.equal(2);
        expect(await engine.takeQueued('s1')).to.deep.equal(['p']);
        expect(await engine.takeQueued('s2')).to.deep.equal(['p']);
        expect(await engine.takeQueued('s3')).to.equal(null);
      });

      it('`*` matches one level, `**` any depth', async function () {
        await engine.subscribe('s1', ['/a/*'], 10);
        await engine.subscribe('s2', ['/a/**'], 10);
        expect(await engine.publish('/a/b/c', 'deep')).to.equal(1);
        expect(await engine.takeQueued('s1')).to.equal(null);
        expect(await engine.takeQueued('s2')).to.deep.equal(['deep']);
        expect(await engine.publish('/a', 'top')).to.equal(0);
      });

      it('exclude skips one session and is not counted', async function () {
        await engine.subscribe('s1', ['/x'], 10);
        await engine.subscribe('s2', ['/**'], 10);
        expect(await engine.publish('/x', 'p', 's1')).to.equal(1);
        expect(await engine.takeQueued('s1')).to.equal(null);
        expect(await engine.publish('/x', 'q', 'not-a-session')).to.equal(2);
      });

      it('the same payload string is queued, in publish order', async function () {
        await engine.subscribe('s1', ['/x'], 10);
        for (let i = 0; i < 5; i++) await engine.publish('/x', `p${i}`);
        expect(await engine.takeQueued('s1')).to.deep.equal(['p0', 'p1', 'p2', 'p3', 'p4']);
      });

      it('unsubscribe stops delivery; other subscriptions of the session stay', async function () {
        await engine.subscribe('s1', ['/x', '/y'], 10);
        expect(await engine.unsubscribe('s1', ['/x', '/never'])).to.equal(true);
        expect(await engine.publish('/x', 'p')).to.equal(0);
        expect(await engine.publish('/y', 'p')).to.equal(1);
        expect(await engine.subscriptions('s1')).to.deep.equal(['/y']);
      });

      it('the subscription limit refuses the whole call; existing ones do not count twice', async function () {
        expect(await engine.subscribe('s1', ['/a', '/b'], 3)).to.equal('ok');
        expect(await engine.subscribe('s1', ['/a', '/b', '/c'], 3)).to.equal('ok');
        expect(await engine.subscribe('s1', ['/d', '/e'], 4)).to.equal('limit');
        expect((await engine.subscriptions('s1'))!.sort()).to.deep.equal(['/a', '/b', '/c']);
        expect(await engine.subscribe('s1', ['/d'], 4)).to.equal('ok');
      });
    });

    describe('acknowledged delivery', function () {
      it('mail is numbered in batches and kept until acknowledged; piggyback and requeue leave it alone', async function () {
        expect(await engine.enableAcknowledgement!('nope')).to.equal(false);
        await engine.createSession('s', 10_000);
        expect(await engine.enableAcknowledgement!('s')).to.equal(true);
        await engine.deliver('s', 'a');
        await engine.deliver('s', 'b');
        const first = (await engine.beginConnect('s', true))!;
        expect([...first.messages!]).to.deep.equal(['a', 'b']);
        expect(first.messages!.batch).to.equal(1);
        await engine.endConnect('s', 10_000, false);
        await engine.deliver('s', 'c');
        expect(await engine.takeQueued('s', true), 'nothing rides on other responses').to.equal(null);
        const again = (await engine.takeQueued('s'))!;
        expect([...again], 'unacknowledged mail is sent again, then the new').to.deep.equal(['a', 'b', 'c']);
        expect(again.batch).to.equal(2);
        expect(await engine.acknowledge!('s', 1)).to.equal(1);
        const rest = (await engine.endConnect('s', 10_000, true))!;
        expect([...rest]).to.deep.equal(['c']);
        expect(rest.batch).to.equal(2);
        await engine.requeue('s', ['x']);
        expect(await engine.acknowledge!('s', 2)).to.equal(0);
        expect(await engine.takeQueued('s'), 'requeue is a no-op: the mail was kept unacknowledged').to.equal(null);
        expect(await engine.acknowledge!('nope', 5)).to.equal(0);
      });

      it('a held session is woken for new mail and its connect takes the unacknowledged too', async function () {
        await engine.createSession('s', 10_000);
        await engine.enableAcknowledgement!('s');
        await engine.beginConnect('s', true);
        await engine.endConnect('s', 10_000, false);
        await engine.deliver('s', 'm1');
        expect([...(await engine.beginConnect('s', true))!.messages!]).to.deep.equal(['m1']);
        await engine.endConnect('s', 10_000, false);
        // m1 not acknowledged: the next connect is not held, it gets m1 again.
        const r = (await engine.beginConnect('s', true))!;
        expect(r.held).to.equal(false);
        expect([...r.messages!]).to.deep.equal(['m1']);
        await engine.endConnect('s', 10_000, false);
        await engine.acknowledge!('s', r.messages!.batch!);
        expect((await engine.beginConnect('s', true))!.held).to.equal(true);
        await engine.deliver('s', 'm2');
        await settle();
        expect(seen.wakes).to.deep.equal(['s']);
        const taken = (await engine.takeQueued('s'))!;
        expect([...taken]).to.deep.equal(['m2']);
        expect(taken.batch).to.equal(2);
      });

      it('a connect without mail gets the latest batch number, and acknowledging it drops nothing taken later', async function () {
        await engine.createSession('s', 10_000);
        await engine.enableAcknowledgement!('s');
        const first = (await engine.beginConnect('s', true))!;
        expect(first.messages).to.equal(null);
        expect(first.batch, 'the first connect, before any mail').to.equal(0);
        await engine.endConnect('s', 10_000, false);
        const held = (await engine.beginConnect('s', true))!;
        expect(held.held).to.equal(true);
        expect(held.batch, 'a hold').to.equal(0);
        const timedOut = (await engine.endConnect('s', 10_000, true))!;
        expect([...timedOut]).to.deep.equal([]);
        expect(timedOut.batch, 'an empty take').to.equal(0);
        await engine.deliver('s', 'm1');
        const got = (await engine.beginConnect('s', true))!;
        expect(got.messages!.batch).to.equal(1);
        await engine.endConnect('s', 10_000, false);
        // The response with m1 was lost: the client acknowledges the empty reply's number.
        expect(await engine.acknowledge!('s', 0), 'm1 stays').to.equal(1);
        const again = (await engine.beginConnect('s', true))!;
        expect([...again.messages!]).to.deep.equal(['m1']);
        await engine.endConnect('s', 10_000, false);
        expect(await engine.acknowledge!('s', again.messages!.batch!)).to.equal(0);
        const quiet = (await engine.beginConnect('s', false))!;
        expect(quiet.messages).to.equal(null);
        expect(quiet.batch, 'an empty connect keeps the latest number').to.equal(1);
        await engine.endConnect('s', 10_000, false);
        // Without acknowledged delivery nothing is numbered.
        await engine.createSession('p', 10_000);
        expect((await engine.beginConnect('p', true))!.batch).to.equal(undefined);
        expect((await engine.endConnect('p', 10_000, true))!.batch).to.equal(undefined);
      });
    });

    describe('queue limit', function () {
      it('drops the oldest beyond maxQueue and reports each drop', async function () {
        await engine.close();
        await open(3);
        await engine.createSession('s', 10_000);
        for (const m of ['1', '2', '3', '4', '5']) await engine.deliver('s', m);
        expect(await engine.takeQueued('s')).to.deep.equal(['3', '4', '5']);
        expect(seen.overflows).to.deep.equal([
          ['s', 1],
          ['s', 1],
        ]);
      });

      it('a requeue beyond maxQueue keeps the newest', async function () {
        await engine.close();
        await open(3);
        await engine.createSession('s', 10_000);
        await engine.deliver('s', 'new1');
        await engine.deliver('s', 'new2');
        await engine.requeue('s', ['old1', 'old2']);
        expect(await engine.takeQueued('s')).to.deep.equal(['old2', 'new1', 'new2']);
        expect(seen.overflows).to.deep.equal([['s', 1]]);
      });
    });

    describe('cluster events', function () {
      /** The events about one session, in order (events of different sessions may interleave on a Redis Cluster). */
      const about = (id: string) => seen.events.filter((e) => e.clientId === id);

      it('sessions added and removed, subscriptions added and removed, each once', async function () {
        await engine.createSession('s', 10_000);
        await engine.subscribe('s', ['/a', '/b/*'], 10);
        await engine.subscribe('s', ['/a', '/c'], 10); // /a again: no second event
        await engine.subscribe('s', ['/d', '/e'], 4); // refused over the limit: no event
        await engine.unsubscribe('s', ['/b/*', '/never']); // /never: not subscribed, no event
        await engine.createSession('t', 10_000);
        await engine.subscribe('t', ['/a'], 10);
        await engine.destroySession('s', 'disconnect');
        await engine.destroySession('s', 'disconnect'); // gone already: no event
        await settle();
        expect(about('s')).to.deep.equal([
          { type: 'sessionAdded', clientId: 's' },
          { type: 'subscribed', clientId: 's', channel: '/a' },
          { type: 'subscribed', clientId: 's', channel: '/b/*' },
          { type: 'subscribed', clientId: 's', channel: '/c' },
          { type: 'unsubscribed', clientId: 's', channel: '/b/*' },
          // The session's remaining subscriptions end with it: no unsubscribed events.
          { type: 'sessionRemoved', clientId: 's', reason: 'disconnect' },
        ]);
        expect(about('t')).to.deep.equal([
          { type: 'sessionAdded', clientId: 't' },
          { type: 'subscribed', clientId: 't', channel: '/a' },
        ]);
      });

      it('an expired session is reported removed once, with reason timeout', async function () {
        // Long enough to subscribe first, on a networked engine on a loaded machine too: a
        // sweep can come between the two calls.
        await engine.createSession('gone', 1000);
        await engine.subscribe('gone', ['/x'], 10);
        await removals(1);
        const removedEvent = () => about('gone').filter((e) => e.type === 'sessionRemoved');
        // The event may travel apart from the removal notice: wait for it, then a few sweeps more.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no removal event within 10000 ms: ${JSON.stringify(seen.events)}`)), 10_000);
          const check = () => {
            if (removedEvent().length === 0) return;
            clearTimeout(timer);
            onRemoved = null;
            resolve();
          };
          onRemoved = check;
          check();
        });
        await new Promise((r) => setTimeout(r, 40));
        await settle();
        expect(about('gone')).to.deep.equal([
          { type: 'sessionAdded', clientId: 'gone' },
          { type: 'subscribed', clientId: 'gone', channel: '/x' },
          { type: 'sessionRemoved', clientId: 'gone', reason: 'timeout' },
        ]);
      });

      it('operations that change nothing report nothing', async function () {
        await engine.createSession('q', 10_000);
        await settle();
        seen.events.length = 0;
        await engine.deliver('q', 'm');
        await engine.publish('/z', 'p');
        await engine.beginConnect('q', true);
        await engine.endConnect('q', 10_000, true);
        await engine.unsubscribe('q', ['/z']);
        await engine.subscribe('nope', ['/z'], 10);
        await settle();
        expect(seen.events).to.deep.equal([]);
      });
    });

    describe('expiry sweep', function () {
      it('removes sessions past their expiry, reporting reason timeout', async function () {
        await engine.createSession('short', 0);
        await engine.createSession('long', 60_000);
        await removals(1);
        expect(seen.removed).to.deep.equal([['short', 'timeout']]);
        expect(await engine.hasSession('short')).to.equal(false);
        expect(await engine.hasSession('long')).to.equal(true);
      });

      it('a session in a connect never expires; after endConnect its clock starts again', async function () {
        // Expiry times with room for an engine that answers asynchronously on a loaded
        // machine (busy must be in its connect before it expires): the marker expires after
        // busy would have, so its removal proves busy was spared.
        await engine.createSession('busy', 1000);
        await engine.createSession('marker1', 1500);
        await engine.beginConnect('busy', true);
        await removals(1);
        expect(seen.removed).to.deep.equal([['marker1', 'timeout']]);
        expect(await engine.hasSession('busy')).to.equal(true);
        await engine.endConnect('busy', 0, false);
        await removals(2);
        expect(seen.removed[1]).to.deep.equal(['busy', 'timeout']);
      });

      it('a held session never expires', async function () {
        // As above: room for four calls before held would expire; the marker expires later.
        await engine.createSession('held', 1000);
        await engine.beginConnect('held', true);
        await engine.endConnect('held', 1000, false);
        await engine.beginConnect('held', true); // now held
        await engine.createSession('marker', 1500);
        await removals(1);
        await new Promise((r) => setTimeout(r, 40)); // a few more sweeps (10 ms apart)
        expect(seen.removed).to.deep.equal([['marker', 'timeout']]);
        expect(await engine.hasSession('held')).to.equal(true);
      });

      it('close() stops the sweep', async function () {
        await engine.createSession('s', 60);
        await engine.close();
        await new Promise((r) => setTimeout(r, 120)); // past its expiry: sweeps would have removed it
        expect(seen.removed).to.deep.equal([]);
        await open(); // for afterEach
      });
    });
  });
}
