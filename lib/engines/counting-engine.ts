/**
 * The engine as the core calls it: each call counted by operation, and the calls that throw
 * or reject counted again (`BayeuxServer.stats.engineCalls` / `engineFailures`, read by
 * `bayeux_engine_calls_total` and `bayeux_engine_failures_total`).
 *
 * A wrapper the server always uses rather than a patch applied while metrics exist: the
 * app's engine object is never modified (patching it in place gave it a new shape and put
 * a closure between the core and every engine method), and its methods stay plain
 * monomorphic calls. The cost is an integer add per call, plus one promise reaction for
 * engines that answer asynchronously, next to which a Redis round trip is large.
 */
import {
  isPromise,
  type Awaitable,
  type ConnectResult,
  type Engine,
  type EngineConfig,
  type EngineListener,
  type Mail,
  type SessionRemovedReason,
  type SubscribeResult,
} from './engine.js';

/** The engine methods counted, by name. */
export const ENGINE_OPERATIONS = [
  'createSession',
  'destroySession',
  'hasSession',
  'sessionCount',
  'beginConnect',
  'endConnect',
  'takeQueued',
  'takeAndEnd',
  'requeue',
  'enableAcknowledgement',
  'acknowledge',
  'subscribe',
  'unsubscribe',
  'subscriptions',
  'publish',
  'deliver',
] as const satisfies readonly (keyof Engine)[];

/** The name of a counted engine method. */
export type EngineOperation = (typeof ENGINE_OPERATIONS)[number];

/** Counts per engine operation. */
export type EngineCallCounts = Record<EngineOperation, number>;

/** Every operation at 0. */
export function engineCallCounts(): EngineCallCounts {
  const counts = {} as EngineCallCounts;
  for (const op of ENGINE_OPERATIONS) counts[op] = 0;
  return counts;
}

/** @internal The engine behind a {@link BayeuxServer}, counting the calls the core makes. */
export class CountingEngine implements Engine {
  declare takeAndEnd?: Engine['takeAndEnd'];
  declare enableAcknowledgement?: Engine['enableAcknowledgement'];
  declare acknowledge?: Engine['acknowledge'];

  constructor(
    /** The app's engine (or the default one), called as is: uncounted calls (a scrape's) go here. */
    readonly inner: Engine,
    private readonly calls: EngineCallCounts,
    private readonly failures: EngineCallCounts,
  ) {
    // The optional methods exist exactly when the engine has them: the core tests for them.
    if (inner.takeAndEnd) {
      this.takeAndEnd = (clientId, expiresInMs) => {
        calls.takeAndEnd++;
        try {
          return this.counted(inner.takeAndEnd!(clientId, expiresInMs), 'takeAndEnd');
        } catch (err) {
          this.failures.takeAndEnd++;
          throw err;
        }
      };
    }
    if (inner.enableAcknowledgement) {
      this.enableAcknowledgement = (clientId) => {
        calls.enableAcknowledgement++;
        try {
          return this.counted(inner.enableAcknowledgement!(clientId), 'enableAcknowledgement');
        } catch (err) {
          this.failures.enableAcknowledgement++;
          throw err;
        }
      };
    }
    if (inner.acknowledge) {
      this.acknowledge = (clientId, batch) => {
        calls.acknowledge++;
        try {
          return this.counted(inner.acknowledge!(clientId, batch), 'acknowledge');
        } catch (err) {
          this.failures.acknowledge++;
          throw err;
        }
      };
    }
  }

  /** Counts the rejection of an asynchronous answer; the caller still gets (and handles) it. */
  private counted<T>(result: Awaitable<T>, op: EngineOperation): Awaitable<T> {
    if (isPromise(result)) result.then(undefined, () => this.failures[op]++);
    return result;
  }

  open(listener: EngineListener, config: EngineConfig): Awaitable<void> {
    return this.inner.open(listener, config);
  }

