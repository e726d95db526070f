/**
 * `/meta/subscribe` and `/meta/unsubscribe`. The reply echoes `subscription` exactly as
 * received (clients key their pending subscriptions by it). Service channels succeed
 * without being recorded: their traffic is answered directly, never broadcast.
 */
import type { RequestState } from './handler.js';
import { parseChannel } from '../channel-name.js';
import { Errors, type BayeuxError } from '../errors.js';
import { logSubscription } from '../lifecycle-log.js';
import type { Message, Reply } from '../message.js';
import { failure, success } from '../reply.js';
import { authorize } from '../security.js';
import type { Core } from '../core.js';

/** The broadcast channels to record, or the error that refuses the whole request. */
function channelsOf(subscription: unknown, subscribing: boolean): string[] | BayeuxError {
  if (subscription === undefined) return Errors.subscriptionMissing();
  const list = typeof subscription === 'string' ? [subscription] : subscription;
  if (!Array.isArray(list) || list.length === 0) return Errors.subscriptionInvalid();
  const record: string[] = [];
  for (const c of list) {
    if (typeof c !== 'string') return Errors.subscriptionInvalid();
    const info = parseChannel(c);
    if (info === null) return Errors.channelInvalid(c);
    if (info.kind === 'meta') return subscribing ? Errors.subscribeDenied(c) : Errors.channelInvalid(c);
    if (info.kind === 'broadcast') record.push(c);
  }
  return record;
}

export async function handleSubscribe(core: Core, message: Message, state: RequestState): Promise<Reply> {
  const echo = { subscription: message.subscription };
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing(), echo);
  const channels = channelsOf(message.subscription, true);
  if (!Array.isArray(channels)) return failure(message, channels, echo);
  if (channels.length === 0) {
    if (!(await core.engine.hasSession(clientId))) return failure(message, Errors.sessionUnknown(), echo);
  } else {
    if (core.options.policy || core.hasAuthorizers) {
      if (!(await core.engine.hasSession(clientId))) return failure(message, Errors.sessionUnknown(), echo);
      for (const c of channels) {
        const denied = await authorize(core, 'subscribe', c, clientId, message, state.exchange.context);
        if (denied !== null) return failure(message, denied, echo);
      }
    }
    const r = await core.engine.subscribe(clientId, channels, core.options.maxSubscriptionsPerSession);
    if (r === 'unknown-session') return failure(message, Errors.sessionUnknown(), echo);
    if (r === 'limit') return failure(message, Errors.tooManySubscriptions(core.options.maxSubscriptionsPerSession), echo);
    if (logSubscription.enabled) logSubscription('%s subscribed to %s', clientId, channels.join(', '));
    if (core.listenerCount('subscribe') > 0) {
      const session = core.session(clientId);
      for (const c of channels) core.emit('subscribe', session, c);
    }
  }
  state.sessionId = clientId;
  return success(message, echo);
}

export async function handleUnsubscribe(core: Core, message: Message, state: RequestState): Promise<Reply> {
  const echo = { subscription: message.subscription };
  const clientId = message.clientId;
  if (clientId === undefined) return failure(message, Errors.clientIdMissing(), echo);
  const channels = channelsOf(message.subscription, false);
  if (!Array.isArray(channels)) return failure(message, channels, echo);
  const known =
    channels.length === 0
      ? await core.engine.hasSession(clientId)
      : await core.engine.unsubscribe(clientId, channels);
  if (!known) return failure(message, Errors.sessionUnknown(), echo);
  if (channels.length > 0 && logSubscription.enabled) logSubscription('%s unsubscribed from %s', clientId, channels.join(', '));
  if (channels.length > 0 && core.listenerCount('unsubscribe') > 0) {
    const session = core.session(clientId);
    for (const c of channels) core.emit('unsubscribe', session, c);
  }
  state.sessionId = clientId;
  return success(message, echo);
}
