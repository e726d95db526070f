/**
 * What the monitor shows, gathered without touching the hot path: subscriber counts kept
 * from the server's cluster events, message rates from the deltas of `bayeux.stats`
 * between ticks, and the held connects and engine status read at each tick.
 */
import type { BayeuxServer, CountsByTransport, EngineStatus, ServerStats } from '../index.js';

/** One row of the channels table. */
export interface ChannelCount {
  channel: string;
  subscribers: number;
}

/** Messages per second over one tick. */
export interface RatePoint {
  /** When the tick ran (ms since the epoch). */
  time: number;
  /** Messages published to broadcast channels (by clients and by app code). */
  in: number;
  /** Messages written to clients. */
  out: number;
}

/** What the monitor delivers to each open page every tick. */
export interface MonitorSnapshot {
  /** When it was taken (ms since the epoch). */
  time: number;
  /** Live sessions in the engine (the whole cluster on Redis); null when the engine did not answer. */
  sessions: number | null;
  /** The most subscribed channels, most subscribers first (at most {@link TOP_CHANNELS}). */
  channels: ChannelCount[];
  /** Messages per second since the previous tick, this process. */
  rates: { in: number; out: number };
  /** Connects this process holds, by connection type. */
  held: CountsByTransport;
  /** The engine's health. */
  engine: EngineStatus;
  /** Only in the first snapshot a page gets: the rates of the last `seconds`, oldest first. */
  history?: { seconds: number; points: RatePoint[] };
}

/** How many channels a snapshot lists. */
export const TOP_CHANNELS = 50;

/**
 * Subscriber counts per channel, from `clusterSubscribe` / `clusterUnsubscribe` /
 * `clusterSessionRemoved`. The memory engine always emits these; the Redis engine only
 * when created with `clusterEvents: true` (without it the table stays empty). Only
 * subscriptions made after the monitor was created are seen.
 */
export class ChannelCounts {
  private readonly bySession = new Map<string, Set<string>>();
  private readonly counts = new Map<string, number>();

  private readonly subscribed = (clientId: string, channel: string): void => {
    if (channel === this.hidden) return;
    let set = this.bySession.get(clientId);
    if (!set) this.bySession.set(clientId, (set = new Set()));
    if (set.has(channel)) return;
    set.add(channel);
    this.counts.set(channel, (this.counts.get(channel) ?? 0) + 1);
  };

  private readonly unsubscribed = (clientId: string, channel: string): void => {
    const set = this.bySession.get(clientId);
    if (!set?.delete(channel)) return;
    if (set.size === 0) this.bySession.delete(clientId);
    this.decrement(channel);
  };

  private readonly removed = (clientId: string): void => {
    const set = this.bySession.get(clientId);
    if (!set) return;
    this.bySession.delete(clientId);
    for (const channel of set) this.decrement(channel);
  };

  constructor(
    private readonly bayeux: BayeuxServer,
    /** The monitor's own channel, never listed. */
    private readonly hidden: string,
  ) {
    bayeux.on('clusterSubscribe', this.subscribed);
    bayeux.on('clusterUnsubscribe', this.unsubscribed);
    bayeux.on('clusterSessionRemoved', this.removed);
  }

  /** The `n` channels with most subscribers (ties by name). */
  top(n = TOP_CHANNELS): ChannelCount[] {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, n)
      .map(([channel, subscribers]) => ({ channel, subscribers }));
  }

  stop(): void {
    this.bayeux.off('clusterSubscribe', this.subscribed);
    this.bayeux.off('clusterUnsubscribe', this.unsubscribed);
    this.bayeux.off('clusterSessionRemoved', this.removed);
  }

  private decrement(channel: string): void {
    const n = (this.counts.get(channel) ?? 0) - 1;
    if (n > 0) this.counts.set(channel, n);
    else this.counts.delete(channel);
  }
}

/** Message rates from the server's running counters, and the last `seconds` of them. */
export class RateHistory {
  private readonly points: RatePoint[] = [];
  private last: { at: number; published: number; delivered: number };

  constructor(
    private readonly stats: ServerStats,
    /** How much history to keep. */
    readonly seconds: number,
  ) {
    this.last = this.read();
  }

  /** Takes this tick's rates (since the previous call) and keeps them in the history. */
  sample(): RatePoint {
    const now = this.read();
    const dt = (now.at - this.last.at) / 1000;
    const rate = (delta: number): number => (dt > 0 ? Math.round((delta / dt) * 10) / 10 : 0);
    const point: RatePoint = {
      time: Date.now(),
      in: rate(now.published - this.last.published),
      out: rate(now.delivered - this.last.delivered),
    };
    this.last = now;
    this.points.push(point);
    const oldest = point.time - this.seconds * 1000;
    while (this.points.length > 0 && this.points[0]!.time < oldest) this.points.shift();
    return point;
  }

  /** The kept rates, oldest first (a copy). */
  history(): RatePoint[] {
    return this.points.slice();
  }

  private read(): { at: number; published: number; delivered: number } {
    // A monotonic clock for the interval: the wall clock may jump.
    return { at: performance.now(), published: this.stats.published, delivered: this.stats.deliveredTotal };
  }
}
