/**
 * websocket: Bayeux over WebSocket (`ws` does the framing and the handshake), connection
 * type `websocket`. The socket upgrades on the mount path; each text frame carries a JSON
 * array of messages (one message object accepted), and every reply to one frame goes out in
 * one frame. A `/meta/connect` is held up to `timeout` as the heartbeat while deliveries
 * are written as soon as they are queued (one frame per event-loop turn), so CometD's and
 * Faye's clients are served alike. Sessions and mail live in the engine as on long-polling:
 * a socket that dies loses nothing still queued, and another socket (or HTTP) may take the
 * session over.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { z } from 'zod';
import type { BayeuxServer } from '../lib/server.js';
import { checkOptions, milliseconds } from './check-options.js';
import { writeHttpError } from './http-errors.js';
import type { Transport } from './transport.js';
import { WsConnection, type WsConnectionHost } from './websocket-connection.js';

const debug = createDebug('bayeux:transport:websocket');

/** How long a socket gets to complete its closing handshake once we sent our close frame. */
const CLOSE_GRACE_MS = 2000;

/** Options for {@link webSocket}. */
export interface WebSocketOptions {
  /**
   * Largest frame a client may send, in bytes; a larger one closes the socket (1009).
   * Default: the server's `maxBodyBytes`.
   */
  maxFrameBytes?: number;
  /**
   * Bytes written to a socket and not yet taken by the peer above which no more mail is
   * written to it: the mail waits in the engine queue (bounded by the server's `maxQueue`,
   * overflow reported by `queueOverflow`) and flows again once the peer has read. Bounds
   * what a client that stops reading costs the process. Default 1048576 (1 MiB).
   */
  maxBufferedBytes?: number;
  /**
   * ms between WebSocket pings, which keep proxies and firewalls that cut idle connections
   * from cutting the socket. A peer that sent nothing (no pong either) since the previous
   * ping is taken for dead and its socket closed; its session then expires as usual. 0 for
   * no pings. Default 25000.
   */
  pingInterval?: number;
  /** ms a new socket may stay silent before its first message; then it is closed (1008). Default 10000. */
  firstMessageTimeout?: number;
  /**
   * Each new socket must begin with a `/meta/handshake` (CometD's
   * `requireHandshakePerConnection`): other messages on it are answered `402::session_unknown`
   * with advice to handshake. Default false: a new socket may carry on an existing session
   * (a page reload, a reconnection after a network blip). Faye's client handshakes over HTTP
   * before it opens its socket: leave it off where Faye clients connect.
   */
  requireHandshakePerConnection?: boolean;
  /**
   * permessage-deflate compression: false (default: it costs CPU and tens of KB of memory
   * per socket), true, or `ws`'s `perMessageDeflate` settings object.
   */
  perMessageDeflate?: boolean | Record<string, unknown>;
}

/** The WebSocket transport, with counts for monitoring. */
export interface WebSocketTransport extends Transport {
  /** Sockets open now. */
  readonly openSockets: number;
  /** Sockets opened since the transport was created. */
  readonly socketsOpened: number;
}

const optionsSchema = z.strictObject({
  maxFrameBytes: z.number().int().min(64).optional(),
  maxBufferedBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  pingInterval: milliseconds(0).default(25_000),
  firstMessageTimeout: milliseconds(100).default(10_000),
  requireHandshakePerConnection: z.boolean().default(false),
  perMessageDeflate: z
    .union([z.boolean(), z.record(z.string(), z.unknown())], { error: 'must be true, false or ws perMessageDeflate settings' })
    .default(false),
});

type CheckedOptions = z.output<typeof optionsSchema>;

class WebSocketTransportImpl implements WebSocketTransport, WsConnectionHost {
  readonly connectionType = 'websocket';
  readonly maxBufferedBytes: number;
  readonly firstMessageTimeout: number;
  readonly requireHandshake: boolean;
  /** One `ws` server per Bayeux server this transport serves (usually one). */
  private readonly servers = new Map<BayeuxServer, WebSocketServer>();
  private readonly sockets = new Set<WsConnection>();
  private pinger: NodeJS.Timeout | null = null;
  private opened = 0;

  constructor(private readonly options: CheckedOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.firstMessageTimeout = options.firstMessageTimeout;
    this.requireHandshake = options.requireHandshakePerConnection;
  }

  get openSockets(): number {
    return this.sockets.size;
  }
  get socketsOpened(): number {
    return this.opened;
  }

  /** Plain HTTP requests are the other transports'. */
  accepts(): boolean {
    return false;
  }

  handle(_req: IncomingMessage, res: ServerResponse): void {
    writeHttpError(res, 400, 'a WebSocket request must ask for an upgrade');
  }

  acceptsUpgrade(req: IncomingMessage): boolean {
    return req.headers.upgrade?.toLowerCase() === 'websocket';
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, server: BayeuxServer): void {
    // ws answers a malformed WebSocket handshake (version, key) with 400 itself.
    this.wsServerFor(server).handleUpgrade(req, socket, head, (ws) => this.open(ws, req, server));
  }

  private wsServerFor(server: BayeuxServer): WebSocketServer {
    let wss = this.servers.get(server);
    if (wss === undefined) {
      // ws 8.23 takes closeTimeout; @types/ws does not list it yet.
      const options: ServerOptions & { closeTimeout: number } = {
        noServer: true,
        clientTracking: false,
        maxPayload: this.options.maxFrameBytes ?? server.options.maxBodyBytes,
        perMessageDeflate: this.options.perMessageDeflate,
        // A peer that never answers our close frame is cut after this (ws waits 30 s by default).
        closeTimeout: CLOSE_GRACE_MS,
      };
      wss = new WebSocketServer(options);
      this.servers.set(server, wss);
      server.once('close', () => this.serverClosed(server));
    }
    return wss;
  }

  private open(ws: WebSocket, req: IncomingMessage, server: BayeuxServer): void {
    const connection = new WsConnection(this, server, ws, req);
    this.sockets.add(connection);
    this.opened++;
    if (this.pinger === null && this.options.pingInterval > 0) {
      this.pinger = setInterval(this.pingAll, this.options.pingInterval).unref();
    }
  }

  /** One timer for every socket: each is pinged, and closed if it was silent since the last ping. */
  private readonly pingAll = (): void => {
    for (const c of this.sockets) c.ping();
  };

  closed(connection: WsConnection): void {
    this.sockets.delete(connection);
    if (this.sockets.size === 0 && this.pinger !== null) {
      clearInterval(this.pinger);
      this.pinger = null;
    }
  }

  private serverClosed(server: BayeuxServer): void {
    debug('server closed: closing its sockets');
    // A peer that never answers is cut after CLOSE_GRACE_MS (ws's closeTimeout).
    for (const c of this.sockets) if (c.server === server) c.close(1001, 'server closed');
    this.servers.get(server)?.close();
    this.servers.delete(server);
  }
}

/**
 * Creates the WebSocket transport (connection type `websocket`), first in the default
 * transport list. Upgrades reach it through the handler's `upgrade` function (see
 * docs/transports.md for the line each framework needs). Throws a `TypeError`
 * (`ERR_BAYEUX_INVALID_OPTION`) naming a bad or unknown option.
 */
export function webSocket(options: WebSocketOptions = {}): WebSocketTransport {
  return new WebSocketTransportImpl(checkOptions(optionsSchema, options, 'webSocket'));
}
