/**
 * Processing of one request's batch: structural checks, per-message validation and
 * dispatch, then the response — queued deliveries first, replies after, in request order.
 */
import createDebug from 'debug';
import { META, parseChannel } from './channel-name.js';
import { EngineUnavailableError, isPromise, type Engine } from './engine.js';
import { BayeuxErrorException, Errors } from './errors.js';
import type { Exchange } from './exchange.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handleHandshake } from './handlers/handshake.js';
import { handlePublish } from './handlers/publish.js';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe.js';
import { checkMessage, MessageProblem, type Message, type Reply } from './message.js';
import { failure } from './reply.js';
import type { BayeuxServer } from './server.js';

const debug = createDebug('bayeux:batch');

/** Per-request state shared by the handlers of one batch (never across requests). */
export interface BatchState {
  readonly exchange: Exchange;
  /** Number of messages in the batch (a connect in a larger batch is never held). */
  readonly size: number;
  /** Deliveries taken from the session's queue, written ahead of the replies. */
  mail: string[] | null;
  /** With acknowledged delivery: the batch number of the mail a connect took. */
  batch?: number;
  /** The session that sent the batch, once one of its messages proved it exists. */
  sessionId: string | null;
  /** Set by the connect handler when it holds the exchange; the response comes later. */
  held: boolean;
}

/**
 * A handler for one validated message. Null only when the connect was held. Handlers
 * answer synchronously when they can (a synchronous engine, no policy or hooks), so the
 * most frequent request — a lone `/meta/connect` — costs no promise at all.
 */
export type Handler = (server: BayeuxServer, message: Message, state: BatchState) => Reply | null | Promise<Reply | null>;

const metaHandlers: Record<string, Handler> = {
  [META.handshake]: handleHandshake,
  [META.connect]: handleConnect,
  [META.subscribe]: handleSubscribe,
  [META.unsubscribe]: handleUnsubscribe,
  [META.disconnect]: handleDisconnect,
};

function structuralProblem(batch: readonly unknown[], max: number): string | null {
  if (batch.length === 0) return 'empty batch';
  if (batch.length > max) return `too many messages in one request (at most ${max})`;
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return `message ${i} is not an object`;
    if (typeof (m as { channel?: unknown }).channel !== 'string') return `message ${i} has no channel`;
  }
  if (batch.length > 1) {
    for (const m of batch) {
      if ((m as { channel: string }).channel === META.handshake) return 'a handshake must be alone in its request';
    }
  }
  return null;
}

/**
 * Processes a batch and answers through the exchange (now, or later when held). Returns a
 * promise only when some step had to wait (an asynchronous engine, hooks, policies).
 */
export function processBatch(
  server: BayeuxServer,
  batch: readonly unknown[],
  exchange: Exchange,
  bodyBytes: number,
): void | Promise<void> {
  const problem = structuralProblem(batch, server.options.maxBatchMessages);
  if (problem !== null) return exchange.fail(400, problem);

  const state: BatchState = { exchange, size: batch.length, mail: null, sessionId: null, held: false };
  // Only when the whole body is over the limit can one message be; measure them then.
  const measure = bodyBytes > server.options.maxMessageBytes;
  return processFrom(server, batch, 0, state, measure, []);
}

/** Processes the messages from `first` on, in order, then answers. */
function processFrom(
  server: BayeuxServer,
  batch: readonly unknown[],
  first: number,
  state: BatchState,
  measure: boolean,
  replies: string[],
): void | Promise<void> {
  for (let i = first; i < batch.length; i++) {
    const outcome = processOne(server, batch[i] as { channel: string }, state, measure);
    if (isPromise(outcome)) {
      return outcome.then((o) => {
        if (record(o, replies)) return processFrom(server, batch, i + 1, state, measure, replies);
      });
    }
    if (!record(outcome, replies)) return;
  }
  return respond(server, state, replies);
}

/** Adds a reply to the response; false when the connect was held (answered later). */
function record(outcome: Outcome, replies: string[]): boolean {
  if (outcome === null) return false;
  if (outcome !== DROPPED) replies.push(serializeReply(outcome));
  return true;
}

