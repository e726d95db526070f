/**
 * `/meta/connect`: answer at once (first connect, `timeout: 0`, batched, or mail waiting)
 * or hold the exchange until mail arrives or the timeout passes.
 *
 * Written to finish synchronously on a synchronous engine: a held heartbeat is the most
 * frequent request a server sees, and each promise on its path costs an allocation and a
 * microtask.
 */
import type { RequestState } from './handler.js';
import { isPromise, type ConnectResult, type Mail } from '../engines/engine.js';
import { Errors } from '../errors.js';
import { HeldConnect } from '../held-connects.js';
import type { Advice, Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import type { Core } from '../core.js';

export function handleConnect(core: Core, message: Message, state: RequestState): Reply | null | Promise<Reply | null> {
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  const type = message.connectionType;
  if (type !== undefined && !core.acceptedTypes.has(type)) {
    return failure(message, Errors.connectionTypeUnsupported(type));
  }
  const { options, connects } = core;
  if (type !== undefined && core.streamedTypes.has(type)) return heartbeat(core, message, state, clientId);
  // The session's stream is its connection: a connect of another type (Faye sends one or two
  // long-polling connects before it switches to the stream) is a heartbeat too. Held, it
  // would take the stream's place; answered as another tab's, it would unmark the stream.
  const held = connects.get(clientId);
  if (held !== undefined && held.streaming && streamHeld(core, clientId)) return heartbeat(core, message, state, clientId);
  const asked = message.advice?.timeout;
  const timeout = asked === undefined ? options.timeout : Math.min(asked, options.timeout);
  // A draining server holds nothing: the client's next connect goes to another process.
  const canHold = state.size === 1 && timeout > 0 && core.draining === null;

  // A newer connect answers the older one of the same session (which must not hang).
  const older = connects.get(clientId);
  if (older && !older.persistent) {
    // Mail is being taken for the older one right now: let it go out there (or back to the
    // front of the queue) first, or this connect could take newer mail ahead of it.
    if (older.settling !== null) return older.settling.then(() => handleConnect(core, message, state));
    connects.supersede(older);
  }

  const begun = core.engine.beginConnect(clientId, canHold);
  if (isPromise(begun)) return begun.then((r) => connectBegun(core, message, state, clientId, timeout, r));
  return connectBegun(core, message, state, clientId, timeout, begun);
}

function connectBegun(
  core: Core,
  message: Message,
  state: RequestState,
  clientId: string,
  timeout: number,
  r: ConnectResult | null,
): Reply | null | Promise<Reply | null> {
  if (r === null) return failure(message, Errors.sessionUnknown());
  state.sessionId = clientId;
  const { options, engine, connects } = core;

  if (r.held) {
    const racing = connects.get(clientId);
    if (racing && !racing.persistent) connects.supersede(racing);
    // Draining began while the engine answered: answer now, as the drain did the other holds.
    if (core.draining !== null) {
      return answerNow(core, message, state, clientId, options.interval + options.maxInterval, core.draining.connectAdvice);
    }
    // Another tab of this browser holds its long poll already: this one polls instead.
    const browser = state.exchange.browserId;
    const limit = options.maxSessionsPerBrowser;
    if (browser !== undefined && limit >= 0 && connects.browserHolds(browser) >= limit) {
      const advice = { reconnect: 'retry', interval: options.multiSessionInterval, timeout: options.timeout, 'multiple-clients': true };
      return answerNow(core, message, state, clientId, options.multiSessionInterval + options.maxInterval, advice);
    }
    // Extensions that look at the reply may want the request it answers (timesync does).
    const keep = core.extensions.seesOutgoing(clientId);
    const exchange = state.exchange;
    const h = new HeldConnect(clientId, message.id, exchange, false, keep ? message : null, r.batch);
    connects.hold(h, timeout);
    // The client may have gone while the engine answered.
    if (!exchange.open) connects.dropped(h);
    return null;
  }
  if (r.messages !== null) addMail(state, r.messages);
  else state.ackBatch = r.batch;
  const ended = engine.endConnect(clientId, options.interval + options.maxInterval, false);
  const reply = success(message, { advice: core.draining?.connectAdvice ?? core.advice });
  return isPromise(ended) ? ended.then(() => reply) : reply;
}

/**
 * A connect beside a stream (EventSource) is a heartbeat: answered at once, asking for the
 * next one after `timeout`. When this process holds the session's stream, the engine is
 * left alone (the stream is the held connection); otherwise the connect is an ordinary
 * poll that takes what is queued.
 */
function heartbeat(core: Core, message: Message, state: RequestState, clientId: string): Reply | Promise<Reply> {
  const { options } = core;
  const advice = core.draining?.connectAdvice ?? { reconnect: 'retry', interval: options.timeout, timeout: 0 };
  if (streamHeld(core, clientId)) {
    state.sessionId = clientId;
    return success(message, { advice });
  }
  return pollOnce(core, message, state, clientId, advice);
}

function streamHeld(core: Core, clientId: string): boolean {
  const h = core.connects.get(clientId);
  return h !== undefined && h.persistent && h.exchange.open;
}

async function pollOnce(core: Core, message: Message, state: RequestState, clientId: string, advice: Advice): Promise<Reply> {
  const r = await core.engine.beginConnect(clientId, false);
  if (r === null) return failure(message, Errors.sessionUnknown());
  state.sessionId = clientId;
  if (r.messages !== null) addMail(state, r.messages);
  // A stream opened meanwhile (Faye opens it as it sends this connect) is the session's
  // connection now: ending this connect would unmark it in the engine (no wakes, an expiry).
  // The next heartbeat comes after `timeout`.
  if (!streamHeld(core, clientId)) await core.engine.endConnect(clientId, core.options.timeout + core.options.maxInterval, false);
  // If the stream's engine call came before that end, mark the session held again; mail
  // queued since goes with this reply.
  while (streamHeld(core, clientId)) {
    const again = await core.engine.beginConnect(clientId, true);
    if (again === null || again.held) break;
    if (again.messages !== null) addMail(state, again.messages);
  }
  return success(message, { advice });
}

/**
 * Answers a connect the engine marked as held at once instead, with its mail and `advice`
 * (the `multiple-clients` polling advice, or a drain's); the session expires in `expiresInMs`.
 */
async function answerNow(core: Core, message: Message, state: RequestState, clientId: string, expiresInMs: number, advice: Advice): Promise<Reply> {
  const taken = core.engine.endConnect(clientId, expiresInMs, true);
  const mail = isPromise(taken) ? await taken : taken;
  if (mail !== null) addMail(state, mail);
  return success(message, { advice });
}

/**
 * Mail taken by this connect goes ahead of the replies; its ack batch number goes on the
 * connect reply, also when the take found nothing (every reply of such a session is numbered).
 */
function addMail(state: RequestState, mail: Mail): void {
  if (mail.length > 0) state.mail = state.mail ? state.mail.concat(mail) : mail;
  state.ackBatch = mail.batch;
}
