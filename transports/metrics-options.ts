/**
 * The options of `createMetrics` (`bayeux-server/metrics`), their defaults and their
 * one-time check.
 */
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { checkOptions } from './check-options.js';

/** Options for `createMetrics`. */
export interface MetricsOptions {
  /**
   * The registry the metrics are registered in. Default: a new `Registry` of their own. Pass
   * prom-client's global `register` (or the app's registry) to serve them with the app's metrics.
   */
  registry?: Registry;
  /** Prefix of every metric name. Default `'bayeux_'`. */
  prefix?: string;
  /**
   * Also collect prom-client's default Node.js metrics (`process_cpu_seconds_total`,
   * `nodejs_eventloop_lag_seconds`, …, without the prefix) in the registry. Default false.
   */
  collectDefaultMetrics?: boolean;
  /**
   * Bucket upper bounds, in seconds, of the two latency histograms
   * (`bayeux_request_duration_seconds` and `bayeux_publish_duration_seconds`), increasing.
   * Default `[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]`.
   */
  requestBuckets?: number[];
}

/** The default buckets: from half a millisecond (a memory-engine publish) to seconds (a slow store). */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);

/** What the collectors need of a registry (a registry of another copy of prom-client is fine). */
const registryLike = z.custom<Registry>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Registry).registerMetric === 'function' &&
    typeof (v as Registry).metrics === 'function' &&
    typeof (v as Registry).getSingleMetric === 'function' &&
    typeof (v as Registry).removeSingleMetric === 'function',
  'must be a prom-client Registry',
);

const schema = z.strictObject({
  registry: registryLike.optional(),
  prefix: z
    .string()
    .max(100)
    .regex(/^([A-Za-z_:][A-Za-z0-9_:]*)?$/, 'must be a Prometheus metric name prefix (letters, digits, _ and :, not starting with a digit)')
    .default('bayeux_'),
  collectDefaultMetrics: z.boolean().default(false),
  requestBuckets: z
    .array(z.number().positive().finite())
    .min(1)
    .max(100)
    .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), 'must be in increasing order')
    .optional(),
});

/** Options after defaults are applied. */
export interface ResolvedMetricsOptions {
  readonly registry?: Registry | undefined;
  readonly prefix: string;
  readonly collectDefaultMetrics: boolean;
  readonly requestBuckets: readonly number[];
}

/** Applies defaults and checks; throws a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`) naming the option. */
export function resolveMetricsOptions(options: unknown): ResolvedMetricsOptions {
  const r = checkOptions(schema, options ?? {}, 'createMetrics');
  return { ...r, requestBuckets: r.requestBuckets ?? DEFAULT_BUCKETS };
}
