/**
 * A latency histogram that costs almost nothing to observe, for the two histograms the
 * server feeds on every request and publish.
 *
 * prom-client's own `Histogram.observe` builds a label object and a hash string per
 * observation; at tens of thousands of requests a second that showed in the server's CPU
 * per delivery (`npm run bench -- metrics`). Here an observation is a scan of the bucket
 * bounds and three additions on plain numbers; the text the registry prints is built only
 * when it is scraped, in the shape prom-client's histograms give (`_bucket` with cumulative
 * counts and `le`, `_sum`, `_count`), so the registry prints and merges it like one of its own.
 */
import type { Metric, MetricValueWithName } from 'prom-client';

/** One label value's counts: per bucket (not cumulative; the last is +Inf), sum and count. */
class Series {
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;
  constructor(size: number) {
    this.buckets = new Float64Array(size + 1);
  }
}

/** What the registry reads of a metric (`get`), as prom-client's histograms return it. */
interface HistogramData {
  name: string;
  help: string;
  type: 'histogram';
  values: MetricValueWithName<string>[];
  aggregator: 'sum';
}

export class LeanHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly series = new Map<string, Series>();
  /** The series of observations without a label value (or the last one used: the common case, cached). */
  private last: { key: string; series: Series } | null = null;

  /**
   * `label`: the name of the one label the series are told apart by (e.g. `transport`), or
   * null for a histogram without labels. `bounds`: the bucket upper bounds, ascending.
   */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string | null,
    bounds: readonly number[],
  ) {
    this.bounds = Float64Array.from(bounds);
    // Without a label there is one series, printed (at zero) from the start, as prom-client does.
    if (label === null) this.series.set('', new Series(bounds.length));
  }

  /** Records one observation of `value` (seconds) for the label value `key` ('' without a label). */
  observe(value: number, key = ''): void {
    let s: Series | undefined;
    if (this.last !== null && this.last.key === key) s = this.last.series;
    else {
      s = this.series.get(key);
      if (s === undefined) this.series.set(key, (s = new Series(this.bounds.length)));
      this.last = { key, series: s };
    }
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    s.buckets[i]!++;
    s.sum += value;
    s.count++;
  }

  /** The values in prom-client's histogram shape (read by the registry at scrape time). */
  async get(): Promise<HistogramData> {
    const values: MetricValueWithName<string>[] = [];
    for (const [key, s] of this.series) {
      const labels: Record<string, string | number> = this.label === null ? {} : { [this.label]: key };
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.buckets[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  /** Forgets every observation (the registry's `resetMetrics`). */
  reset(): void {
    this.series.clear();
    this.last = null;
    if (this.label === null) this.series.set('', new Series(this.bounds.length));
  }

  /** As a prom-client metric, for `registry.registerMetric` (it reads `name`, `get` and `reset`). */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}
