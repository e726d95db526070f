/**
 * One shared, coarse timer for the deadlines of requests in progress: a body being read
 * (`bodyTimeout`) and a refused request being drained (lingering close). Almost every body
 * arrives in the same tick as its headers, so a `setTimeout` per request would cost a timer
 * and a closure on every POST for nothing; here a request costs a set insertion and removal.
 */
import createDebug from 'debug';

const debug = createDebug('bayeux:transport:deadlines');

/** Something with a deadline: {@link expireAfter} calls `expire` once it has passed. */
export interface Expiring {
  /** The sweep at which the deadline has passed (set by {@link expireAfter}). */
  expiresAt: number;
  /** Called once, from the sweep, unless {@link cancelDeadline} came first. */
  expire(): void;
}

/**
 * How often deadlines are checked. A deadline of `ms` fires after at least `ms` and at
 * most `ms + 2 * TICK_MS` (later only when the event loop itself is late).
 */
const TICK_MS = 100;

const pending = new Set<Expiring>();
let sweeps = 0;
let timer: NodeJS.Timeout | null = null;

/** Calls `item.expire()` once `ms` have passed, unless {@link cancelDeadline} is called first. */
export function expireAfter(item: Expiring, ms: number): void {
  // +1: the next sweep may come at once, so the first one counted is the one after it.
  item.expiresAt = sweeps + Math.ceil(ms / TICK_MS) + 1;
  pending.add(item);
  if (timer === null) {
    timer = setInterval(sweep, TICK_MS);
    // Deadlines guard sockets, which keep the process alive on their own.
    timer.unref();
  }
}

/** Forgets `item`'s deadline (it finished in time). */
export function cancelDeadline(item: Expiring): void {
  pending.delete(item);
}

function sweep(): void {
  sweeps++;
  if (pending.size === 0) {
    // Idle: stop until the next deadline (a busy server keeps the one timer running).
    clearInterval(timer!);
    timer = null;
    return;
  }
  for (const item of pending) {
    if (item.expiresAt > sweeps) continue;
    pending.delete(item);
    try {
      item.expire();
    } catch (err) {
      // A throw here would end the process (it runs from a timer) and skip the other items.
      debug('expire failed: %O', err);
    }
  }
}
