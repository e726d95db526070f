/**
 * The transport interface. A transport turns HTTP requests it accepts into batches for
 * the protocol core and writes what the core answers; it knows nothing of channels.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { BayeuxServer } from '../lib/server.js';

/** What the handler passes on to its transports with each request. */
export interface HandlerContext {
  /**
   * The browser a request comes from (its `BAYEUX_BROWSER` cookie; a handshake without one
   * is given a new one), or undefined when browser cookies are off or the request has none.
   * `messages` are the request's parsed messages.
   */
  browserId(req: IncomingMessage, res: ServerResponse, messages: readonly unknown[]): string | undefined;
}

/** A pluggable transport (long-polling, callback-polling, iframe, …). */
export interface Transport {
  /** The connection type advertised in `supportedConnectionTypes`. */
  readonly connectionType: string;
  /** Other connection-type names clients use for this transport. */
  readonly aliases?: readonly string[];
  /**
   * Deliveries go over a stream the transport keeps open beside the connects (EventSource):
   * connects of this type are heartbeats (see `ConnectionTypeRegistration.streamed`).
   */
  readonly streamed?: boolean;
  /** Whether this transport handles the request (method, parameters, headers). */
  accepts(req: IncomingMessage): boolean;
  /** Handles an accepted request to the end, answering through `res`. */
  handle(req: IncomingMessage, res: ServerResponse, server: BayeuxServer, context?: HandlerContext): void;
  /** Transports reached by an HTTP upgrade (WebSocket): whether this transport takes the upgrade. */
  acceptsUpgrade?(req: IncomingMessage): boolean;
  /**
   * Takes an accepted upgrade (the mount path and the origin policy are checked already);
   * `head` is the first packet of the upgraded stream, as Node's `upgrade` event gives it.
   */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, server: BayeuxServer, context?: HandlerContext): void;
}