/** Writes the replies, after the mail taken by a connect and any that can ride along. */
function respond(server: BayeuxServer, state: BatchState, replies: string[]): void | Promise<void> {
  if (state.sessionId !== null && state.exchange.piggyback) {
    let taken: ReturnType<Engine['takeQueued']>;
    try {
      taken = server.engine.takeQueued(state.sessionId, true);
    } catch (err) {
      return piggybackFailed(server, state, replies, err);
    }
    if (isPromise(taken)) {
      return taken.then(
        (more) => {
          addMail(state, more);
          return write(server, state, replies);
        },
        (err: unknown) => piggybackFailed(server, state, replies, err),
      );
    }
    addMail(state, taken);
  }
  return write(server, state, replies);
}

/**
 * Taking mail to ride along failed (the engine's store is unreachable): the replies are
 * ready and still go out; the mail stays queued for the next connect.
 */
function piggybackFailed(server: BayeuxServer, state: BatchState, replies: string[], err: unknown): void | Promise<void> {
  server.reportError(err);
  return write(server, state, replies);
}

function addMail(state: BatchState, more: string[] | null): void {
  if (more !== null && more.length > 0) state.mail = state.mail ? state.mail.concat(more) : more;
}

function write(server: BayeuxServer, state: BatchState, replies: string[]): void | Promise<void> {
  const { exchange, mail, sessionId } = state;
  if (!exchange.open) {
    // The client went away while we worked: keep its mail for the next connect. Nobody is
    // left to tell if that fails (Redis down): report it.
    if (mail && sessionId) {
      const put = server.engine.requeue(sessionId, mail);
      if (isPromise(put)) return put.catch((err: unknown) => server.reportError(err));
    }
    return;
  }
  if (mail === null) return exchange.send(replies);
  const prepared = sessionId === null ? mail : server.prepareMail(sessionId, mail);
  if (isPromise(prepared)) return prepared.then((m) => exchange.send(m.concat(replies)));
  exchange.send(prepared.concat(replies));
}

/** Returned by {@link processOne} when an outgoing extension dropped the reply. */
const DROPPED = Symbol('dropped');
type Outcome = Reply | null | typeof DROPPED;

function processOne(
  server: BayeuxServer,
  raw: { channel: string; id?: unknown },
  state: BatchState,
  measure: boolean,
): Outcome | Promise<Outcome> {
  const message = checkMessage(raw);
  if (message instanceof MessageProblem) {
    const id = typeof raw.id === 'string' ? raw.id : typeof raw.id === 'number' ? String(raw.id) : undefined;
    return failure({ id, channel: raw.channel }, Errors.fieldInvalid(message.problem));
  }
  if (measure && !fitsIn(raw, server.options.maxMessageBytes)) {
    return failure(message, Errors.messageTooLarge(server.options.maxMessageBytes));
  }
  if (server.extensions.hasIncoming || server.sessionExtensions.size > 0) return processWithHooks(server, message, state);
  return answer(server, message, state, guardedDispatch(server, message, state));
}

/** The incoming hooks run first; what they leave is dispatched (or refused). */
async function processWithHooks(server: BayeuxServer, message: Message, state: BatchState): Promise<Outcome> {
  let out: Message | null | string;
  try {
    out = await runIncoming(server, message, state);
  } catch (err) {
    return answer(server, message, state, errorReply(server, message, err));
  }
  if (typeof out === 'string') return answer(server, message, state, failure(message, { code: Number.parseInt(out, 10) || 400, error: out }));
  if (out === null) return answer(server, message, state, failure(message, Errors.messageDeleted()));
  return answer(server, out, state, guardedDispatch(server, out, state));
}

/** Dispatches, turning a throw or a rejection into an error reply. */
function guardedDispatch(server: BayeuxServer, message: Message, state: BatchState): Reply | null | Promise<Reply | null> {
  let reply: Reply | null | Promise<Reply | null>;
  try {
    reply = dispatch(server, message, state);
  } catch (err) {
    return errorReply(server, message, err);
  }
  return isPromise(reply) ? reply.catch((err: unknown) => errorReply(server, message, err)) : reply;
}

