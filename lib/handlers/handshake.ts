/**
 * `/meta/handshake`: check the version, the connection types and the security policy,
 * then create the session.
 */
import type { BatchState } from '../batch.js';
import { newClientId } from '../client-id.js';
import { Errors } from '../errors.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import type { BayeuxServer } from '../server.js';

/** Accepts Bayeux 1.x; the field is optional, as CometD and dojox-legacy clients differ. */
function versionOk(version: Message['version']): boolean {
  if (version === undefined) return true;
  const major = typeof version === 'number' ? Math.floor(version) : Number.parseInt(version, 10);
  return major === 1;
}

export async function handleHandshake(server: BayeuxServer, message: Message, state: BatchState): Promise<Reply> {
  if (!versionOk(message.version)) return failure(message, Errors.versionUnsupported(String(message.version)));
  const offered = message.supportedConnectionTypes;
  // Cross-domain dojox clients omit the field; then the transport in use is good enough.
  if (offered !== undefined && !offered.some((t) => server.acceptedTypes.has(t))) {
    return failure(message, Errors.connectionTypesUnsupported(offered.join(',')), {
      supportedConnectionTypes: server.connectionTypes,
    });
  }
  const policy = server.options.policy;
  if (policy?.canHandshake && !(await policy.canHandshake(message, { server, request: state.exchange.context }))) {
    return failure(message, Errors.handshakeDenied(server.options.deniedHandshakeAdvice));
  }
  const clientId = newClientId();
  await server.engine.createSession(clientId, server.options.interval + server.options.maxInterval);
  // state.sessionId stays unset: nothing piggy-backs on a handshake response. The reply must
  // come first and alone (dojox reads element [0]; CometD-JS expects no mail before its first
  // connect); mail queued meanwhile (by a handshake listener) goes out with the first connect.
  const types = server.connectionTypes.length > 0 ? server.connectionTypes : [state.exchange.connectionType];
  if (server.listenerCount('handshake') > 0) server.emit('handshake', server.session(clientId), message);
  return success(message, {
    version: '1.0',
    minimumVersion: '1.0',
    clientId,
    supportedConnectionTypes: types,
    advice: server.advice,
  });
}
