/**
 * Publishing from a client: session check, authorization, server-side channel listeners
 * (which may veto, change the data, or answer on service channels), then a broadcast
 * serialized once for all subscribers.
 */
import type { RequestState } from './handler.js';
import { Errors } from '../errors.js';
import { logPublish } from '../lifecycle-log.js';
import type { Delivery, Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import { authorize } from '../security.js';
import type { Core } from '../core.js';
import { runChannelListeners } from '../server-channel.js';

export async function handlePublish(core: Core, message: Message, state: RequestState): Promise<Reply> {
  // The clock is read only while metrics time publishes.
  const started = core.stats.observer === null ? 0 : performance.now();
  if (message.data === undefined) return failure(message, Errors.dataMissing());
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  if (!(await core.engine.hasSession(clientId))) return failure(message, Errors.sessionUnknown());
  state.sessionId = clientId;
  const channel = message.channel;
  const denied = await authorize(core, 'publish', channel, clientId, message, state.exchange.context);
  if (denied !== null) return failure(message, denied);
  if (core.channels.size > 0) {
    const verdict = await runChannelListeners(core, message, clientId, state.exchange.context);
    if (verdict !== null) return failure(message, verdict);
  }
  if (channel.startsWith('/service/')) return success(message);

  const delivery: Delivery = { channel, data: message.data };
  if (message.ext !== undefined) delivery.ext = message.ext;
  const session = core.listenerCount('publish') > 0 || core.extensions.hasOutgoing ? core.session(clientId) : null;
  const payload = await core.extensions.outgoingDelivery(delivery, session);
  if (payload !== null) {
    const toPublisher = core.channels.get(channel)?.broadcastToPublisher ?? core.options.broadcastToPublisher;
    const n = await core.engine.publish(channel, payload, toPublisher ? undefined : clientId);
    const stats = core.stats;
    stats.publishedByClients++;
    stats.queued += n;
    if (started !== 0) stats.observer?.publish((performance.now() - started) / 1000);
    if (logPublish.enabled) logPublish('%s published on %s to %d sessions', clientId, channel, n);
  }
  if (session !== null && core.listenerCount('publish') > 0) core.emit('publish', session, channel, message.data);
  return success(message);
}
