/**
 * What the protocol core sees of one request/response, whatever the transport.
 *
 * A transport turns a request into a batch of raw messages and hands the core an
 * {@link Exchange}. The core answers through `send` — now, or later when the exchange
 * carries a held `/meta/connect` — or refuses the whole request through `fail`. The core
 * never touches HTTP objects.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The request a message arrived with: read-only, travels with the message. */
export interface RequestContext {
  /** Request headers (lower-cased names). */
  readonly headers: IncomingHttpHeaders;
  /** The peer address, when known. */
  readonly remoteAddress: string | undefined;
  /** The request URL as received (path and query). */
  readonly url: string;
  /** True for an in-process client (`server.localClient()`): no request, trusted code. */
  readonly local?: boolean;
}

/** A request/response pair as the core handles it. */
export interface Exchange {
  /** The request the batch came with. */
  readonly context: RequestContext;
  /** Connection type of the transport carrying it (e.g. `long-polling`). */
  readonly connectionType: string;
  /** Whether queued deliveries may ride on replies other than `/meta/connect`. */
  readonly piggyback: boolean;
  /** False once the peer has gone away or the response has been written. */
  readonly open: boolean;
  /** Writes these serialized messages as one response and ends it. */
  send(parts: readonly string[]): void;
  /** Refuses the whole request (HTTP status chosen by the core, message for humans). */
  fail(status: 400 | 413 | 415 | 503, message: string): void;
  /**
   * Streaming transports (WebSocket) only: writes deliveries at once while the request
   * stays unanswered, so a held `/meta/connect` goes on holding (its reply is the heartbeat)
   * and mail does not wait for it. Request/response transports leave it out: there, mail
   * answers the held connect.
   */
  stream?(parts: readonly string[]): void;
  /**
   * Streaming transports only: true while the peer is not reading fast enough (its send
   * buffer is over the transport's limit). Mail then stays queued in the engine until the
   * transport calls `BayeuxServer.exchangeWritable`.
   */
  readonly congested?: boolean;
  /** @internal Set by the core while the exchange carries a held connect; transports leave it alone. */
  held?: object | null;
  /**
   * The browser the request came from (the `BAYEUX_BROWSER` cookie), when the transport
   * knows it. Connects of one browser held at once are limited by `maxSessionsPerBrowser`.
   */
  readonly browserId?: string | undefined;
}
