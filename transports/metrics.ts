/**
 * Prometheus metrics of a Bayeux server (`bayeux-server/metrics`, on prom-client).
 *
 * Nothing here runs per message. The counters and gauges read what the server counts anyway
 * (`BayeuxServer.stats`, engine calls included; its held connects; its engine's status) when
 * the registry is scraped; only the two latency histograms observe as traffic flows, through
 * the server's timing hook.
 * Every value covers this process; see docs/metrics.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import { codedTypeError } from '../lib/coded-errors.js';
import { ENGINE_OPERATIONS } from '../lib/engines/counting-engine.js';
import { isPromise } from '../lib/engines/engine.js';
import { BayeuxServer } from '../lib/server.js';
import type { StatsObserver } from '../lib/server-stats.js';
import { LeanHistogram } from './metrics-histogram.js';
import { resolveMetricsOptions, type MetricsOptions } from './metrics-options.js';

export type { MetricsOptions } from './metrics-options.js';

const debug = createDebug('bayeux:metrics');

/** What {@link createMetrics} returns. */
export interface BayeuxMetrics {
  /** The registry holding the metrics (the one passed as `registry`, or their own). */
  readonly registry: Registry;
  /**
   * A `node:http` request listener (also an Express or Connect handler) serving the registry
   * in the Prometheus text format: `GET` and `HEAD` get 200 with `registry.contentType`,
   * any other method 405. Mount it on the path Prometheus scrapes (e.g. `/metrics`).
   */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Stops measuring: removes the server's timing hook and these metrics (and the default
   * metrics it added) from the registry. Idempotent.
   */
  close(): void;
}

/** Session removal reasons, always all reported (from 0). */
const REASONS = ['disconnect', 'timeout', 'server'] as const;

/**
 * Creates the Prometheus metrics of `bayeux` (see docs/metrics.md for each one). One set of
 * metrics per server at a time: `close()` the first before creating another. Needs
 * `prom-client`, an optional peer dependency (`npm install prom-client`).
 *
 * ```ts
 * const metrics = createMetrics(bayeux);
 * app.get('/metrics', metrics.handler);
 * ```
 *
 * Throws a `TypeError` (`code` `ERR_BAYEUX_INVALID_OPTION`) on a bad option or a registry that
 * already has a metric of the same name, and (`ERR_BAYEUX_INVALID_ARGUMENT`) when `bayeux` is
 * not a `BayeuxServer` or already has metrics.
 */
