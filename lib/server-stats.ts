/**
 * Running counts of what this process's server did, for metrics and the monitor.
 *
 * Plain numbers the core bumps as it works (a counter per event, never a timer or an
 * allocation), read when someone asks: a Prometheus scrape, the monitor's tick. They count
 * from the server's creation, never go down, and cover this process only (with the Redis
 * engine each process counts what it did itself).
 */
import { engineCallCounts, type EngineCallCounts } from './engines/counting-engine.js';
import type { SessionRemovedReason } from './engines/engine.js';

/** Counts by connection type (`long-polling`, `websocket`, …). */
export type CountsByTransport = Record<string, number>;

/** @internal Receives the durations the core measures while it is set on {@link ServerStats}. */
export interface StatsObserver {
  /** A batch without a held `/meta/connect` was answered, `seconds` after it reached the core. */
  request(transport: string, seconds: number): void;
  /** A publish (client or app) was queued for every subscriber, `seconds` after it began. */
  publish(seconds: number): void;
}

/** What a {@link BayeuxServer} has done since it was created (see `BayeuxServer.stats`). */
export class ServerStats {
  /** Successful handshakes. */
  handshakes = 0;
  /** `/meta/disconnect` messages that ended a session. */
  disconnects = 0;
  /** Sessions that ended here, by reason (`timeout` is an expiry). */
  readonly removed: Record<SessionRemovedReason, number> = { disconnect: 0, timeout: 0, server: 0 };
  /** Messages published to broadcast channels by clients of this process. */
  publishedByClients = 0;
  /** Messages published to broadcast channels by app code (`BayeuxServer.publish`). */
  publishedByServer = 0;
  /** Deliveries queued by those publishes: one per receiving session. */
  queued = 0;
  /** Messages discarded because a session's queue was full (`maxQueue`). */
  dropped = 0;
  /** Messages written to clients by this process, by connection type. */
  readonly delivered: CountsByTransport = Object.create(null) as CountsByTransport;
  /** Engine calls the core made, by operation (a metrics scrape's own calls are not counted). */
  readonly engineCalls: EngineCallCounts = engineCallCounts();
  /** Engine calls that threw or whose promise rejected, by operation. */
  readonly engineFailures: EngineCallCounts = engineCallCounts();

  /** Messages published to broadcast channels, by clients and by app code. */
  get published(): number {
    return this.publishedByClients + this.publishedByServer;
  }

  /** Messages written to clients by this process, all transports. */
  get deliveredTotal(): number {
    let n = 0;
    for (const k in this.delivered) n += this.delivered[k]!;
    return n;
  }

  /**
   * @internal Who times requests and publishes (`bayeux-server/metrics`), or null: the core
   * reads the clock only while this is set, and checks it once per batch and per publish.
   */
  observer: StatsObserver | null = null;

  /** @internal `count` messages went out on a connection of type `transport`. */
  countDelivered(transport: string, count: number): void {
    this.delivered[transport] = (this.delivered[transport] ?? 0) + count;
  }
}
