/**
 * The {@link RequestContext} of an HTTP request: what extensions, policies and listeners
 * see of the request a message came with. Exchanges and iframe documents extend it, so the
 * context costs no object of its own per request.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { RequestContext } from '../lib/exchange.js';

export class HttpRequestContext implements RequestContext {
  constructor(readonly req: IncomingMessage) {}

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }
  get remoteAddress(): string | undefined {
    return this.req.socket.remoteAddress;
  }
  get url(): string {
    return this.req.url ?? '';
  }
}