export function createMetrics(bayeux: BayeuxServer, options: MetricsOptions = {}): BayeuxMetrics {
  if (!(bayeux instanceof BayeuxServer)) throw codedTypeError('ERR_BAYEUX_INVALID_ARGUMENT', 'createMetrics needs a BayeuxServer');
  const o = resolveMetricsOptions(options);
  const stats = bayeux.stats;
  if (stats.observer !== null) {
    throw codedTypeError('ERR_BAYEUX_INVALID_ARGUMENT', 'createMetrics: this server has metrics already (close() them first)');
  }
  const registry = o.registry ?? new Registry();
  const p = o.prefix;
  // Built unregistered, so a name clash is found before anything is registered.
  const buckets = [...o.requestBuckets];
  const metrics: Metric[] = [
    new Gauge({
      name: `${p}sessions`,
      help: 'Live sessions in the engine (with the Redis engine: of the whole cluster).',
      registers: [],
      async collect() {
        try {
          const n = bayeux.engine.inner.sessionCount(); // not counted as an engine call
          this.set(isPromise(n) ? await n : n);
        } catch (err) {
          // The engine is down (see engine_up): keep the last value rather than fail the scrape.
          debug('sessionCount failed during a scrape: %O', err);
        }
      },
    }),
    new Gauge({
      name: `${p}held_connects`,
      help: 'Connects (long polls, WebSocket heartbeats, streams) this process holds now, by connection type.',
      labelNames: ['transport'],
      registers: [],
      collect() {
        this.reset();
        for (const t of bayeux.connectionTypes) this.set({ transport: t }, 0);
        const held = bayeux.heldConnects();
        for (const t in held) this.set({ transport: t }, held[t]!);
      },
    }),
    counter(`${p}handshakes_total`, 'Successful handshakes in this process.', [], (c) => c.inc(stats.handshakes)),
    counter(`${p}disconnects_total`, 'Sessions ended by a /meta/disconnect in this process.', [], (c) => c.inc(stats.disconnects)),
    counter(`${p}sessions_removed_total`, 'Sessions that ended here, by reason (timeout: expired).', ['reason'], (c) => {
      for (const reason of REASONS) c.inc({ reason }, stats.removed[reason]);
    }),
    counter(`${p}messages_published_total`, 'Messages published to broadcast channels in this process, by clients and by app code.', ['source'], (c) => {
      c.inc({ source: 'client' }, stats.publishedByClients);
      c.inc({ source: 'server' }, stats.publishedByServer);
    }),
    counter(`${p}messages_queued_total`, 'Deliveries queued by those publishes: one per receiving session.', [], (c) => c.inc(stats.queued)),
    counter(`${p}messages_delivered_total`, 'Messages this process wrote to clients, by connection type.', ['transport'], (c) => {
      const delivered = stats.delivered;
      for (const t in delivered) c.inc({ transport: t }, delivered[t]!);
    }),
    counter(`${p}messages_dropped_total`, 'Messages discarded because a session queue was full (maxQueue).', [], (c) => c.inc(stats.dropped)),
    new Gauge({
      name: `${p}engine_up`,
      help: 'Whether the engine answers: 1 up, 0 down or still starting.',
      registers: [],
      collect() {
        this.set(bayeux.engineStatus === 'up' ? 1 : 0);
      },
    }),
    counter(`${p}engine_calls_total`, 'Calls of the engine methods by this process, by operation.', ['operation'], (c) => {
      const calls = stats.engineCalls;
      for (const op of ENGINE_OPERATIONS) c.inc({ operation: op }, calls[op]);
    }),
    counter(`${p}engine_failures_total`, 'Engine calls that threw or rejected, by operation.', ['operation'], (c) => {
      const failures = stats.engineFailures;
      for (const op of ENGINE_OPERATIONS) c.inc({ operation: op }, failures[op]);
    }),
  ];
  const requests = new LeanHistogram(
    `${p}request_duration_seconds`,
    'Time from a batch reaching the server until its response is written, for batches without a held /meta/connect, by connection type.',
    'transport',
    buckets,
  );
  const publishes = new LeanHistogram(
    `${p}publish_duration_seconds`,
    'Time from the start of a publish (client or app) until it is queued for every subscriber.',
    null,
    buckets,
  );
  metrics.push(requests.asMetric(), publishes.asMetric());

  const names = metrics.map((m) => (m as unknown as { name: string }).name);
  for (const name of names) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `createMetrics option registry: it has a metric named ${name} already (use another prefix)`);
    }
  }
  for (const m of metrics) registry.registerMetric(m);
  const defaults: string[] = [];
  if (o.collectDefaultMetrics) {
    const before = new Set(registry.getMetricsAsArray().map((m) => m.name));
    try {
      collectDefaultMetrics({ register: registry });
    } catch (err) {
      for (const name of names) registry.removeSingleMetric(name);
      throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `createMetrics option collectDefaultMetrics: ${(err as Error).message}`);
    }
    for (const m of registry.getMetricsAsArray()) if (!before.has(m.name)) defaults.push(m.name);
  }

  const observer: StatsObserver = {
    request(transport, seconds) {
      requests.observe(seconds, transport);
    },
    publish(seconds) {
      publishes.observe(seconds);
    },
  };
  stats.observer = observer;
  debug('metrics on, prefix %s', p);

  let closed = false;
  return {
    registry,
    handler(req, res) {
      serveMetrics(registry, req, res);
    },
    close() {
      if (closed) return;
      closed = true;
      if (stats.observer === observer) stats.observer = null;
      for (const name of [...names, ...defaults]) registry.removeSingleMetric(name);
      debug('metrics off');
    },
  };
}

/** A counter whose value is read at scrape time: reset, then set from what `read` adds. */
function counter(name: string, help: string, labelNames: string[], read: (c: Counter) => void): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [],
    collect() {
      this.reset();
      read(this);
    },
  });
}

/** Answers a scrape: the registry in text format for GET and HEAD, 405 otherwise. */
function serveMetrics(registry: Registry, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('method not allowed: use GET\n');
    return;
  }
  registry.metrics().then(
    (text) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(200, {
        'Content-Type': registry.contentType,
        'Content-Length': Buffer.byteLength(text),
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    (err: unknown) => {
      // A collector of another metric in a shared registry failed: the scrape fails, the app does not.
      debug('scrape failed: %O', err);
      if (res.headersSent || res.destroyed) return;
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('metrics collection failed\n');
    },
  );
}
