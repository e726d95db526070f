/**
 * The one HTTP entry point: `(req, res, next?)`, usable as a node:http listener, Connect
 * or Express middleware, and wrapped by the Koa and Fastify adapters. It matches the
 * mount path (any sub-path, as the CometD client appends `/handshake`, `/connect`, …) and
 * hands the request to the first transport that accepts it.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import type { BayeuxServer } from '../lib/server.js';
import { BrowserCookie, browserCookieOptions, type BrowserCookieOptions } from './browser-cookie.js';
import { callbackPolling } from './callback-polling.js';
import { eventSource } from './event-source.js';
import { checkOptions } from './check-options.js';
import { answerOptions, Cors, corsOptions, type CorsOptions } from './cors.js';
import { writeHttpError } from './http-errors.js';
import { iframeStreaming } from './iframe-streaming.js';
import { longPolling } from './long-polling.js';
import type { HandlerContext, Transport } from './transport.js';
import { originAllowed, refuseUpgrade } from './upgrade.js';
import { webSocket } from './websocket.js';

/** Options for {@link createHandler}. */
export interface HandlerOptions {
  /**
   * Mount path such as `/cometd`: the handler takes that path and everything under it and
   * calls `next` (or answers 404) for the rest. It starts with `/`. It may be left unset
   * when the framework routes by path (`app.use('/cometd', handler)`), but WebSocket
   * upgrades, which no framework routes, need it: `app.use('/cometd', createHandler(bayeux,
   * { path: '/cometd' }))` and `app.use(createHandler(bayeux, { path: '/cometd' }))` both work.
   */
  path?: string;
  /**
   * Transports in order of preference. Default: WebSocket (it needs the handler's `upgrade`
   * function on the HTTP server's `upgrade` event, see {@link BayeuxHandler}),
   * long-polling, callback-polling (JSONP), iframe streaming (used only by clients that
   * ask for it: CometD pages that load `<mount>/iframe-transport.js`), then EventSource
   * (Faye's browser client, when WebSocket is unavailable). At least one;
   * each an object with `accepts`, `handle` and `connectionType`, such as {@link longPolling}
   * returns.
   */
  transports?: Transport[];
  /**
   * Cross-origin requests: which page origins may call the endpoint with XHR (with
   * credentials) or open a WebSocket on it. Default none: `OPTIONS` preflights are answered
   * without CORS headers, so browsers refuse cross-origin XHRs and the clients fall back to
   * callback-polling; WebSocket upgrades from pages of other origins are refused (403).
   * Example: `{ origins: ['https://app.example', /^https:\/\/[a-z]+\.example$/] }`.
   */
  cors?: CorsOptions;
  /**
   * The `BAYEUX_BROWSER` cookie that tells the tabs of one browser apart from other
   * browsers (see the server option `maxSessionsPerBrowser`): cookie attributes, or `false`
   * for no cookie. Default: on, with `Path=/; HttpOnly`, `Secure` on TLS requests, no
   * `SameSite` (browsers take `Lax`). Clients that do not send it back are not limited.
   */
  browserCookie?: BrowserCookieOptions | false;
}

/** What {@link Transport} promises: anything else would fail on the first request, not here. */
function isTransport(v: unknown): v is Transport {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<Transport>;
  return (
    typeof t.accepts === 'function' &&
    typeof t.handle === 'function' &&
    typeof t.connectionType === 'string' &&
    t.connectionType !== '' &&
    (t.aliases === undefined || (Array.isArray(t.aliases) && t.aliases.every((a) => typeof a === 'string' && a !== '')))
  );
}

/**
 * The shape and rules of {@link HandlerOptions}, checked once by createHandler and the adapters.
 *
 * @internal
 */
