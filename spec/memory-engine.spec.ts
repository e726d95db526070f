/**
 * The in-memory engine against the Engine contract: sessions, the connect cycle
 * (first / held / mail), requeue ordering, publish fan-out (union, exclude), limits and
 * the expiry sweep.
 */
import { expect } from 'chai';
import { MemoryEngine, type EngineListener, type SessionRemovedReason } from '../lib/index.js';

interface Recorded {
  wakes: string[];
  removed: [string, SessionRemovedReason][];
  overflows: [string, number][];
}

describe('memory engine', function () {
  let engine: MemoryEngine;
  let seen: Recorded;
  let onRemoved: (() => void) | null;

  function open(maxQueue = 100, sweepInterval = 10): void {
    seen = { wakes: [], removed: [], overflows: [] };
    onRemoved = null;
    const listener: EngineListener = {
      wake: (id) => seen.wakes.push(id),
      sessionRemoved: (id, reason) => {
        seen.removed.push([id, reason]);
        onRemoved?.();
      },
      queueOverflow: (id, n) => seen.overflows.push([id, n]),
    };
    engine = new MemoryEngine();
    engine.open(listener, { maxQueue, sweepInterval });
  }

  /** Resolves when the sweep has removed `n` sessions in all, or fails after `limitMs`. */
  function removals(n: number, limitMs = 1000): Promise<void> {
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

  beforeEach(function () {
    open();
  });
  afterEach(function () {
    engine.close();
  });

  describe('sessions', function () {
    it('create, has, count, destroy', function () {
      engine.createSession('s1', 10_000);
      engine.createSession('s2', 10_000);
      expect(engine.hasSession('s1')).to.equal(true);
      expect(engine.sessionCount()).to.equal(2);
      expect(engine.destroySession('s1', 'disconnect')).to.equal(true);
      expect(engine.destroySession('s1', 'disconnect')).to.equal(false);
      expect(engine.hasSession('s1')).to.equal(false);
      expect(engine.sessionCount()).to.equal(1);
      // Destroying is the caller's decision: the engine does not report it back as a removal.
      expect(seen.removed).to.deep.equal([]);
    });

    it('every call on an unknown session says so', function () {
      expect(engine.beginConnect('nope', true)).to.equal(null);
      expect(engine.endConnect('nope', 1000, true)).to.equal(null);
      expect(engine.takeQueued('nope')).to.equal(null);
      expect(engine.subscribe('nope', ['/a'], 10)).to.equal('unknown-session');
      expect(engine.unsubscribe('nope', ['/a'])).to.equal(false);
      expect(engine.subscriptions('nope')).to.equal(null);
      expect(engine.deliver('nope', '{}')).to.equal(false);
      engine.requeue('nope', ['x']); // no throw, nothing created
      expect(engine.hasSession('nope')).to.equal(false);
    });

    it('destroying a session removes its subscriptions and queue', function () {
      engine.createSession('s', 10_000);
      engine.subscribe('s', ['/a', '/b/**'], 10);
      engine.deliver('s', 'm');
      engine.destroySession('s', 'server');
      expect(engine.publish('/a', 'p')).to.equal(0);
      expect(engine.publish('/b/c', 'p')).to.equal(0);
      engine.createSession('s', 10_000); // same id again starts clean
      expect(engine.takeQueued('s')).to.equal(null);
      expect(engine.subscriptions('s')).to.deep.equal([]);
    });
  });

  describe('connect cycle', function () {
    beforeEach(function () {
      engine.createSession('s', 10_000);
    });

    it('the first connect is never held, even when asked to hold', function () {
      expect(engine.beginConnect('s', true)).to.deep.equal({ first: true, messages: null, held: false });
    });

    it('the first connect takes mail queued since the handshake', function () {
      engine.deliver('s', 'early');
      expect(engine.beginConnect('s', true)).to.deep.equal({ first: true, messages: ['early'], held: false });
      expect(engine.takeQueued('s')).to.equal(null);
    });

    it('a later connect with nothing queued is held when asked; mail then wakes the holder', function () {
      engine.beginConnect('s', true);
      engine.endConnect('s', 10_000, false);
      expect(engine.beginConnect('s', true)).to.deep.equal({ first: false, messages: null, held: true });
      engine.subscribe('s', ['/a'], 10);
      expect(engine.publish('/a', 'm1')).to.equal(1);
      expect(engine.deliver('s', 'm2')).to.equal(true);
      expect(seen.wakes).to.deep.equal(['s', 's']);
      expect(engine.takeQueued('s')).to.deep.equal(['m1', 'm2']);
    });

    it('a later connect not asked to hold is answered empty', function () {
      engine.beginConnect('s', true);
      engine.endConnect('s', 10_000, false);
      expect(engine.beginConnect('s', false)).to.deep.equal({ first: false, messages: null, held: false });
    });

    it('a later connect with mail takes it instead of holding', function () {
      engine.beginConnect('s', true);
      engine.endConnect('s', 10_000, false);
      engine.deliver('s', 'a');
      engine.deliver('s', 'b');
      expect(engine.beginConnect('s', true)).to.deep.equal({ first: false, messages: ['a', 'b'], held: false });
      expect(seen.wakes, 'nobody was holding').to.deep.equal([]);
    });

    it('endConnect with take returns the queue and ends the hold; without take the mail stays', function () {
      engine.beginConnect('s', true);
      engine.endConnect('s', 10_000, false);
      engine.beginConnect('s', true);
      engine.deliver('s', 'x');
      expect(engine.endConnect('s', 10_000, true)).to.deep.equal(['x']);
      expect(engine.endConnect('s', 10_000, true)).to.deep.equal([]);
      engine.deliver('s', 'y');
      expect(seen.wakes, 'no wake once the hold ended').to.deep.equal(['s']);
      expect(engine.endConnect('s', 10_000, false)).to.deep.equal([]);
      expect(engine.takeQueued('s')).to.deep.equal(['y']);
    });

    it('arrays returned to the caller are the caller\'s: changing one affects nothing else', function () {
      engine.createSession('t', 10_000);
      const a = engine.endConnect('s', 10_000, true)!;
      a.push('junk');
      expect(engine.endConnect('t', 10_000, true)).to.deep.equal([]);
      expect(engine.endConnect('s', 10_000, true)).to.deep.equal([]);
    });

    it('requeue puts messages back in front, in order, and wakes a holder', function () {
      engine.beginConnect('s', true);
      engine.endConnect('s', 10_000, false);
      engine.deliver('s', 'c');
      const taken = engine.takeQueued('s')!;
      engine.deliver('s', 'd');
      engine.requeue('s', ['a', 'b', ...taken]);
      expect(engine.takeQueued('s')).to.deep.equal(['a', 'b', 'c', 'd']);
      engine.beginConnect('s', true);
      engine.requeue('s', ['back']);
      expect(seen.wakes).to.deep.equal(['s']);
      expect(engine.takeQueued('s')).to.deep.equal(['back']);
      engine.requeue('s', []);
      expect(engine.takeQueued('s')).to.equal(null);
    });

    it('requeue does not keep a reference to the caller\'s array', function () {
      const mine = ['a'];
      engine.requeue('s', mine);
      mine.push('later');
      expect(engine.takeQueued('s')).to.deep.equal(['a']);
    });
  });

  describe('publish', function () {
    beforeEach(function () {
      for (const id of ['s1', 's2', 's3']) engine.createSession(id, 10_000);
    });

    it('one copy per session across exact and wildcard subscriptions', function () {
      engine.subscribe('s1', ['/a/b', '/a/*', '/a/**', '/**'], 10);
      engine.subscribe('s2', ['/a/*'], 10);
      expect(engine.publish('/a/b', 'p')).to.equal(2);
      expect(engine.takeQueued('s1')).to.deep.equal(['p']);
      expect(engine.takeQueued('s2')).to.deep.equal(['p']);
      expect(engine.takeQueued('s3')).to.equal(null);
    });

    it('`*` matches one level, `**` any depth', function () {
      engine.subscribe('s1', ['/a/*'], 10);
      engine.subscribe('s2', ['/a/**'], 10);
      expect(engine.publish('/a/b/c', 'deep')).to.equal(1);
      expect(engine.takeQueued('s1')).to.equal(null);
      expect(engine.takeQueued('s2')).to.deep.equal(['deep']);
      expect(engine.publish('/a', 'top')).to.equal(0);
    });

    it('exclude skips one session and is not counted', function () {
      engine.subscribe('s1', ['/x'], 10);
      engine.subscribe('s2', ['/**'], 10);
      expect(engine.publish('/x', 'p', 's1')).to.equal(1);
      expect(engine.takeQueued('s1')).to.equal(null);
      expect(engine.publish('/x', 'q', 'not-a-session')).to.equal(2);
    });

    it('the same payload string is queued, in publish order', function () {
      engine.subscribe('s1', ['/x'], 10);
      for (let i = 0; i < 5; i++) engine.publish('/x', `p${i}`);
      expect(engine.takeQueued('s1')).to.deep.equal(['p0', 'p1', 'p2', 'p3', 'p4']);
    });

    it('unsubscribe stops delivery; other subscriptions of the session stay', function () {
      engine.subscribe('s1', ['/x', '/y'], 10);
      expect(engine.unsubscribe('s1', ['/x', '/never'])).to.equal(true);
      expect(engine.publish('/x', 'p')).to.equal(0);
      expect(engine.publish('/y', 'p')).to.equal(1);
      expect(engine.subscriptions('s1')).to.deep.equal(['/y']);
    });

    it('the subscription limit refuses the whole call; existing ones do not count twice', function () {
      expect(engine.subscribe('s1', ['/a', '/b'], 3)).to.equal('ok');
      expect(engine.subscribe('s1', ['/a', '/b', '/c'], 3)).to.equal('ok');
      expect(engine.subscribe('s1', ['/d', '/e'], 4)).to.equal('limit');
      expect(engine.subscriptions('s1')!.sort()).to.deep.equal(['/a', '/b', '/c']);
      expect(engine.subscribe('s1', ['/d'], 4)).to.equal('ok');
    });
  });

  describe('queue limit', function () {
    it('drops the oldest beyond maxQueue and reports each drop', function () {
      engine.close();
      open(3);
      engine.createSession('s', 10_000);
      for (const m of ['1', '2', '3', '4', '5']) engine.deliver('s', m);
      expect(engine.takeQueued('s')).to.deep.equal(['3', '4', '5']);
      expect(seen.overflows).to.deep.equal([
        ['s', 1],
        ['s', 1],
      ]);
    });

    it('a requeue beyond maxQueue keeps the newest', function () {
      engine.close();
      open(3);
      engine.createSession('s', 10_000);
      engine.deliver('s', 'new1');
      engine.deliver('s', 'new2');
      engine.requeue('s', ['old1', 'old2']);
      expect(engine.takeQueued('s')).to.deep.equal(['old2', 'new1', 'new2']);
      expect(seen.overflows).to.deep.equal([['s', 1]]);
    });
  });

  describe('expiry sweep', function () {
    it('removes sessions past their expiry, reporting reason timeout', async function () {
      engine.createSession('short', 0);
      engine.createSession('long', 60_000);
      await removals(1);
      expect(seen.removed).to.deep.equal([['short', 'timeout']]);
      expect(engine.hasSession('short')).to.equal(false);
      expect(engine.hasSession('long')).to.equal(true);
    });

    it('a session in a connect never expires; after endConnect its clock starts again', async function () {
      engine.createSession('busy', 0);
      engine.createSession('marker1', 0);
      engine.beginConnect('busy', true);
      await removals(1);
      expect(seen.removed).to.deep.equal([['marker1', 'timeout']]);
      expect(engine.hasSession('busy')).to.equal(true);
      engine.endConnect('busy', 0, false);
      await removals(2);
      expect(seen.removed[1]).to.deep.equal(['busy', 'timeout']);
    });

    it('a held session never expires', async function () {
      engine.createSession('held', 0);
      engine.beginConnect('held', true);
      engine.endConnect('held', 0, false);
      engine.beginConnect('held', true); // now held
      engine.createSession('marker', 0);
      await removals(1);
      await new Promise((r) => setTimeout(r, 40)); // a few more sweeps (10 ms apart)
      expect(seen.removed).to.deep.equal([['marker', 'timeout']]);
      expect(engine.hasSession('held')).to.equal(true);
    });

    it('close() stops the sweep and forgets everything', async function () {
      engine.createSession('s', 0);
      engine.close();
      expect(engine.sessionCount()).to.equal(0);
      await new Promise((r) => setTimeout(r, 40));
      expect(seen.removed).to.deep.equal([]);
      open(); // for afterEach
    });
  });
});
