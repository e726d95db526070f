/**
 * What every fan-out design's driver does for `npm run bench -- redis-designs`: S sessions
 * in this process, each subscribed and holding its connect as a long-polling client does;
 * the bench publishes, and the driver runs each woken session's connect cycle (take the
 * mail, end the hold, begin a connect that holds again) until the bench is idle.
 */
import type { Tally } from './tally.js';

/** How long a session lives without a connect, ms: far beyond a run, so nothing expires. */
export const SESSION_LIFE_MS = 600_000;

/** What a driver is given. */
export interface DriverOptions {
  /** Number of sessions. */
  sessions: number;
  /** The channels (and patterns) session `i` subscribes to. */
  channelsOf(i: number): readonly string[];
  /** Where deliveries go. */
  tally: Tally;
  /** Most messages kept per session queue (design A) or per log (B, C). */
  maxQueue: number;
  /** The Redis the Redis-backed designs use. */
  redisUrl: string;
}

export interface DesignDriver {
  /** Creates the sessions, subscribes them, and leaves every one holding a connect. */
  setup(): Promise<void>;
  /** Publishes one message (the burst loop does not wait for each). */
  publish(channel: string, payload: string): Promise<unknown> | unknown;
  /** Stops handing out mail (wakes wait) until {@link resume}: to weigh what a burst leaves in Redis. */
  pause(): void;
  resume(): void;
  /**
   * Resolves true once every session holds again with nothing left to do; false after
   * `timeoutMs`. `positions` false: do not wait for the streaming design's once-a-second
   * position write.
   */
  idle(timeoutMs: number, positions?: boolean): Promise<boolean>;
  /** Connect cycles that failed (an engine call rejected). */
  readonly errors: number;
  close(): Promise<void>;
}

/** Session ids as a Bayeux server makes them, and the way back to the session's number. */
export function sessionIds(n: number): { ids: string[]; index: Map<string, number> } {
  const ids: string[] = [];
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = `${i.toString(36)}x${Math.random().toString(36).slice(2, 12)}`;
    ids.push(id);
    index.set(id, i);
  }
  return { ids, index };
}

/** Runs `fn` for 0…n-1, `width` at a time. */
export async function inChunks(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let from = 0; from < n; from += width) {
    const all: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(n, from + width); i++) all.push(fn(i));
    await Promise.all(all);
  }
}

/**
 * Counts the connect cycles under way, and tells each waiter once none is and whatever
 * else it waits for (its `pending`: wakes not yet acted on, writes under way) is zero.
 */
export class IdleGate {
  busy = 0;
  private waiters: { pending: () => number; done: () => void }[] = [];

  /** Call whenever work may have ended. */
  check(): void {
    if (this.busy !== 0 || this.waiters.length === 0) return;
    const left = this.waiters.filter((w) => w.pending() !== 0);
    if (left.length === this.waiters.length) return;
    const done = this.waiters.filter((w) => !left.includes(w));
    this.waiters = left;
    for (const w of done) w.done();
  }

  wait(pending: () => number, timeoutMs: number): Promise<boolean> {
    if (this.busy === 0 && pending() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        pending,
        done: (): void => {
          clearTimeout(t);
          resolve(true);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}
