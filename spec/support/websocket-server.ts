/**
 * A BayeuxServer on node:http at `/cometd` for the WebSocket specs, with what they watch
 * that `servers.ts` does not show: the WebSocket transport itself (its socket counts) and
 * the server side of every upgraded socket, to await its `close` event.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  BayeuxServer,
  createHandler,
  longPolling,
  webSocket,
  type BayeuxServerOptions,
  type WebSocketOptions,
  type WebSocketTransport,
} from '../../index.js';
import { Inbox, deferred, withTimeout, WAIT_MS } from './wait.js';

export interface WsTestServer {
  readonly bayeux: BayeuxServer;
  readonly transport: WebSocketTransport;
  readonly port: number;
  /** `http://127.0.0.1:<port>/cometd` */
  readonly url: string;
  /** The server side of each socket upgraded on the mount path, in order. */
  readonly upgrades: Inbox<Duplex>;
  stop(): Promise<void>;
}

const running = new Set<WsTestServer>();

/** Stops every server started here and not stopped yet (for afterEach). */
export async function stopAllWsServers(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((s) => s.stop()));
}

/** Resolves once `socket` has closed (at once if it already has). */
export function socketClosed(socket: Duplex, what: string, ms = WAIT_MS): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  const d = deferred<void>();
  socket.once('close', () => d.resolve());
  return withTimeout(d.promise, what, ms);
}

/** Starts a server offering WebSocket then long-polling. */
export async function startWsServer(options: BayeuxServerOptions = {}, ws: WebSocketOptions = {}): Promise<WsTestServer> {
  const bayeux = new BayeuxServer(options);
  const transport = webSocket(ws);
  const handler = createHandler(bayeux, { path: '/cometd', transports: [transport, longPolling()] });
  const upgrades = new Inbox<Duplex>();
  const httpServer = http.createServer((req, res) => handler(req, res));
  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (handler.matches(req.url)) upgrades.push(socket);
    handler.upgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;
  let stopping: Promise<void> | null = null;
  const server: WsTestServer = {
    bayeux,
    transport,
    port,
    url: `http://127.0.0.1:${port}/cometd`,
    upgrades,
    stop() {
      running.delete(server);
      stopping ??= (async () => {
        await bayeux.close();
        httpServer.closeAllConnections();
        for (const s of upgrades.items) s.destroy();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      })();
      return stopping;
    },
  };
  running.add(server);
  return server;
}
