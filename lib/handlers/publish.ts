/**
 * Publishing from a client: session check, server-side channel listeners (which may veto
 * or answer on service channels), then a broadcast serialized once for all subscribers.
 */
import type { BatchState } from '../batch.js';
import { Errors } from '../errors.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import { serializeDelivery } from '../serialize.js';
import type { BayeuxServer } from '../server.js';
import { runChannelListeners } from '../server-channel.js';

export async function handlePublish(server: BayeuxServer, message: Message, state: BatchState): Promise<Reply> {
  if (message.data === undefined) return failure(message, Errors.dataMissing());
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  if (!(await server.engine.hasSession(clientId))) return failure(message, Errors.sessionUnknown());
  state.sessionId = clientId;
  const channel = message.channel;
  if (server.channels.size > 0) {
    const verdict = await runChannelListeners(server, message, clientId, state.exchange.context);
    if (verdict !== null) return failure(message, verdict);
  }
  if (channel.startsWith('/service/')) return success(message);
  await server.engine.publish(channel, serializeDelivery(channel, message.data, message.ext));
  if (server.listenerCount('publish') > 0) server.emit('publish', server.session(clientId), channel, message.data);
  return success(message);
}
