/**
 * Processing of one request's messages: structural checks, per-message validation, the
 * incoming hooks and dispatch to a handler, the outgoing hooks on each reply, then the
 * response — queued deliveries first, replies after, in request order.
 */
import createDebug from 'debug';
import { META, parseChannel } from './channel-name.js';
import type { Core } from './core.js';
import { EngineUnavailableError, isPromise, type Engine } from './engines/engine.js';
import { BayeuxErrorException, Errors } from './errors.js';
import type { Exchange } from './exchange.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handleHandshake } from './handlers/handshake.js';
import { handlePublish } from './handlers/publish.js';
import type { Handler, RequestState } from './handlers/handler.js';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe.js';
import { checkMessage, MessageProblem, type Message, type Reply } from './message.js';
import { failure } from './reply.js';

const debug = createDebug('bayeux:request');

const metaHandlers: Record<string, Handler> = {
  [META.handshake]: handleHandshake,
  [META.connect]: handleConnect,
  [META.subscribe]: handleSubscribe,
  [META.unsubscribe]: handleUnsubscribe,
  [META.disconnect]: handleDisconnect,
};

function structuralProblem(messages: readonly unknown[], max: number): string | null {
  if (messages.length === 0) return 'empty batch';
  if (messages.length > max) return `too many messages in one request (at most ${max})`;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return `message ${i} is not an object`;
    if (typeof (m as { channel?: unknown }).channel !== 'string') return `message ${i} has no channel`;
  }
  if (messages.length > 1) {
    for (const m of messages) {
      if ((m as { channel: string }).channel === META.handshake) return 'a handshake must be alone in its request';
    }
  }
  return null;
}

/**
 * Processes the messages of one request and answers through the exchange (now, or later
 * when held). Returns a promise only when some step had to wait (an asynchronous engine,
 * hooks, policies).
 */
export function processRequest(
  core: Core,
  messages: readonly unknown[],
  exchange: Exchange,
  bodyBytes: number,
): void | Promise<void> {
  const problem = structuralProblem(messages, core.options.maxBatchMessages);
  if (problem !== null) return exchange.fail(400, problem);

  // The clock is read only while metrics time requests (one check per batch).
  const started = core.stats.observer === null ? 0 : performance.now();
  const state: RequestState = { exchange, size: messages.length, mail: null, sessionId: null, started };
  // Only when the whole body is over the limit can one message be; measure them then.
  const measure = bodyBytes > core.options.maxMessageBytes;
  return processFrom(core, messages, 0, state, measure, []);
}

/** Processes the messages from `first` on, in order, then answers. */
function processFrom(
  core: Core,
  messages: readonly unknown[],
  first: number,
  state: RequestState,
  measure: boolean,
  replies: string[],
): void | Promise<void> {
  for (let i = first; i < messages.length; i++) {
    const outcome = processOne(core, messages[i] as { channel: string }, state, measure);
    if (isPromise(outcome)) {
      return outcome.then((o) => {
        if (record(o, replies)) return processFrom(core, messages, i + 1, state, measure, replies);
      });
    }
    if (!record(outcome, replies)) return;
  }
  return respond(core, state, replies);
}

/** Adds a reply to the response; false when the connect was held (answered later). */
function record(outcome: Outcome, replies: string[]): boolean {
  if (outcome === null) return false;
  if (outcome !== DROPPED) replies.push(serializeReply(outcome));
  return true;
}

/** Writes the replies, after the mail taken by a connect and any that can ride along. */
function respond(core: Core, state: RequestState, replies: string[]): void | Promise<void> {
  if (state.sessionId !== null && state.exchange.piggyback) {
    let taken: ReturnType<Engine['takeQueued']>;
    try {
      taken = core.engine.takeQueued(state.sessionId, true);
    } catch (err) {
      return piggybackFailed(core, state, replies, err);
    }
    if (isPromise(taken)) {
      return taken.then(
        (more) => {
          addMail(state, more);
          return write(core, state, replies);
        },
        (err: unknown) => piggybackFailed(core, state, replies, err),
      );
    }
    addMail(state, taken);
  }
  return write(core, state, replies);
}

/**
 * Taking mail to ride along failed (the engine's store is unreachable): the replies are
 * ready and still go out; the mail stays queued for the next connect.
 */
function piggybackFailed(core: Core, state: RequestState, replies: string[], err: unknown): void | Promise<void> {
  core.reportError(err);
  return write(core, state, replies);
}

function addMail(state: RequestState, more: string[] | null): void {
  if (more !== null && more.length > 0) state.mail = state.mail ? state.mail.concat(more) : more;
}

function write(core: Core, state: RequestState, replies: string[]): void | Promise<void> {
  const { exchange, mail, sessionId } = state;
  if (!exchange.open) {
    // The client went away while we worked: keep its mail for the next connect. Nobody is
    // left to tell if that fails (Redis down): report it.
    if (mail && sessionId) {
      const put = core.engine.requeue(sessionId, mail);
      if (isPromise(put)) return put.catch((err: unknown) => core.reportError(err));
    }
    return;
  }
  if (mail === null) {
    exchange.send(replies);
    return answered(core, state);
  }
  // Mail taken by a connect or riding along: counted as taken, before outgoing extensions.
  core.stats.countDelivered(exchange.connectionType, mail.length);
  const prepared = sessionId === null ? mail : core.extensions.prepareMail(sessionId, mail);
  if (isPromise(prepared)) {
    return prepared.then((m) => {
      exchange.send(m.concat(replies));
      answered(core, state);
    });
  }
  exchange.send(prepared.concat(replies));
  answered(core, state);
}