export const handlerOptions = z.strictObject({
  path: z
    .string()
    .regex(/^\/[^?#\s]*$/, "must start with '/' and hold no '?', '#' or blanks (e.g. '/cometd')")
    .optional(),
  transports: z
    .array(
      z.custom<Transport>(isTransport, {
        error: 'must be a transport: an object with accepts(req), handle(req, res, server) and a connectionType, as longPolling() returns',
      }),
    )
    .min(1, 'must list at least one transport')
    .optional(),
  cors: corsOptions.optional(),
  browserCookie: z.union([z.literal(false), browserCookieOptions], { error: 'must be cookie attributes or false' }).optional(),
});

/** A request handler; `next` is called for requests outside the mount path. */
export type BayeuxHandler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void) & {
  /** True when `url` falls under the mount path. */
  matches(url: string | undefined): boolean;
  /**
   * The listener for the HTTP server's `upgrade` event, which WebSocket needs:
   * `httpServer.on('upgrade', handler.upgrade)` (give the handler its `path` then).
   * Upgrades under the mount path get the origin policy and the WebSocket transport;
   * others are left to the server's other `upgrade` listeners (another `ws` server,
   * Socket.IO), or refused with 404 when there are none.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
};

/** Returns a matcher for `path` and its sub-paths (query strings ignored). */
export function pathMatcher(path: string | undefined): (url: string | undefined) => boolean {
  if (path === undefined || path === '' || path === '/') return () => true;
  const base = path.endsWith('/') ? path.slice(0, -1) : path;
  return (url) => {
    if (url === undefined || !url.startsWith(base)) return false;
    const c = url.charCodeAt(base.length);
    return Number.isNaN(c) || c === 47 /* / */ || c === 63 /* ? */;
  };
}

/**
 * Creates the HTTP handler for a server and registers its transports' connection types.
 * Throws a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`) naming the option when an option is
 * unknown or breaks its rule.
 */
export function createHandler(server: BayeuxServer, options: HandlerOptions = {}): BayeuxHandler {
  return handlerFor(server, checkOptions(handlerOptions, options, 'createHandler') as HandlerOptions);
}

/**
 * createHandler for options already checked (the adapters check their own, under their name).
 *
 * @internal
 */
export function handlerFor(server: BayeuxServer, options: HandlerOptions): BayeuxHandler {
  const transports = options.transports ?? [webSocket(), longPolling(), callbackPolling(), iframeStreaming(), eventSource()];
  for (const t of transports) {
    server.registerConnectionType({ name: t.connectionType, aliases: t.aliases ?? [], streamed: t.streamed === true });
    // With CORS on, long-polling works cross-origin too; Faye's browser client uses XHR
    // across origins only when the handshake lists its name for that.
    if (options.cors && t.connectionType === 'long-polling') server.registerConnectionType({ name: 'cross-origin-long-polling' });
  }
  const matches = pathMatcher(options.path);
  const cors = options.cors ? new Cors(options.cors) : null;
  const cookie = options.browserCookie === false ? null : new BrowserCookie(options.browserCookie ?? {});
  const context: HandlerContext = {
    browserId: cookie === null ? () => undefined : (req, res, messages) => cookie.identify(req, res, messages),
  };
  const handler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    // Express and Connect strip their mount path from req.url and keep the whole in originalUrl.
    if (!matches((req as { originalUrl?: string }).originalUrl ?? req.url)) {
      if (next) next();
      else writeHttpError(res, 404, 'not found');
      return;
    }
    if (cors !== null) {
      if (cors.apply(req, res)) return;
    } else if (req.method === 'OPTIONS') return answerOptions(res);
    for (const t of transports) {
      if (t.accepts(req)) return t.handle(req, res, server, context);
    }
    if (req.method === 'GET' || req.method === 'HEAD') writeHttpError(res, 400, 'unknown Bayeux transport (a GET needs message and jsonp parameters)');
    else writeHttpError(res, 405, `method ${req.method} not allowed`);
  };
  const allows = cors === null ? null : (origin: string) => cors.allows(origin);
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!matches(req.url)) {
      // Not ours: another listener takes it, unless there is none (the socket would hang).
      const owner = (socket as Duplex & { server?: EventEmitter }).server;
      if (owner === undefined || owner.listenerCount('upgrade') <= 1) refuseUpgrade(socket, 404, 'not found');
      return;
    }
    if (server.isClosed) return refuseUpgrade(socket, 503, 'server closed');
    if (server.isDraining) return refuseUpgrade(socket, 503, 'server draining', { 'Retry-After': '1' });
    if (!originAllowed(req, allows)) return refuseUpgrade(socket, 403, 'origin not allowed');
    for (const t of transports) {
      if (t.upgrade !== undefined && t.acceptsUpgrade?.(req) === true) return t.upgrade(req, socket, head, server, context);
    }
    // Promptly, so that a CometD client falls back to long-polling at once.
    refuseUpgrade(socket, 400, 'no transport here takes this upgrade');
  };
  return Object.assign(handler, { matches, upgrade });
}
