/**
 * Counts the calls an engine answers and those that fail, for `bayeux_engine_calls_total`
 * and `bayeux_engine_failures_total`.
 *
 * The engine's methods are wrapped in place on the instance the server uses, so any engine
 * (memory, Redis, one of the app's own) is counted without knowing about metrics, and the
 * wrappers exist only while metrics do: {@link EngineCalls.restore} puts the originals back.
 * A wrapper adds two integer increments to a call; a promise gets one more handler, to see
 * it reject.
 */
import createDebug from 'debug';
import { isPromise, type Engine } from '../lib/engines/engine.js';

const debug = createDebug('bayeux:metrics');

/** The engine methods counted, by name (optional ones only when the engine has them). */
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

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;
/** Engine methods take at most four arguments: a fixed arity keeps the wrapper off the slow rest/apply path. */
type FourArgs = (this: unknown, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => unknown;

interface Wrapped {
  readonly name: EngineOperation;
  readonly original: AnyMethod;
  readonly wrapper: AnyMethod;
  /** The method was the instance's own property (not its prototype's) before wrapping. */
  readonly own: boolean;
}

/** The call and failure counts of one engine instance, while its methods are wrapped. */
export class EngineCalls {
  /** Calls per operation (every wrapped operation is present, from 0). */
  readonly calls: Record<string, number> = Object.create(null) as Record<string, number>;
  /** Calls that threw or whose promise rejected, per operation. */
  readonly failures: Record<string, number> = Object.create(null) as Record<string, number>;
  private readonly wrapped: Wrapped[] = [];
  /** The unwrapped `sessionCount`, so the scrape's own call is not counted. */
  readonly sessionCount: () => ReturnType<Engine['sessionCount']>;
  private active = true;

  constructor(private readonly engine: Engine) {
    const target = engine as unknown as Record<string, unknown>;
    for (const name of ENGINE_OPERATIONS) {
      const original = target[name];
      if (typeof original !== 'function') continue;
      const own = Object.prototype.hasOwnProperty.call(engine, name);
      const wrapper = this.wrap(name, original as AnyMethod);
      this.calls[name] = 0;
      this.failures[name] = 0;
      this.wrapped.push({ name, original: original as AnyMethod, wrapper, own });
      target[name] = wrapper;
    }
    const count = this.wrapped.find((w) => w.name === 'sessionCount')?.original ?? (engine.sessionCount as AnyMethod);
    this.sessionCount = () => count.call(engine) as ReturnType<Engine['sessionCount']>;
    debug('counting %d engine operations', this.wrapped.length);
  }

  private wrap(name: EngineOperation, original: AnyMethod): AnyMethod {
    const calls = this.calls;
    const failures = this.failures;
    const failed = (): void => {
      failures[name]!++;
    };
    // Once restored, a wrapper someone else kept a reference to just passes calls through.
    const self = this;
    const call = original as FourArgs;
    return function (this: unknown, a?: unknown, b?: unknown, c?: unknown, d?: unknown): unknown {
      if (!self.active) return call.call(this, a, b, c, d);
      calls[name]!++;
      let result: unknown;
      try {
        result = call.call(this, a, b, c, d);
      } catch (err) {
        failed();
        throw err;
      }
      // The caller handles the rejection; this handler only counts it.
      if (isPromise(result)) result.then(undefined, failed);
      return result;
    };
  }

  /** Puts the engine's own methods back (idempotent). */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    const target = this.engine as unknown as Record<string, unknown>;
    for (const w of this.wrapped) {
      // Someone wrapped it again after us: leave theirs; ours now passes calls through.
      if (target[w.name] !== w.wrapper) continue;
      if (w.own) target[w.name] = w.original;
      else delete target[w.name];
    }
    debug('engine methods restored');
  }
}
