/**
 * Hands the messages an HTTP transport parsed to the protocol core, and watches the
 * exchange for the client going away when the core holds it (a long poll).
 */
import { isPromise } from '../lib/engines/engine.js';
import type { BayeuxServer } from '../lib/server.js';
import type { HttpExchange } from './http-exchange.js';

/** Processes `messages` through `exchange`; never throws. */
export function dispatch(server: BayeuxServer, exchange: HttpExchange, messages: unknown[], bytes: number): void {
  // Draining: each response ends its connection, so the client's next request opens a new
  // one, which a load balancer (even one forwarding whole TCP connections) sends elsewhere.
  if (server.isDraining) exchange.res.setHeader('Connection', 'close');
  let done: void | Promise<void>;
  try {
    done = server.processNow(messages, exchange, bytes);
  } catch (err) {
    return processFailed(server, exchange, err);
  }
  // Most requests (a held heartbeat above all) are handled without a single promise.
  if (isPromise(done)) done.then(() => watchIfHeld(server, exchange), (err: unknown) => processFailed(server, exchange, err));
  else watchIfHeld(server, exchange);
}

function watchIfHeld(server: BayeuxServer, exchange: HttpExchange): void {
  if (exchange.held !== null) exchange.watch(server);
}

function processFailed(server: BayeuxServer, exchange: HttpExchange, err: unknown): void {
  // The core turns failures into replies; this is a last line of defence.
  server.reportError(err);
  exchange.fail(400, 'request could not be processed');
}
