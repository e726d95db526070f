/**
 * The hold timer: entries expire in deadline order (FIFO per timeout, earliest first across
 * timeouts), removed entries never fire, re-adding moves an entry, clear stops everything.
 */
import { expect } from 'chai';
import { HoldTimer, slackFor, type Timed, type TimedList } from '../lib/hold-timer.js';

class Entry implements Timed {
  deadline = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  list: TimedList | null = null;
  constructor(readonly name: string) {}
}

/** A timer whose expiries are recorded, with a way to wait for a number of them. */
function recorder(onExpire?: (e: Entry, timer: HoldTimer<Entry>) => void) {
  // `turn` counts synchronous runs of expiries (a microtask ends one), so "in the same turn"
  // is a fact to compare rather than a sub-millisecond clock window.
  const fired: { name: string; at: number; turn: number }[] = [];
  const started = performance.now();
  const waiters: { n: number; resolve: () => void }[] = [];
  let turn = 0;
  let turnEnding = false;
  const timer: HoldTimer<Entry> = new HoldTimer<Entry>((e) => {
    if (!turnEnding) {
      turnEnding = true;
      queueMicrotask(() => {
        turn++;
        turnEnding = false;
      });
    }
    fired.push({ name: e.name, at: performance.now() - started, turn });
    onExpire?.(e, timer);
    for (const w of waiters.slice()) if (fired.length >= w.n) w.resolve();
  });
  const until = (n: number, limitMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (fired.length >= n) return resolve();
      const t = setTimeout(() => reject(new Error(`only ${fired.length} of ${n} entries expired within ${limitMs} ms`)), limitMs);
      waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
    });
  return { timer, fired, until, names: () => fired.map((f) => f.name) };
}

describe('hold timer', function () {
  const timers: HoldTimer<Entry>[] = [];
  afterEach(function () {
    for (const t of timers.splice(0)) t.clear();
  });
  function make(onExpire?: (e: Entry, timer: HoldTimer<Entry>) => void) {
    const r = recorder(onExpire);
    timers.push(r.timer);
    return r;
  }

  it('fires an entry after its timeout, not before', async function () {
    const r = make();
    r.timer.add(new Entry('a'), 60);
    await r.until(1);
    // Not before its deadline (whole milliseconds, so a few off); late only by a loaded machine.
    expect(r.fired[0]!.at).to.be.within(58, 10_000);
  });

  it('entries sharing a timeout expire in the order they were added', async function () {
    const r = make();
    for (const n of ['a', 'b', 'c', 'd']) r.timer.add(new Entry(n), 20);
    await r.until(4);
    expect(r.names()).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('a shorter timeout added later expires first', async function () {
    const r = make();
    r.timer.add(new Entry('long'), 120);
    r.timer.add(new Entry('mid'), 60);
    r.timer.add(new Entry('short'), 10);
    await r.until(3);
    expect(r.names()).to.deep.equal(['short', 'mid', 'long']);
    expect(r.fired[2]!.at).to.be.at.least(115);
  });

  it('a removed entry never fires; the others still do', async function () {
    const r = make();
    const a = new Entry('a');
    const b = new Entry('b');
    const c = new Entry('c');
    r.timer.add(a, 20);
    r.timer.add(b, 20);
    r.timer.add(c, 20);
    r.timer.remove(b);
    r.timer.remove(a); // the head, which the armed timeout was for
    await r.until(1);
    // Give a wrongly kept entry the time to fire too: `c` and a later sentinel bound the wait.
    r.timer.add(new Entry('sentinel'), 30);
    await r.until(2);
    expect(r.names()).to.deep.equal(['c', 'sentinel']);
    expect(a.list).to.equal(null);
    expect(b.list).to.equal(null);
  });

  it('removing an entry twice, or one never added, is harmless', function () {
    const r = make();
    const a = new Entry('a');
    r.timer.remove(a);
    r.timer.add(a, 1000);
    r.timer.remove(a);
    r.timer.remove(a);
    expect(a.list).to.equal(null);
  });

  it('adding an entry again moves it to its new deadline', async function () {
    const r = make();
    const a = new Entry('a');
    r.timer.add(a, 10);
    r.timer.add(new Entry('b'), 40);
    r.timer.add(a, 80);
    await r.until(2);
    expect(r.names()).to.deep.equal(['b', 'a']);
    expect(r.fired[1]!.at).to.be.at.least(75);
  });

  it('an entry removed after its list emptied, then re-added, still fires', async function () {
    const r = make();
    const a = new Entry('a');
    r.timer.add(a, 15);
    await r.until(1);
    r.timer.add(a, 15);
    await r.until(2);
    expect(r.names()).to.deep.equal(['a', 'a']);
  });

  it('an expiry callback may add new entries', async function () {
    const r = make((e, timer) => {
      if (e.name === 'first') timer.add(new Entry('second'), 10);
    });
    r.timer.add(new Entry('first'), 10);
    r.timer.add(new Entry('late'), 200);
    await r.until(3);
    expect(r.names()).to.deep.equal(['first', 'second', 'late']);
  });

  it('clear() stops everything; the timer is usable afterwards', async function () {
    const r = make();
    const entries = ['a', 'b', 'c'].map((n) => new Entry(n));
    entries.forEach((e, i) => r.timer.add(e, 10 + i * 10));
    r.timer.clear();
    for (const e of entries) expect(e.list).to.equal(null);
    r.timer.add(new Entry('after'), 50);
    await r.until(1);
    expect(r.names()).to.deep.equal(['after']);
  });

  it('waits for a slack of 1 % of the timeout (at most 50 ms), so that deadlines close together expire in one turn', async function () {
    expect([slackFor(30_000), slackFor(5000), slackFor(1000), slackFor(60)]).to.deep.equal([50, 50, 10, 0]);
    const r = make();
    r.timer.add(new Entry('a'), 1000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    r.timer.add(new Entry('b'), 1000);
    await r.until(2);
    const [a, b] = r.fired;
    // a's deadline plus the 10 ms slack (whole milliseconds: 2 ms off at most), and b with it.
    expect(a!.at, 'a waited for the slack').to.be.at.least(1008);
    expect(b!.turn, 'b in the same turn').to.equal(a!.turn);
  });

  it('many entries with many timeouts all fire, in timeout order, none before its deadline', async function () {
    const r = make();
    const timeoutOf = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const timeout = 5 + (i % 7) * 7;
      timeoutOf.set(String(i), timeout);
      r.timer.add(new Entry(String(i)), timeout);
    }
    await r.until(300);
    expect(new Set(r.names()).size).to.equal(300);
    // Deadlines are whole milliseconds (Date.now), hence the 2 ms slack.
    for (const f of r.fired) expect(f.at, `entry ${f.name}`).to.be.at.least(timeoutOf.get(f.name)! - 2);
    const order = r.names().map((n) => timeoutOf.get(n)!);
    for (let i = 1; i < order.length; i++) expect(order[i]!, `position ${i}`).to.be.at.least(order[i - 1]!);
  });
});