function errorReply(server: BayeuxServer, message: Message, err: unknown): Reply {
  if (err instanceof BayeuxErrorException) return failure(message, err.bayeux);
  // The engine's store is unreachable (Redis down): tell the client to retry later.
  if (err instanceof EngineUnavailableError) return failure(message, Errors.unavailable(err.retryMs));
  // Client data nested too deeply for JSON.stringify (a publish's data or ext): the client's fault.
  if (isStackOverflow(err)) return failure(message, Errors.fieldInvalid('message_too_deep'));
  debug('message on %s failed: %O', message.channel, err);
  server.reportError(err);
  return failure(message, Errors.internal());
}

/** The reply as the client gets it: echoes added, outgoing hooks run (null: held). */
function answer(server: BayeuxServer, message: Message, state: BatchState, reply: Reply | null | Promise<Reply | null>): Outcome | Promise<Outcome> {
  if (isPromise(reply)) return reply.then((r) => finishReply(server, message, state, r));
  return finishReply(server, message, state, reply);
}

function finishReply(server: BayeuxServer, message: Message, state: BatchState, reply: Reply | null): Outcome | Promise<Outcome> {
  if (reply === null) return null;
  // Clients key pending subscriptions by `subscription` (CometD drops a failed one by it):
  // a refusal by an extension must echo it as the handlers' own replies do.
  if (reply.subscription === undefined && message.subscription !== undefined && (message.channel === META.subscribe || message.channel === META.unsubscribe)) {
    reply.subscription = message.subscription;
  }
  const to = typeof reply.clientId === 'string' ? reply.clientId : (message.clientId ?? null);
  const batch = message.channel === META.connect ? state.batch : undefined;
  const out = server.outgoingReply(reply, to, state.exchange.context, message, batch);
  return isPromise(out) ? out.then(orDropped) : orDropped(out);
}

function orDropped(reply: Reply | null): Reply | typeof DROPPED {
  return reply ?? DROPPED;
}

function dispatch(server: BayeuxServer, message: Message, state: BatchState): Reply | null | Promise<Reply | null> {
  const info = parseChannel(message.channel);
  if (info === null) return failure(message, Errors.channelInvalid(message.channel));
  if (info.kind === 'meta') {
    const handler = metaHandlers[message.channel];
    if (!handler) return failure(message, Errors.metaChannelUnknown(message.channel));
    return handler(server, message, state);
  }
  if (info.wildcard) return failure(message, Errors.wildcardPublish(message.channel));
  return handlePublish(server, message, state);
}

/**
 * Incoming hooks, server-wide then the session's own. The message to process, null when
 * a hook deleted it, or the error string a hook set on it.
 */
async function runIncoming(server: BayeuxServer, message: Message, state: BatchState): Promise<Message | null | string> {
  const clientId = message.clientId;
  const context = {
    server,
    session: clientId === undefined ? null : server.session(clientId),
    request: state.exchange.context,
  };
  const before = message.error;
  let current: Message | null = message;
  if (server.extensions.hasIncoming) current = await server.extensions.incoming(current, context);
  const own = clientId === undefined ? undefined : server.sessionExtensions.get(clientId);
  if (current !== null && own?.hasIncoming && !changedError(current, before)) current = await own.incoming(current, context);
  if (current !== null && changedError(current, before)) return current.error!;
  return current;
}

function changedError(message: Message, before: string | undefined): boolean {
  return typeof message.error === 'string' && message.error !== before;
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** Whether a message serializes within `max` bytes; one nested too deeply to serialize does not. */
function fitsIn(raw: unknown, max: number): boolean {
  try {
    return Buffer.byteLength(JSON.stringify(raw)) <= max;
  } catch {
    return false;
  }
}

/**
 * A reply as JSON. Only an echoed client value can make this fail (a `subscription` nested
 * too deeply to serialize, already refused); the reply then goes without the echo, so the
 * rest of the batch is still answered.
 */
function serializeReply(reply: Reply): string {
  try {
    return JSON.stringify(reply);
  } catch (err) {
    if (!isStackOverflow(err)) throw err;
    const { subscription: _dropped, ...rest } = reply;
    return JSON.stringify(rest);
  }
}
