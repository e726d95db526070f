/**
 * Publishing from a client: session check, authorization, server-side channel listeners
 * (which may veto, change the data, or answer on service channels), then a broadcast
 * serialized once for all subscribers.
 */
import type { BatchState } from '../batch.js';
import { Errors } from '../errors.js';
import type { Delivery, Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import { authorize } from '../security.js';
import type { BayeuxServer } from '../server.js';
import { runChannelListeners } from '../server-channel.js';

export async function handlePublish(server: BayeuxServer, message: Message, state: BatchState): Promise<Reply> {
  if (message.data === undefined) return failure(message, Errors.dataMissing());
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  if (!(await server.engine.hasSession(clientId))) return failure(message, Errors.sessionUnknown());
  state.sessionId = clientId;
  const channel = message.channel;
  const denied = await authorize(server, 'publish', channel, clientId, message, state.exchange.context);
  if (denied !== null) return failure(message, denied);
  if (server.channels.size > 0) {
    const verdict = await runChannelListeners(server, message, clientId, state.exchange.context);
    if (verdict !== null) return failure(message, verdict);
  }
  if (channel.startsWith('/service/')) return success(message);

  const delivery: Delivery = { channel, data: message.data };
  if (message.ext !== undefined) delivery.ext = message.ext;
  const session = server.listenerCount('publish') > 0 || server.extensions.hasOutgoing ? server.session(clientId) : null;
  const payload = await server.outgoingDelivery(delivery, session);
  if (payload !== null) {
    const toPublisher = server.channels.get(channel)?.broadcastToPublisher ?? server.options.broadcastToPublisher;
    await server.engine.publish(channel, payload, toPublisher ? undefined : clientId);
  }
  if (session !== null && server.listenerCount('publish') > 0) server.emit('publish', session, channel, message.data);
  return success(message);
}
