/**
 * One standalone server process: a BayeuxServer on its engine, mounted on node:http (or
 * node:https) at the configured path with its WebSocket upgrades, beside the health, metrics,
 * publish and monitor endpoints. It runs alone or as a worker of cli/workers.ts, and stops by
 * the SIGTERM recipe of docs/scaling.md: stop listening, drain, close, exit 0.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import createDebug from 'debug';
import type { BayeuxServerOptions } from '../lib/options.js';
import { BayeuxServer } from '../lib/server.js';
import { callbackPolling } from '../transports/callback-polling.js';
import { eventSource } from '../transports/event-source.js';
import { createHandler } from '../transports/http-handler.js';
import { iframeStreaming } from '../transports/iframe-streaming.js';
import { longPolling } from '../transports/long-polling.js';
import type { Transport } from '../transports/transport.js';
import { webSocket } from '../transports/websocket.js';
import { ackExtension } from '../extensions/ack.js';
import { timesyncExtension } from '../extensions/timesync.js';
import type { Extension } from '../lib/server-session.js';
import { patternOf, type CliConfig, type ExtensionName, type TransportName } from './config.js';
import { loadEndpoints } from './endpoints.js';
import { createEngine, engineName } from './engine.js';
import type { Log } from './log.js';
import { messageOf } from './log.js';
import { createRouter } from './routes.js';
import type { TlsFiles } from './tls.js';

const debug = createDebug('bayeux:cli');

const EXTENSIONS: Record<ExtensionName, () => Extension> = {
  ack: ackExtension,
  timesync: timesyncExtension,
};

const TRANSPORTS: Record<TransportName, () => Transport> = {
  websocket: webSocket,
  'long-polling': longPolling,
  'callback-polling': callbackPolling,
  iframe: iframeStreaming,
  eventsource: eventSource,
};

/** The configuration keys that are BayeuxServer options, passed on as they are. */
const SERVER_KEYS = [
  'timeout',
  'interval',
  'maxInterval',
  'maxBodyBytes',
  'bodyTimeout',
  'maxMessageBytes',
  'maxBatchMessages',
  'maxQueue',
  'maxSubscriptionsPerSession',
  'maxSessions',
  'maxSessionsPerAddress',
  'maxHandshakesPerSecondPerAddress',
  'maxSessionsPerBrowser',
] as const satisfies readonly (keyof CliConfig & keyof BayeuxServerOptions)[];

export interface StandaloneOptions {
  tls: TlsFiles | null;
  log: Log;
  /** Say at start what is missing (metrics); a primary says it once for all its workers. */
  warn: boolean;
}

/** A running standalone server. */
export interface Standalone {
  readonly bayeux: BayeuxServer;
  readonly httpServer: http.Server;
  /** Where clients connect: `http://host:port/path`. */
  readonly url: string;
  /** Stops listening, drains, closes (the SIGTERM recipe); resolves once every connection has ended. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the server and resolves once it listens. */
export async function startStandalone(config: CliConfig, { tls, log, warn }: StandaloneOptions): Promise<Standalone> {
  const options: BayeuxServerOptions = {};
  for (const key of SERVER_KEYS) (options as Record<string, unknown>)[key] = config[key];
  const engine = await createEngine(config);
  const bayeux = new BayeuxServer(engine === undefined ? options : { ...options, engine });
  // Logged, never thrown: an extension's failure or an engine outage is no reason to stop serving.
  bayeux.on('error', (err) => log.error('error', err));
  bayeux.on('engineDown', (cause) => log.warn(`engine down: ${messageOf(cause)}; clients are told to retry`));
  bayeux.on('engineUp', () => log.warn('engine up again'));
  for (const name of config.extensions) bayeux.addExtension(EXTENSIONS[name]());

  const endpoints = await loadEndpoints(bayeux, config, log, warn);
  const handler = createHandler(bayeux, {
    path: config.path,
    transports: config.transports.map((name) => TRANSPORTS[name]()),
    ...(config.cors.length > 0 ? { cors: { origins: config.cors.map((o) => patternOf(o) ?? o) } } : {}),
  });
  const router = createRouter(bayeux, handler, config.path, endpoints, log);
  const httpServer = tls === null ? http.createServer(router) : https.createServer({ key: tls.key, cert: tls.cert }, router);
  httpServer.on('upgrade', handler.upgrade);

  // Take traffic once the engine has opened (or given up: /readyz then says so).
  await bayeux.ready();
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  httpServer.on('error', (err) => log.error('server error', err));
  const url = urlOf(httpServer, tls !== null, config.path);
  debug('listening on %s (engine %s)', url, engineName(config));

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // No new connections; resolves once every open one has ended.
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      // Held connects answered with advice to reconnect at once, new handshakes refused with
      // advice to handshake again: clients move to another process (with Redis, keeping their sessions).
      const drained = await bayeux.drain({ timeout: config.drainTimeout });
      if (!drained) log.warn(`some held connects were still unanswered after ${config.drainTimeout} ms; closing anyway`);
      // Requests still arriving on open connections get 503; WebSockets still open are closed (1001).
      await bayeux.close();
      endpoints.close();
      httpServer.closeIdleConnections();
      // A response still being written gets a moment; then whatever is open is cut.
      setTimeout(() => httpServer.closeAllConnections(), 2000).unref();
      await closed;
    })());
  return { bayeux, httpServer, url, stop };
}

/** `http://127.0.0.1:8000/cometd`, with the port actually bound (port 0 picks one). */
export function urlOf(server: http.Server, secure: boolean, path: string): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `${secure ? 'https' : 'http'}://${host}:${address.port}${path}`;
}

/**
 * Stops the server on SIGTERM and SIGINT and exits 0 (at once when it is not listening yet);
 * past the drain timeout and a few seconds more, exits anyway: a connection that will not end
 * must not keep a deploy waiting. Installed before the server starts, so that a signal during
 * start-up is not the default one (death by signal).
 */
export function stopOnSignals(server: () => Standalone | null, drainTimeout: number, log: Log): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    const running = server();
    debug('%s: stopping%s', signal, running === null ? ' (not listening yet)' : '');
    if (running === null) process.exit(0);
    setTimeout(() => {
      log.warn(`still stopping ${drainTimeout + 5000} ms after ${signal}; exiting`);
      process.exit(0);
    }, drainTimeout + 5000).unref();
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('stopping failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
