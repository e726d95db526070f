/**
 * `/meta/disconnect`: remove the session and release a connect it holds (advice `none`).
 */
import type { BatchState } from '../batch.js';
import { Errors } from '../errors.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import type { BayeuxServer } from '../server.js';

export async function handleDisconnect(server: BayeuxServer, message: Message, _state: BatchState): Promise<Reply> {
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  const existed = await server.engine.destroySession(clientId, 'disconnect');
  if (!existed) return failure(message, Errors.sessionUnknown());
  if (server.listenerCount('disconnect') > 0) server.emit('disconnect', server.session(clientId));
  server.sessionGone(clientId, 'disconnect');
  return success(message);
}
