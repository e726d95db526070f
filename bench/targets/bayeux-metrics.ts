/**
 * Target: `bayeux` with Prometheus metrics on (`bayeux-server/metrics`), mounted the same
 * way, so the two differ only in the metrics. The registry is scraped in-process once a
 * second (Prometheus scrapes every 15 s by default: this is the costlier case), so the
 * scrapes' own CPU counts against the metrics too.
 */
import { BayeuxServer } from '../../index.js';
import { createMetrics } from '../../metrics.js';
import { runTarget } from './host.js';
import { mountBayeux } from './mount-bayeux.js';

void runTarget((server, config) => {
  const bayeux = new BayeuxServer({ timeout: config.timeout, maxInterval: config.maxInterval });
  const metrics = createMetrics(bayeux);
  const scrape = setInterval(() => {
    metrics.registry.metrics().catch((err: unknown) => console.error('scrape failed', err));
  }, 1000);
  scrape.unref();
  return mountBayeux(server, bayeux, config);
});