  close(): Awaitable<void> {
    return this.inner.close();
  }

  createSession(clientId: string, expiresInMs: number): Awaitable<void> {
    this.calls.createSession++;
    try {
      return this.counted(this.inner.createSession(clientId, expiresInMs), 'createSession');
    } catch (err) {
      this.failures.createSession++;
      throw err;
    }
  }

  destroySession(clientId: string, reason: SessionRemovedReason): Awaitable<boolean> {
    this.calls.destroySession++;
    try {
      return this.counted(this.inner.destroySession(clientId, reason), 'destroySession');
    } catch (err) {
      this.failures.destroySession++;
      throw err;
    }
  }

  hasSession(clientId: string): Awaitable<boolean> {
    this.calls.hasSession++;
    try {
      return this.counted(this.inner.hasSession(clientId), 'hasSession');
    } catch (err) {
      this.failures.hasSession++;
      throw err;
    }
  }

  sessionCount(): Awaitable<number> {
    this.calls.sessionCount++;
    try {
      return this.counted(this.inner.sessionCount(), 'sessionCount');
    } catch (err) {
      this.failures.sessionCount++;
      throw err;
    }
  }

  beginConnect(clientId: string, hold: boolean): Awaitable<ConnectResult | null> {
    this.calls.beginConnect++;
    try {
      return this.counted(this.inner.beginConnect(clientId, hold), 'beginConnect');
    } catch (err) {
      this.failures.beginConnect++;
      throw err;
    }
  }

  endConnect(clientId: string, expiresInMs: number, take: boolean): Awaitable<Mail | null> {
    this.calls.endConnect++;
    try {
      return this.counted(this.inner.endConnect(clientId, expiresInMs, take), 'endConnect');
    } catch (err) {
      this.failures.endConnect++;
      throw err;
    }
  }

  takeQueued(clientId: string, piggyback?: boolean): Awaitable<Mail | null> {
    this.calls.takeQueued++;
    try {
      return this.counted(this.inner.takeQueued(clientId, piggyback), 'takeQueued');
    } catch (err) {
      this.failures.takeQueued++;
      throw err;
    }
  }

  requeue(clientId: string, payloads: string[]): Awaitable<void> {
    this.calls.requeue++;
    try {
      return this.counted(this.inner.requeue(clientId, payloads), 'requeue');
    } catch (err) {
      this.failures.requeue++;
      throw err;
    }
  }

  subscribe(clientId: string, channels: readonly string[], max: number): Awaitable<SubscribeResult> {
    this.calls.subscribe++;
    try {
      return this.counted(this.inner.subscribe(clientId, channels, max), 'subscribe');
    } catch (err) {
      this.failures.subscribe++;
      throw err;
    }
  }

  unsubscribe(clientId: string, channels: readonly string[]): Awaitable<boolean> {
    this.calls.unsubscribe++;
    try {
      return this.counted(this.inner.unsubscribe(clientId, channels), 'unsubscribe');
    } catch (err) {
      this.failures.unsubscribe++;
      throw err;
    }
  }

  subscriptions(clientId: string): Awaitable<string[] | null> {
    this.calls.subscriptions++;
    try {
      return this.counted(this.inner.subscriptions(clientId), 'subscriptions');
    } catch (err) {
      this.failures.subscriptions++;
      throw err;
    }
  }

  publish(channel: string, payload: string, exclude?: string): Awaitable<number> {
    this.calls.publish++;
    try {
      return this.counted(this.inner.publish(channel, payload, exclude), 'publish');
    } catch (err) {
      this.failures.publish++;
      throw err;
    }
  }

  deliver(clientId: string, payload: string): Awaitable<boolean> {
    this.calls.deliver++;
    try {
      return this.counted(this.inner.deliver(clientId, payload), 'deliver');
    } catch (err) {
      this.failures.deliver++;
      throw err;
    }
  }
}
