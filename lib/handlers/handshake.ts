/**
 * `/meta/handshake`: check the version, the connection types, the abuse limits
 * (lib/abuse-limits.ts) and the security policy, then create the session.
 */
import type { RequestState } from './handler.js';
import { newClientId } from '../client-id.js';
import { Errors } from '../errors.js';
import { logSession } from '../lifecycle-log.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import type { Core } from '../core.js';

/** Accepts Bayeux 1.x; the field is optional, as CometD and dojox-legacy clients differ. */
function versionOk(version: Message['version']): boolean {
  if (version === undefined) return true;
  const major = typeof version === 'number' ? Math.floor(version) : Number.parseInt(version, 10);
  return major === 1;
}

export async function handleHandshake(core: Core, message: Message, state: RequestState): Promise<Reply> {
  // Draining for a restart: new clients go to another process (in-process ones have no other).
  if (core.draining !== null && state.exchange.context.local !== true) return failure(message, core.draining.handshakeError);
  if (!versionOk(message.version)) return failure(message, Errors.versionUnsupported(String(message.version)));
  const offered = message.supportedConnectionTypes;
  // Cross-domain dojox clients omit the field; then the transport in use is good enough.
  if (offered !== undefined && !offered.some((t) => core.acceptedTypes.has(t))) {
    return failure(message, Errors.connectionTypesUnsupported(offered.join(',')), {
      supportedConnectionTypes: core.connectionTypes,
    });
  }
  // Abuse limits (off by default; never for in-process clients). The rate comes before the
  // policy, which it shields (a policy may be costly: a token check, a database).
  const address = core.limits.addressOf(state.exchange.context);
  const throttled = address === null ? null : core.limits.throttle(address);
  if (throttled) return failure(message, throttled);
  const policy = core.options.policy;
  if (policy?.canHandshake && !(await policy.canHandshake(message, { request: state.exchange.context }))) {
    return failure(message, Errors.handshakeDenied(core.options.deniedHandshakeAdvice));
  }
  const clientId = newClientId();
  // The session slot is taken before the engine call, so concurrent handshakes cannot all pass.
  const full = address === null ? null : await core.limits.admit(address, clientId);
  if (full) return failure(message, full);
  await core.limits.create(clientId, () => core.engine.createSession(clientId, core.options.interval + core.options.maxInterval));
  core.stats.handshakes++;
  // state.sessionId stays unset: nothing piggy-backs on a handshake response. The reply must
  // come first and alone (dojox reads element [0]; CometD-JS expects no mail before its first
  // connect); mail queued meanwhile (by a handshake listener) goes out with the first connect.
  if (logSession.enabled) {
    const request = state.exchange.context;
    logSession('handshake %s from %s over %s', clientId, request.local ? 'this process' : (request.remoteAddress ?? 'unknown'), state.exchange.connectionType);
  }
  const types = core.connectionTypes.length > 0 ? core.connectionTypes : [state.exchange.connectionType];
  if (core.listenerCount('handshake') > 0) core.emit('handshake', core.session(clientId), message);
  return success(message, {
    version: '1.0',
    minimumVersion: '1.0',
    clientId,
    supportedConnectionTypes: types,
    advice: core.advice,
  });
}
