/**
 * The body of a request to the publish endpoint (publish-endpoint.ts), checked whole before
 * anything is published, so that a bad message in a batch never leaves the batch half
 * published. Problems with one message are told with the wording of the Bayeux error
 * catalogue (lib/errors.ts), as a client publishing the same message would be told.
 */
import { z } from 'zod';
import { MAX_CHANNEL_LENGTH, parseChannel } from '../lib/channel-name.js';
import { Errors } from '../lib/errors.js';

/**
 * One message for the publish endpoint. Without `clientId` it is published to every
 * session subscribed to `channel`; with it, it is delivered to that one session only.
 */
export interface PublishMessage {
  /**
   * A concrete broadcast channel (`/news/eu`: no wildcard, not `/meta/…`), or a
   * `/service/…` channel together with `clientId`.
   */
  channel: string;
  /** The payload, any JSON value; required (`null` for none). */
  data: unknown;
  /** Deliver to this session only (`ServerSession.deliver`), whatever it subscribed to. */
  clientId?: string;
  /** The `ext` object of the delivered message. */
  ext?: Record<string, unknown>;
  /** The caller's own id for this message, echoed in its result (not put on the delivered message). */
  id?: string | number;
}

/** The shape of one message; the channel grammar and the size are checked after it. */
const messageShape = z.strictObject({
  channel: z.string().max(MAX_CHANNEL_LENGTH),
  // Required, though any value: zod 4 refuses a missing key here (reported as data_missing).
  data: z.unknown(),
  clientId: z.string().min(1).max(256).optional(),
  ext: z.record(z.string(), z.unknown()).optional(),
  id: z.union([z.string().max(256), z.number().finite()]).optional(),
});

/** The limits a body is checked against. */
export interface PublishBodyLimits {
  /** Most messages in one body. */
  readonly maxMessages: number;
  /** Largest `data` of one message, in bytes of JSON (the server's `maxMessageBytes`). */
  readonly maxMessageBytes: number;
}

/** A body that passed, or why not: `index` names the message at fault, if one is. */
export type CheckedPublishBody = { ok: true; messages: PublishMessage[] } | { ok: false; error: string; index?: number };

/** Checks a parsed JSON body: one message object or a non-empty array of them. */
export function checkPublishBody(body: unknown, limits: PublishBodyLimits): CheckedPublishBody {
  const list = Array.isArray(body) ? body : typeof body === 'object' && body !== null ? [body] : null;
  if (list === null) return { ok: false, error: 'body must be a message object or an array of them' };
  if (list.length === 0) return { ok: false, error: 'body must not be an empty array' };
  if (list.length > limits.maxMessages) return { ok: false, error: `more than ${limits.maxMessages} messages in one request` };
  for (let i = 0; i < list.length; i++) {
    const error = messageError(list[i], limits.maxMessageBytes);
    if (error !== null) return { ok: false, error, index: i };
  }
  return { ok: true, messages: list as PublishMessage[] };
}

/** The Bayeux error string for what is wrong with one message, or null. */
function messageError(raw: unknown, maxMessageBytes: number): string | null {
  const r = messageShape.safeParse(raw);
  // The values used later are the caller's own (zod's copy is only a check).
  if (!r.success) return shapeError(r.error.issues[0]!);
  const m = raw as PublishMessage;
  const info = parseChannel(m.channel);
  if (info === null) return Errors.channelInvalid(m.channel).error;
  if (info.wildcard !== null) return Errors.wildcardPublish(m.channel).error;
  if (info.kind === 'meta') return Errors.publishDenied(m.channel).error;
  // A /service/ message is never broadcast (no session receives it by subscription).
  if (info.kind === 'service' && m.clientId === undefined) return Errors.clientIdMissing().error;
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(m.data));
  } catch {
    // JSON.parse takes nesting that JSON.stringify cannot write back (a RangeError):
    // refused here, before publishing, not half way through the batch.
    return Errors.fieldInvalid('message_too_deep').error;
  }
  if (size > maxMessageBytes) return Errors.messageTooLarge(maxMessageBytes).error;
  return null;
}

/** `405::message_invalid`, `405::ext_invalid`, `405::foo_unknown`, `400::data_missing`, as the core words them. */
function shapeError(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return Errors.fieldInvalid(`${issue.keys[0]}_unknown`).error;
  const [field] = issue.path;
  if (field === undefined) return Errors.fieldInvalid('message_invalid').error;
  if (field === 'data') return Errors.dataMissing().error;
  return Errors.fieldInvalid(`${String(field)}_invalid`).error;
}
