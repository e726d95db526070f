/**
 * The standalone server's request routing: its own endpoints (`/healthz`, `/readyz`,
 * `/metrics`, `/monitor/**`, `POST <path>/publish`) first, then the Bayeux handler, which
 * takes its mount path and answers 404 for anything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { BayeuxServer } from '../lib/server.js';
import type { BayeuxHandler } from '../transports/http-handler.js';
import { writeHttpError } from '../transports/http-errors.js';
import type { Log } from './log.js';

const debug = createDebug('bayeux:cli:routes');

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** An endpoint that is not served, and how it answers instead. */
export interface Missing {
  status: 404 | 501;
  message: string;
}

/** The optional endpoints (cli/endpoints.ts loads them). */
export interface Endpoints {
  /** `POST <path>/publish`; only with a publish token. */
  publish?: Listener;
  /** `GET /metrics`, or why it is not served. */
  metrics: Listener | Missing;
  /** Everything under `/monitor`; only with a publish token. */
  monitor?: Listener;
}

/** The `request` listener of the standalone server. */
export function createRouter(bayeux: BayeuxServer, bayeuxHandler: BayeuxHandler, mountPath: string, endpoints: Endpoints, log: Log): Listener {
  const publishPath = `${mountPath.replace(/\/+$/, '')}/publish`;
  const route = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req.url);
    if (path === '/healthz') return probe(req, res, 200, { status: 'ok' });
    if (path === '/readyz') {
      // Out of the balancer while the engine cannot be reached, and while draining: new
      // clients should go to a process that will keep them.
      const engine = bayeux.engineStatus;
      const ready = engine === 'up' && !bayeux.isDraining && !bayeux.isClosed;
      return probe(req, res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', engine, draining: bayeux.isDraining });
    }
    if (path === '/metrics') return serve(endpoints.metrics, req, res);
    if (path === '/monitor' || path.startsWith('/monitor/')) return serve(endpoints.monitor ?? NOT_FOUND, req, res);
    if (path === publishPath && endpoints.publish !== undefined) return endpoints.publish(req, res);
    bayeuxHandler(req, res);
  };
  return (req, res) => {
    try {
      route(req, res);
    } catch (err) {
      // A bug in an endpoint: this request fails, the server goes on.
      log.error(`${req.method} ${req.url}`, err);
      if (!res.headersSent) writeHttpError(res, 500, 'internal error');
      else res.destroy();
    }
  };
}

const NOT_FOUND: Missing = { status: 404, message: 'not found' };

function serve(endpoint: Listener | Missing, req: IncomingMessage, res: ServerResponse): void {
  if (typeof endpoint === 'function') return endpoint(req, res);
  writeHttpError(res, endpoint.status, endpoint.message);
}

/** The path of a request target (`/a?b` → `/a`; absolute-form targets too). */
function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return url;
  }
}

/** A health probe's answer: JSON, never cached; GET and HEAD only. */
function probe(req: IncomingMessage, res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    debug('%s %s refused', req.method, req.url);
    req.resume();
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('405 method not allowed\n');
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}
