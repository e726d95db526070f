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
