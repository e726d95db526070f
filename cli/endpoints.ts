/**
 * The standalone server's optional endpoints: the publish API and the monitor (both behind
 * the publish token, so off without one) and Prometheus metrics. prom-client is an optional
 * peer dependency, so the metrics module is imported only when metrics are on; when it cannot
 * be loaded the server runs without them, says so once at start, and answers /metrics 501.
 */
import createDebug from 'debug';
import type { BayeuxServer } from '../lib/server.js';
import { publishEndpoint } from '../transports/publish-endpoint.js';
import type { CliConfig } from './config.js';
import type { Log } from './log.js';
import { messageOf } from './log.js';
import { createMonitor } from './monitor.js';
import type { Endpoints, Missing } from './routes.js';

const debug = createDebug('bayeux:cli:endpoints');

/** The endpoints, and what stops them when the server does. */
export interface LoadedEndpoints extends Endpoints {
  close(): void;
}

/** What /metrics answers when prom-client is missing. */
export const METRICS_UNAVAILABLE: Missing = { status: 501, message: 'metrics need the prom-client package: npm i prom-client' };

/** Creates the endpoints `config` asks for. `warn`: say at start when metrics cannot be served (a primary says it for its workers). */
export async function loadEndpoints(bayeux: BayeuxServer, config: CliConfig, log: Log, warn: boolean): Promise<LoadedEndpoints> {
  const stops: (() => void)[] = [];
  const endpoints: LoadedEndpoints = {
    metrics: { status: 404, message: 'not found' },
    close: () => {
      for (const stop of stops.splice(0)) {
        try {
          stop();
        } catch (err) {
          debug('stopping an endpoint failed: %O', err);
        }
      }
    },
  };
  const tokens = config.publishToken;
  if (tokens.length > 0) {
    endpoints.publish = publishEndpoint(bayeux, { token: tokens });
    const monitor = createMonitor(bayeux, { token: tokens, bayeuxPath: config.path });
    endpoints.monitor = monitor.handler;
    stops.push(() => monitor.stop());
  }
  if (config.metrics) {
    const metrics = await loadMetrics();
    if (metrics.ok) {
      const m = metrics.createMetrics(bayeux);
      endpoints.metrics = m.handler;
      stops.push(() => m.close());
    } else {
      if (warn) log.warn(metrics.warning);
      endpoints.metrics = METRICS_UNAVAILABLE;
    }
  }
  return endpoints;
}

type MetricsModule = typeof import('../metrics.js');
type LoadedMetrics = ({ ok: true } & MetricsModule) | { ok: false; warning: string };

/** Imports the metrics module (and with it prom-client), or says why it cannot. */
export async function loadMetrics(): Promise<LoadedMetrics> {
  try {
    return { ok: true, ...(await import('../metrics.js')) };
  } catch (err) {
    debug('metrics unavailable: %O', err);
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /prom-client/.test(messageOf(err));
    return {
      ok: false,
      warning: missing
        ? 'metrics are off: the prom-client package is not installed (npm i prom-client to serve /metrics, --no-metrics to silence this)'
        : `metrics are off: ${messageOf(err)}`,
    };
  }
}
