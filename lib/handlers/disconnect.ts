/**
 * `/meta/disconnect`: remove the session and release a connect it holds (advice `none`).
 */
import type { RequestState } from './handler.js';
import { Errors } from '../errors.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import type { Core } from '../core.js';

export async function handleDisconnect(core: Core, message: Message, _state: RequestState): Promise<Reply> {
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing());
  const existed = await core.engine.destroySession(clientId, 'disconnect');
  if (!existed) return failure(message, Errors.sessionUnknown());
  core.stats.disconnects++;
  if (core.listenerCount('disconnect') > 0) core.emit('disconnect', core.session(clientId));
  core.sessionGone(clientId, 'disconnect');
  return success(message);
}
