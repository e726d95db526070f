/**
 * Starts a BayeuxServer mounted at `/cometd` in a real HTTP server on 127.0.0.1 (port 0
 * unless a port is given, to restart on the same one), inside the framework a spec names.
 * Every mount also serves the app's own route `GET /app/ping` (answering
 * `pong from <mount>`), to show that requests outside the mount path reach the app.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import connect from 'connect';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import {
  BayeuxServer,
  createHandler,
  fastifyPlugin,
  koaMiddleware,
  type BayeuxHandler,
  type BayeuxServerOptions,
} from '../../index.js';

/** The frameworks the interop specs run every scenario in. */
export const INTEROP_MOUNTS = ['express', 'koa', 'node:http'] as const;
/** Every way a spec can mount the server. */
export type Mount = (typeof INTEROP_MOUNTS)[number] | 'fastify' | 'connect' | 'express+parsers';

export const MOUNT_PATH = '/cometd';
export const APP_ROUTE = '/app/ping';

/** A started server. */
export interface RunningServer {
  readonly mount: Mount;
  readonly bayeux: BayeuxServer;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** The Bayeux URL clients use: `<origin>/cometd`. */
  readonly url: string;
  /** Requests under the mount path that reached Bayeux with a body already parsed by middleware. */
  readonly stats: { preParsedBodies: number };
  /** The node:http server (Fastify's own for `fastify`), e.g. to add another `upgrade` listener. */
  readonly httpServer: http.Server;
  /** Closes the Bayeux server, then the HTTP server (idempotent). */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Listen on this port (to restart a server where clients expect it). Default 0. */
  port?: number;
}

const running = new Set<RunningServer>();

/** Stops every server started through this module and not stopped yet (for afterEach). */
export async function stopAllServers(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((s) => s.stop()));
}

/** Starts a server mounted in `mount` with the given Bayeux options. */
export async function startServer(mount: Mount, options: BayeuxServerOptions = {}, start: StartOptions = {}): Promise<RunningServer> {
  const bayeux = new BayeuxServer(options);
  const port = start.port ?? 0;
  const pong = `pong from ${mount}`;
  const stats = { preParsedBodies: 0 };
  let closeHttp: () => Promise<void>;
  let actualPort: number;
  let httpServer: http.Server;

  if (mount === 'fastify') {
    const app = Fastify();
    await app.register(fastifyPlugin(bayeux), { path: MOUNT_PATH });
    app.get(APP_ROUTE, async () => pong);
    await app.listen({ host: '127.0.0.1', port });
    actualPort = (app.server.address() as AddressInfo).port;
    httpServer = app.server;
    closeHttp = async () => {
      const closing = app.close();
      forceCloseLater(app.server);
      await closing;
    };
  } else {
    const { listener, upgrade } = requestListener(mount, bayeux, pong, stats);
    const server = http.createServer(listener);
    server.on('upgrade', upgrade);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    actualPort = (server.address() as AddressInfo).port;
    httpServer = server;
    closeHttp = () => closeHttpServer(server);
  }

  const origin = `http://127.0.0.1:${actualPort}`;
  let stopping: Promise<void> | null = null;
  const handle: RunningServer = {
    mount,
    bayeux,
    port: actualPort,
    origin,
    url: origin + MOUNT_PATH,
    stats,
    httpServer,
    stop() {
      running.delete(handle);
      stopping ??= (async () => {
        await bayeux.close();
        await closeHttp();
      })();
      return stopping;
    },
  };
  running.add(handle);
  return handle;
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;
type Upgrade = BayeuxHandler['upgrade'];

/** The request listener of a mount, and the `upgrade` listener its docs tell users to add. */
function requestListener(
  mount: Exclude<Mount, 'fastify'>,
  bayeux: BayeuxServer,
  pong: string,
  stats: RunningServer['stats'],
): { listener: Listener; upgrade: Upgrade } {
  switch (mount) {
    case 'express':
    case 'express+parsers': {
      const app = express();
      if (mount === 'express+parsers') {
        // Bodies arrive pre-parsed in req.body; the middleware must use them.
        app.use(express.json());
        app.use(express.urlencoded({ extended: false }));
        app.use(MOUNT_PATH, (req, _res, next) => {
          if (typeof req.body === 'object' && req.body !== null && Object.keys(req.body as object).length > 0) stats.preParsedBodies++;
          next();
        });
      }
      const cometd = createHandler(bayeux, { path: MOUNT_PATH });
      app.use(MOUNT_PATH, cometd);
      app.get(APP_ROUTE, (_req, res) => {
        res.type('text/plain').send(pong);
      });
      return { listener: app, upgrade: cometd.upgrade };
    }
    case 'connect': {
      const app = connect();
      const cometd = createHandler(bayeux, { path: MOUNT_PATH });
      app.use(cometd);
      app.use(APP_ROUTE, (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.setHeader('Content-Type', 'text/plain');
        res.end(pong);
      });
      return { listener: app, upgrade: cometd.upgrade };
    }
    case 'koa': {
      const app = new Koa();
      const cometd = koaMiddleware(bayeux, { path: MOUNT_PATH });
      app.use(cometd);
      app.use(async (ctx, next) => {
        if (ctx.method === 'GET' && ctx.path === APP_ROUTE) {
          ctx.type = 'text/plain';
          ctx.body = pong;
          return;
        }
        await next();
      });
      return { listener: app.callback(), upgrade: cometd.upgrade };
    }
    case 'node:http': {
      const handle = createHandler(bayeux, { path: MOUNT_PATH });
      const listener: Listener = (req, res) =>
        handle(req, res, () => {
          if (req.method === 'GET' && req.url === APP_ROUTE) {
            res.writeHead(200, { 'Content-Type': 'text/plain' });
            res.end(pong);
          } else {
            res.writeHead(404, { 'Content-Type': 'text/plain' });
            res.end('not found');
          }
        });
      return { listener, upgrade: handle.upgrade };
    }
  }
}

/**
 * Closes an HTTP server: idle keep-alive connections at once, and any connection still
 * busy after a short grace period (a client retrying into a closing server), so a
 * restart on the same port and mocha's exit never wait on a client.
 */
function closeHttpServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    forceCloseLater(server);
  });
}

function forceCloseLater(server: http.Server): void {
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), 250);
  timer.unref();
  server.once('close', () => clearTimeout(timer));
}

/** GETs a path on the server's origin; resolves to status and body text. */
export async function httpGet(origin: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(origin + path);
  return { status: res.status, body: await res.text() };
}
