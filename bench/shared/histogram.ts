/**
 * A latency histogram with log-spaced buckets (2 % wide), cheap to record into and to
 * merge across generator processes: only the bucket counts and the exact maximum travel
 * over IPC, never the individual samples.
 */

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets cover 1 µs … ~10^9 µs (about 17 minutes). */
const BUCKETS = Math.ceil(Math.log(1e9) / LOG_GROWTH) + 2;

/** What crosses the process boundary. */
export interface HistogramData {
  /** Sparse bucket counts: [bucketIndex, count] pairs. */
  buckets: [number, number][];
  count: number;
  /** Largest sample, µs. */
  max: number;
  /** Sum of samples, µs (for the mean). */
  sum: number;
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  /** Records one sample, in microseconds. */
  record(us: number): void {
    const v = us < 1 ? 1 : us;
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log(v) / LOG_GROWTH));
    this.counts[i]!++;
    this.count++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  merge(d: HistogramData): void {
    for (const [i, c] of d.buckets) this.counts[i]! += c;
    this.count += d.count;
    this.sum += d.sum;
    if (d.max > this.max) this.max = d.max;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, max: this.max, sum: this.sum };
  }

  /** The value (µs) below which fraction `q` of the samples fall (bucket upper bound). */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.pow(GROWTH, i + 1));
    }
    return this.max;
  }

  static from(parts: readonly HistogramData[]): Histogram {
    const h = new Histogram();
    for (const p of parts) h.merge(p);
    return h;
  }
}