/** The batch's response is written: tell the metrics how long it took, when they time requests. */
function answered(core: Core, state: RequestState): void {
  if (state.started === 0) return;
  core.stats.observer?.request(state.exchange.connectionType, (performance.now() - state.started) / 1000);
}

/** Returned by {@link processOne} when an outgoing extension dropped the reply. */
const DROPPED = Symbol('dropped');
type Outcome = Reply | null | typeof DROPPED;

function processOne(
  core: Core,
  raw: { channel: string; id?: unknown },
  state: RequestState,
  measure: boolean,
): Outcome | Promise<Outcome> {
  const message = checkMessage(raw);
  if (message instanceof MessageProblem) {
    const id = typeof raw.id === 'string' ? raw.id : typeof raw.id === 'number' ? String(raw.id) : undefined;
    return failure({ id, channel: raw.channel }, Errors.fieldInvalid(message.problem));
  }
  if (measure && !fitsIn(raw, core.options.maxMessageBytes)) {
    return failure(message, Errors.messageTooLarge(core.options.maxMessageBytes));
  }
  if (core.extensions.runsIncoming) return processWithHooks(core, message, state);
  return answer(core, message, state, guardedDispatch(core, message, state));
}

/** The incoming hooks run first; what they leave is dispatched (or refused). */
async function processWithHooks(core: Core, message: Message, state: RequestState): Promise<Outcome> {
  let out: Message | null | string;
  try {
    out = await core.extensions.incoming(message, state.exchange.context);
  } catch (err) {
    return answer(core, message, state, errorReply(core, message, err));
  }
  if (typeof out === 'string') return answer(core, message, state, failure(message, Errors.fromString(out)));
  if (out === null) return answer(core, message, state, failure(message, Errors.messageDeleted()));
  return answer(core, out, state, guardedDispatch(core, out, state));
}

/** Dispatches, turning a throw or a rejection into an error reply. */
function guardedDispatch(core: Core, message: Message, state: RequestState): Reply | null | Promise<Reply | null> {
  let reply: Reply | null | Promise<Reply | null>;
  try {
    reply = dispatch(core, message, state);
  } catch (err) {
    return errorReply(core, message, err);
  }
  return isPromise(reply) ? reply.catch((err: unknown) => errorReply(core, message, err)) : reply;
}

function errorReply(core: Core, message: Message, err: unknown): Reply {
  if (err instanceof BayeuxErrorException) return failure(message, err.bayeux);
  // The engine's store is unreachable (Redis down): tell the client to retry later.
  if (err instanceof EngineUnavailableError) return failure(message, Errors.unavailable(err.retryMs));
  // Client data nested too deeply for JSON.stringify (a publish's data or ext): the client's fault.
  if (isStackOverflow(err)) return failure(message, Errors.fieldInvalid('message_too_deep'));
  debug('message on %s failed: %O', message.channel, err);
  core.reportError(err);
  return failure(message, Errors.internal());
}

/** The reply as the client gets it: echoes added, outgoing hooks run (null: held). */
function answer(core: Core, message: Message, state: RequestState, reply: Reply | null | Promise<Reply | null>): Outcome | Promise<Outcome> {
  if (isPromise(reply)) return reply.then((r) => finishReply(core, message, state, r));
  return finishReply(core, message, state, reply);
}

function finishReply(core: Core, message: Message, state: RequestState, reply: Reply | null): Outcome | Promise<Outcome> {
  if (reply === null) return null;
  // Clients key pending subscriptions by `subscription` (CometD drops a failed one by it):
  // a refusal by an extension must echo it as the handlers' own replies do.
  if (reply.subscription === undefined && message.subscription !== undefined && (message.channel === META.subscribe || message.channel === META.unsubscribe)) {
    reply.subscription = message.subscription;
  }
  const to = typeof reply.clientId === 'string' ? reply.clientId : (message.clientId ?? null);
  const ackBatch = message.channel === META.connect ? state.ackBatch : undefined;
  const out = core.extensions.outgoingReply(reply, to, state.exchange.context, message, ackBatch);
  return isPromise(out) ? out.then(orDropped) : orDropped(out);
}

function orDropped(reply: Reply | null): Reply | typeof DROPPED {
  return reply ?? DROPPED;
}

function dispatch(core: Core, message: Message, state: RequestState): Reply | null | Promise<Reply | null> {
  const info = parseChannel(message.channel);
  if (info === null) return failure(message, Errors.channelInvalid(message.channel));
  if (info.kind === 'meta') {
    const handler = metaHandlers[message.channel];
    if (!handler) return failure(message, Errors.metaChannelUnknown(message.channel));
    return handler(core, message, state);
  }
  if (info.wildcard) return failure(message, Errors.wildcardPublish(message.channel));
  return handlePublish(core, message, state);
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
 * rest of the request is still answered.
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
