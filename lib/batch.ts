/**
 * Processing of one request's batch: structural checks, per-message validation and
 * dispatch, then the response — queued deliveries first, replies after, in request order.
 */
import createDebug from 'debug';
import { META, parseChannel } from './channel-name.js';
import { EngineUnavailableError, isPromise } from './engine.js';
import { BayeuxErrorException, Errors } from './errors.js';
import type { Exchange } from './exchange.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handleHandshake } from './handlers/handshake.js';
import { handlePublish } from './handlers/publish.js';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe.js';
import { validateMessage, type Message, type Reply } from './message.js';
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

/** A handler for one validated message. Null only when the connect was held. */
export type Handler = (server: BayeuxServer, message: Message, state: BatchState) => Promise<Reply | null>;

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

/** Processes a batch and answers through the exchange (now, or later when held). */
export async function processBatch(
  server: BayeuxServer,
  batch: readonly unknown[],
  exchange: Exchange,
  bodyBytes: number,
): Promise<void> {
  const problem = structuralProblem(batch, server.options.maxBatchMessages);
  if (problem !== null) return exchange.fail(400, problem);

  const state: BatchState = { exchange, size: batch.length, mail: null, sessionId: null, held: false };
  // Only when the whole body is over the limit can one message be; measure them then.
  const measure = bodyBytes > server.options.maxMessageBytes;
  const replies: string[] = [];
  for (const raw of batch) {
    const reply = await processOne(server, raw as { channel: string }, state, measure);
    if (reply === null) return; // held: the held-connect registry answers later
    if (reply !== DROPPED) replies.push(serializeReply(reply));
  }

  if (state.sessionId !== null && exchange.piggyback) {
    const taken = server.engine.takeQueued(state.sessionId, true);
    const more = isPromise(taken) ? await taken : taken;
    if (more !== null && more.length > 0) state.mail = state.mail ? state.mail.concat(more) : more;
  }

  if (!exchange.open) {
    // The client went away while we worked: keep its mail for the next connect.
    if (state.mail && state.sessionId) await server.engine.requeue(state.sessionId, state.mail);
    return;
  }
  if (state.mail === null) return exchange.send(replies);
  const mail = state.sessionId === null ? state.mail : await server.prepareMail(state.sessionId, state.mail);
  exchange.send(mail.concat(replies));
}

/** Returned by {@link processOne} when an outgoing extension dropped the reply. */
const DROPPED = Symbol('dropped');

async function processOne(
  server: BayeuxServer,
  raw: { channel: string; id?: unknown },
  state: BatchState,
  measure: boolean,
): Promise<Reply | null | typeof DROPPED> {
  const checked = validateMessage(raw);
  if (!checked.ok) {
    const id = typeof raw.id === 'string' ? raw.id : typeof raw.id === 'number' ? String(raw.id) : undefined;
    return failure({ id, channel: raw.channel }, Errors.fieldInvalid(checked.problem));
  }
  let message = checked.message;
  if (measure && !fitsIn(raw, server.options.maxMessageBytes)) {
    return failure(message, Errors.messageTooLarge(server.options.maxMessageBytes));
  }
  let reply: Reply | null;
  try {
    if (server.extensions.hasIncoming || server.sessionExtensions.size > 0) {
      const out = await runIncoming(server, message, state);
      if (typeof out === 'string') reply = failure(message, { code: Number.parseInt(out, 10) || 400, error: out });
      else if (out === null) reply = failure(message, Errors.messageDeleted());
      else reply = await dispatch(server, (message = out), state);
    } else {
      reply = await dispatch(server, message, state);
    }
  } catch (err) {
    if (err instanceof BayeuxErrorException) reply = failure(message, err.bayeux);
    // The engine's store is unreachable (Redis down): tell the client to retry later.
    else if (err instanceof EngineUnavailableError) reply = failure(message, Errors.unavailable(err.retryMs));
    // Client data nested too deeply for JSON.stringify (a publish's data or ext): the client's fault.
    else if (isStackOverflow(err)) reply = failure(message, Errors.fieldInvalid('message_too_deep'));
    else {
      debug('message on %s failed: %O', message.channel, err);
      server.reportError(err);
      reply = failure(message, Errors.internal());
    }
  }
  if (reply === null) return null;
  // Clients key pending subscriptions by `subscription` (CometD drops a failed one by it):
  // a refusal by an extension must echo it as the handlers' own replies do.
  if (reply.subscription === undefined && message.subscription !== undefined && (message.channel === META.subscribe || message.channel === META.unsubscribe)) {
    reply.subscription = message.subscription;
  }
  const to = typeof reply.clientId === 'string' ? reply.clientId : (message.clientId ?? null);
  const batch = message.channel === META.connect ? state.batch : undefined;
  return (await server.outgoingReply(reply, to, state.exchange.context, message, batch)) ?? DROPPED;
}

async function dispatch(server: BayeuxServer, message: Message, state: BatchState): Promise<Reply | null> {
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
