/**
 * The monitor's HTTP side: the page (token required), its script and stylesheet, and the
 * CometD client's modules from the `cometd` package (no token: they hold no data).
 *
 * Only GET and HEAD; every answer carries `nosniff`; the page carries a strict
 * Content-Security-Policy (scripts and styles from this origin only, no inline code) and
 * is never cached (it holds the token).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import createDebug from 'debug';
import { MONITOR_CSS, MONITOR_JS, monitorHtml } from './monitor-page.js';
import type { BearerTokens } from '../transports/bearer-token.js';

const debug = createDebug('bayeux:monitor');

/** What the HTTP side needs. */
export interface MonitorHttpOptions {
  basePath: string;
  bayeuxPath: string;
  channel: string;
  historySeconds: number;
  tokens: BearerTokens;
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // 'self' covers the same origin's ws:/wss: too (CSP level 3), for the WebSocket transport.
  "connect-src 'self'",
  // The CometD client runs its timers in a Worker made from a blob (they keep time in a
  // background tab); only script already running on the page can make such a URL.
  'worker-src blob:',
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const JS = 'text/javascript; charset=utf-8';

/**
 * The `.js` files of the installed `cometd` package by file name, read once. A request
 * names one of them or gets a 404: no path built from the URL ever reaches the file system.
 */
function cometdFiles(): Map<string, Buffer> {
  const dir = dirname(createRequire(import.meta.url).resolve('cometd/package.json'));
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (name.endsWith('.js') && statSync(file).isFile()) files.set(name, readFileSync(file));
  }
  return files;
}

/** The request handler for every path under `basePath`. */
export function monitorHttpHandler(options: MonitorHttpOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { basePath, tokens } = options;
  const cometd = cometdFiles();
  const css = Buffer.from(MONITOR_CSS);
  const js = Buffer.from(MONITOR_JS);

  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://monitor');
    } catch {
      return send(res, req, 400, 'text/plain; charset=utf-8', 'bad request\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, req, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const path = url.pathname;
    if (path === basePath || path === basePath + '/') {
      const token = presentedToken(req, url);
      if (!tokens.matches(token)) {
        debug('page refused: %s', token === undefined ? 'no token' : 'wrong token');
        res.setHeader('WWW-Authenticate', 'Bearer realm="bayeux-server monitor"');
        return send(res, req, 401, 'text/plain; charset=utf-8', 'unauthorized: send the monitor token as "Authorization: Bearer <token>" or ?token=<token>\n');
      }
      res.setHeader('Content-Security-Policy', CSP);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Referrer-Policy', 'no-referrer');
      const html = monitorHtml({ ...options, token });
      return send(res, req, 200, 'text/html; charset=utf-8', html);
    }
    if (path === basePath + '/monitor.js') return send(res, req, 200, JS, js);
    if (path === basePath + '/monitor.css') return send(res, req, 200, 'text/css; charset=utf-8', css);
    const prefix = basePath + '/cometd/';
    if (path.startsWith(prefix)) {
      const body = cometd.get(path.slice(prefix.length));
      if (body) return send(res, req, 200, JS, body);
    }
    send(res, req, 404, 'text/plain; charset=utf-8', 'not found\n');
  };
}

/** The token of a page request: `Authorization: Bearer <token>`, else `?token=`. */
function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  const m = auth === undefined ? null : /^Bearer +(\S+) *$/i.exec(auth);
  if (m) return m[1];
  return url.searchParams.get('token') ?? undefined;
}

function send(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (!res.hasHeader('Cache-Control')) res.setHeader('Cache-Control', 'no-cache');
  res.end(req.method === 'HEAD' ? undefined : body);
}
