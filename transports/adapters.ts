/**
 * Thin adapters for web frameworks: each hands (req, res) to the one HTTP handler and
 * knows its framework, nothing else. Express and Connect need none: the handler is their
 * middleware as it is (`app.use('/cometd', createHandler(bayeux))`).
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import type { BayeuxServer } from '../lib/server.js';
import { checkOptions } from './check-options.js';
import { handlerFor, handlerOptions, type BayeuxHandler, type HandlerOptions } from './http-handler.js';

/** fastifyPlugin takes the mount path from `fastify.register`, so its own options have none. */
const fastifyOptions = handlerOptions.extend({
  path: z.undefined({ error: "goes to fastify.register(plugin, { path: '/cometd' }), not to fastifyPlugin" }).optional(),
});
/** What the adapter reads of the options Fastify hands the plugin (Fastify adds keys of its own). */
const fastifyRegisterOptions = z.object({ path: handlerOptions.shape.path });

/**
 * The part of a Koa context the adapter uses (no dependency on Koa's types).
 *
 * @inline
 */
interface KoaLikeContext {
  /** The Node request. */
  req: IncomingMessage;
  /** The Node response, written by the handler. */
  res: ServerResponse;
  /** Set to false for Bayeux requests, so that Koa leaves the response alone. */
  respond?: boolean;
  /** Koa's request; a body parser that ran first leaves the parsed body here. */
  request: { body?: unknown };
}

/** What {@link koaMiddleware} returns: the middleware, and the listener WebSocket upgrades need. */
export type KoaBayeuxMiddleware = ((ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<void>) & {
  /** For the HTTP server's `upgrade` event: `app.listen(port).on('upgrade', middleware.upgrade)`. */
  upgrade: BayeuxHandler['upgrade'];
};

/**
 * Koa middleware: `app.use(koaMiddleware(bayeux, { path: '/cometd' }))`. Requests under
 * the path are answered by Bayeux (Koa's own response is switched off); others go on.
 * For WebSocket, hand its `upgrade` to the server `app.listen` returns:
 * `app.listen(port).on('upgrade', middleware.upgrade)`. The options are checked as
 * `createHandler` checks them.
 */
export function koaMiddleware(server: BayeuxServer, options: HandlerOptions = {}): KoaBayeuxMiddleware {
  const handler = handlerFor(server, checkOptions(handlerOptions, options, 'koaMiddleware') as HandlerOptions);
  const middleware = async (ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<void> => {
    if (!handler.matches(ctx.req.url)) {
      await next();
      return;
    }
    ctx.respond = false;
    // A body parser that ran before us leaves the body on ctx.request.
    if (ctx.request.body !== undefined && (ctx.req as { body?: unknown }).body === undefined) {
      (ctx.req as { body?: unknown }).body = ctx.request.body;
    }
    handler(ctx.req, ctx.res);
  };
  return Object.assign(middleware, { upgrade: handler.upgrade });
}

/**
 * The part of a Fastify instance the adapter uses.
 *
 * @inline
 */
interface FastifyLike {
  /** Registers the `onRequest` hook that hands Bayeux requests to the handler. */
  addHook(
    name: 'onRequest',
    hook: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }, done: () => void) => void,
  ): unknown;
  /** Fastify's Node server: the plugin listens for WebSocket upgrades on it. */
  server?: EventEmitter;
}

/**
 * Fastify plugin: `fastify.register(fastifyPlugin(bayeux), { path: '/cometd' })`. It takes
 * requests under the path before Fastify routes or parses them (so any body type works),
 * and WebSocket upgrades under it on `fastify.server`.
 * The options are checked as `createHandler` checks them, at once; the path given to
 * `register` (default `/cometd`) when Fastify loads the plugin.
 */
export function fastifyPlugin(server: BayeuxServer, options: Omit<HandlerOptions, 'path'> = {}) {
  const checked = checkOptions(fastifyOptions, options, 'fastifyPlugin') as HandlerOptions;
  const plugin = (fastify: FastifyLike, opts: { path?: string }, done: (err?: Error) => void): void => {
    let path: string;
    try {
      path = checkOptions(fastifyRegisterOptions, opts, 'fastifyPlugin (fastify.register)').path ?? '/cometd';
    } catch (err) {
      return done(err as Error);
    }
    const handler = handlerFor(server, { ...checked, path });
    fastify.addHook('onRequest', (request, reply, next) => {
      if (!handler.matches(request.raw.url)) return next();
      reply.hijack();
      handler(request.raw, reply.raw);
    });
    fastify.server?.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => handler.upgrade(req, socket, head));
    done();
  };
  // Not encapsulated (what fastify-plugin does): the hook must see every request, 404s included.
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

/**
 * Plain node:http: takes requests under `options.path` (default `/cometd`) on an existing
 * server and passes every other request to the listeners it already had; takes WebSocket
 * upgrades under the path too, leaving others to the server's other `upgrade` listeners.
 * The options are checked as `createHandler` checks them.
 */
export function attachToServer(httpServer: HttpServer, server: BayeuxServer, options: HandlerOptions = {}): BayeuxHandler {
  const checked = checkOptions(handlerOptions, options, 'attachToServer') as HandlerOptions;
  const handler = handlerFor(server, { ...checked, path: checked.path ?? '/cometd' });
  const others = httpServer.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  httpServer.removeAllListeners('request');
  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (handler.matches(req.url)) return handler(req, res);
    if (others.length === 0) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 not found\n');
      return;
    }
    for (const l of others) l.call(httpServer, req, res);
  });
  httpServer.on('upgrade', handler.upgrade);
  return handler;
}
