/**
 * Deadlines for held `/meta/connect`s without a timer per connection.
 *
 * Holds that share a timeout end in the order they began, so each distinct timeout gets
 * an intrusive doubly-linked FIFO: adding and removing are O(1), nothing dead lingers, and
 * only the list heads are ever looked at. One `setTimeout` is armed for the earliest head
 * plus a slack: with thousands of holds their deadlines are a fraction of a millisecond
 * apart, and a timer per deadline would cost more than the holds. The slack lets the
 * expiries of the next few milliseconds ride along, so they are answered in one turn and
 * the clients' next connects come back together; the bigger the batch, the less each
 * round trip costs (the event loop's and the kernel's fixed costs per turn are shared).
 */

/** How late past its deadline an entry may expire, as a fraction of its timeout, … */
export const SLACK_FRACTION = 0.01;
/** … and at most (a 30 s hold answered up to 50 ms late). */
export const MAX_SLACK_MS = 50;

/** The slack of entries with timeout `timeoutMs`. */
export function slackFor(timeoutMs: number): number {
  return Math.min(MAX_SLACK_MS, Math.floor(timeoutMs * SLACK_FRACTION));
}

/** Something that can be timed out; the link fields belong to the timer. */
export interface Timed {
  /** Epoch ms when it expires (set by the timer). */
  deadline: number;
  /** Links owned by {@link HoldTimer}; start them as null. */
  prev: Timed | null;
  next: Timed | null;
  list: TimedList | null;
}

/** One FIFO of entries that share a timeout. */
export class TimedList {
  head: Timed | null = null;
  tail: Timed | null = null;
  constructor(readonly slack = 0) {}
}

/** Calls `onExpire` for each entry whose deadline passes before it is removed. */
export class HoldTimer<T extends Timed> {
  private readonly lists = new Map<number, TimedList>();
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private readonly onTimer = (): void => this.fire();

  constructor(private readonly onExpire: (entry: T) => void) {}

  /** Adds an entry that expires `timeoutMs` from now. */
  add(entry: T, timeoutMs: number): void {
    if (entry.list) this.remove(entry);
    entry.deadline = Date.now() + timeoutMs;
    let list = this.lists.get(timeoutMs);
    if (!list) this.lists.set(timeoutMs, (list = new TimedList(slackFor(timeoutMs))));
    entry.list = list;
    entry.prev = list.tail;
    entry.next = null;
    if (list.tail) list.tail.next = entry;
    else list.head = entry;
    list.tail = entry;
    if (entry.deadline + list.slack < this.armedFor) this.arm(entry.deadline + list.slack);
  }

  /** Removes an entry (released before its deadline); a no-op if it is not in a list. */
  remove(entry: T): void {
    const list = entry.list;
    if (!list) return;
    if (entry.prev) entry.prev.next = entry.next;
    else list.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else list.tail = entry.prev;
    entry.prev = entry.next = null;
    entry.list = null;
  }

  /** Stops the timer and forgets every entry. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
    for (const list of this.lists.values()) {
      for (let e = list.head; e; ) {
        const n: Timed | null = e.next;
        e.prev = e.next = null;
        e.list = null;
        e = n;
      }
    }
    this.lists.clear();
  }

  /** Arms the timer for `fireAt` (a deadline plus its slack: later deadlines ride along). */
  private arm(fireAt: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = fireAt;
    this.timer = setTimeout(this.onTimer, Math.max(0, fireAt - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = Date.now();
    const expired: T[] = [];
    let next = Infinity;
    for (const [timeout, list] of this.lists) {
      let e = list.head;
      while (e && e.deadline <= now) {
        const n: Timed | null = e.next;
        this.remove(e as T);
        expired.push(e as T);
        e = n;
      }
      if (e) {
        if (e.deadline + list.slack < next) next = e.deadline + list.slack;
      } else {
        this.lists.delete(timeout);
      }
    }
    if (next < this.armedFor) this.arm(next);
    for (const e of expired) this.onExpire(e);
  }
}
