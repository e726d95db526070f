/**
 * The {@link Exchange} of one HTTP request: request context for the core, and the
 * response writer the transport supplies (JSON body, JSONP script, …).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange, RequestContext } from '../lib/exchange.js';
import type { BayeuxServer } from '../lib/server.js';
import { writeHttpError } from './http-errors.js';
import { HttpRequestContext } from './request-context.js';

/** Writes a complete response from serialized messages. */
export type ResponseWriter = (res: ServerResponse, parts: readonly string[]) => void;

/** One request/response pair; it is its own request context (no extra allocation). */
export class HttpExchange extends HttpRequestContext implements Exchange {
  held: object | null = null;
  /** The `BAYEUX_BROWSER` id of the request, set by the handler when browser cookies are on. */
  browserId: string | undefined = undefined;
  private done = false;

  constructor(
    req: IncomingMessage,
    readonly res: ServerResponse,
    readonly connectionType: string,
    readonly piggyback: boolean,
    private readonly writer: ResponseWriter,
  ) {
    super(req);
  }

  get context(): RequestContext {
    return this;
  }

  get open(): boolean {
    if (this.done) return false;
    const socket = this.res.socket;
    return !this.res.destroyed && (socket === null || !socket.destroyed);
  }

  send(parts: readonly string[]): void {
    if (this.done) return;
    this.done = true;
    // A held connect answered by a drain: its client's next request must open a new connection.
    if (this.server?.isDraining === true && !this.res.headersSent) this.res.setHeader('Connection', 'close');
    this.writer(this.res, parts);
  }

  fail(status: 400 | 413 | 415 | 503, message: string): void {
    if (this.done) return;
    this.done = true;
    writeHttpError(this.res, status, message);
  }

  /** Starts watching for the client going away while a connect is held. */
  watch(server: BayeuxServer): void {
    this.server = server;
    // One shared listener and a back-reference: no closure per held connection.
    (this.res as WatchedResponse)[kExchange] = this;
    this.res.on('close', onHeldResponseClose);
  }

  /** Set by {@link watch}. */
  private server: BayeuxServer | null = null;

  /** @internal */
  closed(): void {
    if (this.held !== null && this.server !== null) this.server.exchangeClosed(this);
  }
}

const kExchange = Symbol('bayeux.exchange');
type WatchedResponse = ServerResponse & { [kExchange]?: HttpExchange };

function onHeldResponseClose(this: WatchedResponse): void {
  this[kExchange]?.closed();
}
