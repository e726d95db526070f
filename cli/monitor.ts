/**
 * The live monitor: a page at `GET <basePath>` showing sessions, channels with their
 * subscriber counts, message rates, held connects and the engine's health, updated over
 * Bayeux itself (the page is a CometD client of the monitor's service channel).
 *
 * One shared timer (unref'd) samples the rates every `intervalMs` and, while someone
 * watches, delivers a snapshot to each watching session. See docs/monitor.md.
 *
 *   const monitor = createMonitor(bayeux, { token: process.env.MONITOR_TOKEN, bayeuxPath: '/cometd' });
 *   // route GET /monitor and /monitor/** to monitor.handler; monitor.stop() on shutdown
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { BayeuxServer } from '../index.js';
import { ChannelCounts, RateHistory, type MonitorSnapshot, type RatePoint } from './monitor-data.js';
import { MonitorFeed } from './monitor-feed.js';
import { monitorHttpHandler } from './monitor-http.js';
import { BearerTokens } from '../transports/bearer-token.js';

export type { ChannelCount, MonitorSnapshot, RatePoint } from './monitor-data.js';

const debug = createDebug('bayeux:monitor');

/** The service channel monitor pages subscribe to (with `ext.monitorToken`). */
export const MONITOR_CHANNEL = '/service/monitor';

/** Options of {@link createMonitor}. */
export interface MonitorOptions {
  /** The secret a viewer must present; several to rotate them (any one is accepted). */
  token: string | string[];
  /** Where Bayeux is mounted on the same origin (e.g. `/cometd`): the page's CometD client connects there. */
  bayeuxPath: string;
  /** Where the monitor is served. Default `/monitor`. */
  basePath?: string;
  /** How often snapshots go out, ms. Default 1000. */
  intervalMs?: number;
  /** How much rate history the chart shows, seconds. Default 300. */
  historySeconds?: number;
}

/** A running monitor. */
export interface Monitor {
  /** Serves every path under `basePath` (the page and its assets). */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /** Stops the timer and takes the monitor's listeners and extension off the server (idempotent). */
  stop(): void;
}

interface Resolved {
  tokens: string[];
  bayeuxPath: string;
  basePath: string;
  intervalMs: number;
  historySeconds: number;
}

/** Creates the monitor of `bayeux` and starts its timer. Throws a `TypeError` naming a bad option. */
export function createMonitor(bayeux: BayeuxServer, options: MonitorOptions): Monitor {
  if (typeof bayeux !== 'object' || bayeux === null || typeof bayeux.addExtension !== 'function') {
    throw invalid('bayeux', 'must be a BayeuxServer');
  }
  const o = resolve(options);
  const tokens = new BearerTokens(o.tokens);
  const channels = new ChannelCounts(bayeux, MONITOR_CHANNEL);
  const rates = new RateHistory(bayeux.stats, o.historySeconds);
  const feed = new MonitorFeed(bayeux, MONITOR_CHANNEL, tokens);
  const handler = monitorHttpHandler({ ...o, channel: MONITOR_CHANNEL, tokens });

  async function snapshot(point: RatePoint): Promise<MonitorSnapshot> {
    let sessions: number | null = null;
    try {
      sessions = await bayeux.sessionCount();
    } catch (err) {
      debug('session count failed: %O', err);
    }
    return {
      time: point.time,
      sessions,
      channels: channels.top(),
      rates: { in: point.in, out: point.out },
      held: bayeux.heldConnects(),
      engine: bayeux.engineStatus,
    };
  }

  let busy = false;
  async function tick(): Promise<void> {
    // Rates are sampled every tick, watched or not, so a page opened later gets a full chart.
    const point = rates.sample();
    // A tick still delivering (a slow engine) is not overtaken: this one is skipped.
    if (feed.size === 0 || busy) return;
    busy = true;
    try {
      await feed.send(await snapshot(point), { seconds: o.historySeconds, points: rates.history() });
    } catch (err) {
      debug('tick failed: %O', err);
    } finally {
      busy = false;
    }
  }

  const timer = setInterval(() => void tick(), o.intervalMs);
  timer.unref();
  let stopped = false;
  return {
    handler,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      feed.stop();
      channels.stop();
    },
  };
}

function resolve(options: MonitorOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object');
  const tokens = typeof options.token === 'string' ? [options.token] : options.token;
  if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === 'string' && t.length > 0)) {
    throw invalid('token', 'must be a non-empty string or a non-empty array of them');
  }
  const bayeuxPath = options.bayeuxPath;
  if (!isPath(bayeuxPath)) throw invalid('bayeuxPath', 'must be a path starting with "/" (e.g. "/cometd")');
  const basePath = options.basePath ?? '/monitor';
  if (!isPath(basePath) || basePath === '/' || basePath.endsWith('/')) {
    throw invalid('basePath', 'must be a path starting with "/" and not ending with "/" (e.g. "/monitor")');
  }
  const intervalMs = options.intervalMs ?? 1000;
  if (!Number.isInteger(intervalMs) || intervalMs < 100 || intervalMs > 60_000) {
    throw invalid('intervalMs', 'must be an integer from 100 to 60000');
  }
  const historySeconds = options.historySeconds ?? 300;
  if (!Number.isInteger(historySeconds) || historySeconds < 1 || historySeconds > 24 * 3600) {
    throw invalid('historySeconds', 'must be an integer from 1 to 86400');
  }
  return { tokens, bayeuxPath, basePath, intervalMs, historySeconds };
}

/** A URL path of plain characters (it goes into the page and is compared with request paths as is). */
function isPath(value: unknown): value is string {
  return typeof value === 'string' && /^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(value) && !value.includes('//');
}

function invalid(option: string, rule: string): TypeError & { code: 'ERR_BAYEUX_INVALID_OPTION' } {
  return Object.assign(new TypeError(`bayeux-server monitor: option ${option} ${rule}`), { code: 'ERR_BAYEUX_INVALID_OPTION' as const });
}
