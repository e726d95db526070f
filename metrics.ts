/**
 * `bayeux-server/metrics`: Prometheus metrics of a Bayeux server (sessions, held connects,
 * handshakes, publishes, deliveries by transport, queue overflows, engine health and calls,
 * request and publish latency). Needs `prom-client`, an optional peer dependency that only
 * this entry point loads: `npm install prom-client`. Each metric is described in
 * docs/metrics.md.
 *
 * ```ts
 * import { BayeuxServer } from 'bayeux-server';
 * import { createMetrics } from 'bayeux-server/metrics';
 * const bayeux = new BayeuxServer();
 * const metrics = createMetrics(bayeux);
 * app.get('/metrics', metrics.handler);
 * ```
 *
 * @packageDocumentation
 * @module bayeux-server/metrics
 */
export { createMetrics, type BayeuxMetrics, type MetricsOptions } from './transports/metrics.js';
