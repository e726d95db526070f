/**
 * `/meta/connect`: answer at once (first connect, `timeout: 0`, batched, or mail waiting)
 * or hold the exchange until mail arrives or the timeout passes.
 */
import type { BatchState } from '../batch.js';
import { isPromise } from '../engine.js';
import { Errors } from '../errors.js';
import { HeldConnect } from '../held-connects.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import type { BayeuxServer } from '../server.js';

export async function handleConnect(server: BayeuxServer, message: Message, state: BatchState): Promise<Reply | null> {
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  const type = message.connectionType;
  if (type !== undefined && !server.acceptedTypes.has(type)) {
    return failure(message, Errors.connectionTypeUnsupported(type));
  }
  const { options, engine, connects } = server;
  const asked = message.advice?.timeout;
  const timeout = asked === undefined ? options.timeout : Math.min(asked, options.timeout);
  const exchange = state.exchange;
  const canHold = state.size === 1 && timeout > 0;

  // A newer connect answers the older one of the same session (which must not hang).
  const older = connects.get(clientId);
  if (older && !older.persistent) connects.supersede(older);

  const pending = engine.beginConnect(clientId, canHold);
  const r = isPromise(pending) ? await pending : pending;
  if (r === null) return failure(message, Errors.sessionUnknown());
  state.sessionId = clientId;

  if (r.held) {
    const racing = connects.get(clientId);
    if (racing && !racing.persistent) connects.supersede(racing);
    // Another tab of this browser holds its long poll already: this one polls instead.
    const browser = exchange.browserId;
    const limit = options.maxSessionsPerBrowser;
    if (browser !== undefined && limit >= 0 && connects.browserHolds(browser) >= limit) {
      const taken = engine.endConnect(clientId, options.multiSessionInterval + options.maxInterval, true);
      const mail = isPromise(taken) ? await taken : taken;
      if (mail !== null && mail.length > 0) {
        state.mail = state.mail ? state.mail.concat(mail) : mail;
        state.batch = mail.batch;
      }
      const advice = { reconnect: 'retry', interval: options.multiSessionInterval, timeout: options.timeout, 'multiple-clients': true };
      return success(message, { advice });
    }
    // Extensions that look at the reply may want the request it answers (timesync does).
    const keep = server.extensions.hasOutgoing || server.sessionExtensions.has(clientId);
    const h = new HeldConnect(clientId, message.id, exchange, false, keep ? message : null);
    connects.hold(h, timeout);
    // The client may have gone while the engine answered.
    if (!exchange.open) connects.dropped(h);
    return null;
  }
  if (r.messages !== null) {
    state.mail = state.mail ? state.mail.concat(r.messages) : r.messages;
    state.batch = r.messages.batch;
  }
  const ended = engine.endConnect(clientId, options.interval + options.maxInterval, false);
  if (isPromise(ended)) await ended;
  return success(message, { advice: server.advice });
}
