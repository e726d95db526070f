/**
 * The Bayeux message schema, declared once with zod; the TypeScript types are inferred
 * from it. Unknown fields are kept (clients and extensions add their own).
 */
import { z } from 'zod';

/** Client-sent or server-sent advice. */
export const AdviceSchema = z.looseObject({
  // Any string: clients only hint, and old drafts used values such as `recover`.
  /** How the client should go on after this reply: `retry` (connect again), `handshake` (start a new session) or `none` (stop). */
  reconnect: z.string().max(32).optional(),
  /** Pause before the next `/meta/connect`, in ms. */
  interval: z.number().finite().optional(),
  /** How long a `/meta/connect` is held open, in ms (sent by the server; a client may ask for its own). */
  timeout: z.number().finite().nonnegative().optional(),
  /** How long the server keeps a session without a `/meta/connect` after a reply, in ms. */
  maxInterval: z.number().finite().optional(),
  /** True when another tab of the same browser already holds a connect: this one polls at `interval` instead. */
  'multiple-clients': z.boolean().optional(),
  /** Other hosts the client may reconnect to (part of the protocol; this server sends none). */
  hosts: z.array(z.string()).optional(),
});

/** Message ids are opaque; numbers are accepted and turned into strings, as CometD does. */
const IdSchema = z
  .union([z.string().max(256), z.number().finite()])
  .transform((v) => (typeof v === 'number' ? String(v) : v));

/** One inbound message as received from a client. `channel` is checked by the grammar later. */
export const MessageSchema = z.looseObject({
  /** The channel: a meta channel (`/meta/handshake`, `/meta/connect`…), a service channel (`/service/…`) or a broadcast channel. */
  channel: z.string(),
  /** The client's message id, echoed in the reply (a number is turned into a string). */
  id: IdSchema.optional(),
  /** The session's id; absent only on a handshake. */
  clientId: z.string().max(256).optional(),
  /** The payload of a publish. */
  data: z.unknown().optional(),
  /** Extension fields (e.g. `ack`, `timesync`, credentials for a handshake). */
  ext: z.record(z.string(), z.unknown()).optional(),
  /** Advice from the client (e.g. the `timeout` it wants on a connect). */
  advice: AdviceSchema.optional(),
  /** Handshake: the Bayeux protocol version of the client. */
  version: z.union([z.string().max(64), z.number()]).optional(),
  /** Handshake: the oldest protocol version the client accepts. */
  minimumVersion: z.union([z.string().max(64), z.number()]).optional(),
  /** Handshake: the connection types the client can use, in its order of preference. */
  supportedConnectionTypes: z.array(z.string().max(64)).max(32).optional(),
  /** Connect: the connection type this connect uses (e.g. `long-polling`). */
  connectionType: z.string().max(64).optional(),
  /** Subscribe and unsubscribe: a channel name or an array of them (checked by the handler). */
  subscription: z.unknown().optional(),
  /** Whether a request succeeded: a field of replies, which an incoming message seldom carries. */
  successful: z.boolean().optional(),
  /** A Bayeux error string (`code:args:text`); an incoming extension sets it to refuse the message. */
  error: z.string().optional(),
});

/**
 * An inbound message after schema validation. Fields other than those listed are kept as
 * the client sent them. (An interface, not an alias, so the name survives in signatures
 * and the API reference.)
 */
export interface Message extends z.infer<typeof MessageSchema> {}
/** Advice as sent or received. Fields other than those listed are kept. */
export interface Advice extends z.infer<typeof AdviceSchema> {}

/** A reply the server writes for a meta message or a publish. */
export interface Reply {
  /** The channel of the message it answers. */
  channel: string;
  /** Whether the request succeeded. */
  successful: boolean;
  /** The id of the message it answers, when that had one. */
  id?: string;
  /** The session's id (for a successful handshake, the new session's). */
  clientId?: string;
  /** On failure: a Bayeux error string (`code:args:text`, e.g. `402::session_unknown`). */
  error?: string;
  /** How the client should reconnect (connect and handshake replies, failures). */
  advice?: Advice;
  /** Subscribe and unsubscribe replies: the subscription as requested. */
  subscription?: unknown;
  /** Extension fields (e.g. `ack`, `timesync`). */
  ext?: Record<string, unknown>;
  /** Other fields: handshake replies carry `version`, `supportedConnectionTypes`…; extensions may add their own. */
  [field: string]: unknown;
}

/** A message delivered to a client: always has `data`. */
export interface Delivery {
  /** The channel it was published on (for a direct delivery, the channel given to `deliver`). */
  channel: string;
  /** The payload. */
  data: unknown;
  /** Only on direct deliveries that set it (`deliver`, e.g. to answer a remote call); broadcasts carry none. */
  id?: string;
  /** Extension fields (a broadcast carries the publisher's `ext`). */
  ext?: Record<string, unknown>;
  /** Other fields, as `deliver` or extensions set them (e.g. `successful` on a remote-call answer). */
  [field: string]: unknown;
}

/**
 * Validates one raw message. Returns the typed message, or a short description of the
 * first problem (used in the `405` error reply).
 */
export function validateMessage(raw: unknown): { ok: true; message: Message } | { ok: false; problem: string } {
  const r = checkMessage(raw);
  return r instanceof MessageProblem ? { ok: false, problem: r.problem } : { ok: true, message: r };
}

/** What {@link checkMessage} returns for a message that breaks the schema. */
export class MessageProblem {
  constructor(readonly problem: string) {}
}

/** @internal {@link validateMessage} without a result object per message (the batch loop's form). */
export function checkMessage(raw: unknown): Message | MessageProblem {
  const fast = plainConnect(raw);
  if (fast !== null) return fast;
  const r = MessageSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'message';
  return new MessageProblem(`${where}_invalid`);
}

const CONNECT_FIELDS = new Set(['channel', 'clientId', 'connectionType', 'id', 'advice']);

/**
 * The most frequent message by far is a plain `/meta/connect` (a heartbeat). This checks it
 * by the same rules as {@link MessageSchema} without copying it; anything with other
 * fields, or that breaks a rule, returns null and goes through the schema (which also
 * names the problem).
 */
function plainConnect(raw: unknown): Message | null {
  const m = raw as Record<string, unknown>;
  if (m.channel !== '/meta/connect') return null;
  for (const k in m) if (!CONNECT_FIELDS.has(k)) return null;
  const { clientId, connectionType, id, advice } = m;
  if (clientId !== undefined && (typeof clientId !== 'string' || clientId.length > 256)) return null;
  if (connectionType !== undefined && (typeof connectionType !== 'string' || connectionType.length > 64)) return null;
  if (id !== undefined && (typeof id !== 'string' || id.length > 256)) return null;
  if (advice !== undefined) {
    if (typeof advice !== 'object' || advice === null || Array.isArray(advice)) return null;
    for (const k in advice) {
      if (k !== 'timeout' && k !== 'interval') return null;
      const v = (advice as Record<string, unknown>)[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || (k === 'timeout' && v < 0)) return null;
    }
  }
  return m as Message;
}
