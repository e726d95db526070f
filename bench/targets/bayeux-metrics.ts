/**
 * Target: `bayeux`, mounted the same way, whose Prometheus metrics (`bayeux-server/metrics`)
 * the bench turns on and off between measurement windows (`npm run bench -- metrics`), so
 * on and off run in one process, heap and set of connections. It starts with them off.
 * While on, the registry is scraped in-process once a second (Prometheus scrapes every 15 s
 * by default: this is the costlier case), so the scrapes' own CPU counts against them.
 */
import { BayeuxServer } from '../../index.js';
import { createMetrics, type BayeuxMetrics } from '../../metrics.js';
import { runTarget } from './host.js';
import { mountBayeux } from './mount-bayeux.js';

void runTarget((server, config) => {
  const bayeux = new BayeuxServer({ timeout: config.timeout, maxInterval: config.maxInterval });
  let on: { metrics: BayeuxMetrics; scrape: NodeJS.Timeout } | null = null;
  return {
    ...mountBayeux(server, bayeux, config),
    metrics(want) {
      if (want && !on) {
        const metrics = createMetrics(bayeux);
        const scrape = setInterval(() => {
          metrics.registry.metrics().catch((err: unknown) => console.error('scrape failed', err));
        }, 1000);
        scrape.unref();
        on = { metrics, scrape };
      } else if (!want && on) {
        clearInterval(on.scrape);
        on.metrics.close();
        on = null;
      }
    },
  };
});
