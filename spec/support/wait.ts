/**
 * Bounded waits for specs: every wait has a deadline and says what it was waiting for,
 * so a failure reads "timed out after 3000 ms waiting for X", never a mocha timeout.
 */
/** Default bound for waits on loopback traffic. */
export const WAIT_MS = 5000;

/** Rejects with a readable error when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string | (() => string), ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Minimal emitter shape (node:events and eventemitter3 both fit). */
interface Emitter {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/** The arguments of the next `event` on `emitter` for which `filter` holds. */
export function nextEvent<A extends unknown[]>(
  emitter: Emitter,
  event: string,
  what: string,
  filter: (...args: A) => boolean = () => true,
  ms = WAIT_MS,
): Promise<A> {
  const d = deferred<A>();
  const listener = (...args: unknown[]): void => {
    if (filter(...(args as A))) d.resolve(args as A);
  };
  emitter.on(event, listener);
  return withTimeout(d.promise, what, ms).finally(() => emitter.off(event, listener));
}

/**
 * Collects items (messages received by a client) and lets a spec wait for the next one
 * or for a count, each wait bounded.
 */
export class Inbox<T> {
  readonly items: T[] = [];
  private waiters: { done: () => boolean; d: Deferred<void> }[] = [];

  /** Push an item (use as a callback: `inbox.push`). */
  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (!w.done()) return true;
      w.d.resolve();
      return false;
    });
  };

  get length(): number {
    return this.items.length;
  }

  private async wait(done: () => boolean, what: () => string, ms: number): Promise<void> {
    if (done()) return;
    const d = deferred<void>();
    const waiter = { done, d };
    this.waiters.push(waiter);
    try {
      await withTimeout(d.promise, what, ms);
    } finally {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    }
  }

  /** Resolves once at least `count` items have arrived (in total); returns the first `count`. */
  async atLeast(count: number, what: string, ms = WAIT_MS): Promise<T[]> {
    await this.wait(() => this.items.length >= count, () => `${what} (have ${this.items.length} of ${count})`, ms);
    return this.items.slice(0, count);
  }

  /** The item at position `index` (0-based), waiting for it if needed. */
  async nth(index: number, what: string, ms = WAIT_MS): Promise<T> {
    await this.atLeast(index + 1, what, ms);
    return this.items[index]!;
  }

  /** Resolves with the first item matching `test`, waiting for it if needed. */
  async until(test: (item: T) => boolean, what: string, ms = WAIT_MS): Promise<T> {
    await this.wait(() => this.items.some(test), () => `${what} (have ${this.items.length} other items)`, ms);
    return this.items.find(test)!;
  }
}

/**
 * Polls `check` every `everyMs` until it returns true, within `ms`. Only for state that
 * has no event to await (e.g. "the server now holds this client's connect").
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS, everyMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
