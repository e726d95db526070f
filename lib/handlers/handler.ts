/**
 * What a meta-channel handler is given: the core, one validated message, and the state of
 * the request it came in.
 */
import type { Core } from '../core.js';
import type { Exchange } from '../exchange.js';
import type { Message, Reply } from '../message.js';

/** Per-request state shared by the handlers of one request's messages (never across requests). */
export interface RequestState {
  readonly exchange: Exchange;
  /** Number of messages in the request (a connect among others is never held). */
  readonly size: number;
  /** Deliveries taken from the session's queue, written ahead of the replies. */
  mail: string[] | null;
  /** With acknowledged delivery: the batch number of the mail a connect took (the latest number when it took none). */
  ackBatch?: number;
  /** The session that sent the request, once one of its messages proved it exists. */
  sessionId: string | null;
  /** `performance.now()` when the batch reached the core; 0 when no metrics time requests. */
  readonly started: number;
}

/**
 * A handler for one validated message. Null only when the connect was held. Handlers
 * answer synchronously when they can (a synchronous engine, no policy or hooks), so the
 * most frequent request — a lone `/meta/connect` — costs no promise at all.
 */
export type Handler = (core: Core, message: Message, state: RequestState) => Reply | null | Promise<Reply | null>;
