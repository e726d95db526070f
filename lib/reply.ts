/**
 * Reply builders. Every reply echoes the request `id` and carries `successful`; failures
 * carry the catalogue's error string and its advice.
 */
import type { BayeuxError } from './errors.js';
import type { Message, Reply } from './message.js';

/** A successful reply to `message`, with optional extra fields. */
export function success(message: Message, fields?: Partial<Reply>): Reply {
  // No `delete` for a missing id: it would turn the object into a slow dictionary.
  const r: Reply = message.id === undefined ? { channel: message.channel, successful: true } : { id: message.id, channel: message.channel, successful: true };
  return fields ? Object.assign(r, fields) : r;
}

/** An unsuccessful reply to `message` carrying `err`. */
export function failure(message: { id?: string | undefined; channel: string }, err: BayeuxError, fields?: Partial<Reply>): Reply {
  const r: Reply =
    message.id === undefined
      ? { channel: message.channel, successful: false, error: err.error }
      : { id: message.id, channel: message.channel, successful: false, error: err.error };
  if (err.advice) r.advice = err.advice;
  return fields ? Object.assign(r, fields) : r;
}
