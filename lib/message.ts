/**
 * The Bayeux message schema, declared once with zod; the TypeScript types are inferred
 * from it. Unknown fields are kept (clients and extensions add their own).
 */
import { z } from 'zod';

/** Client-sent or server-sent advice. */
export const AdviceSchema = z.looseObject({
  // Any string: clients only hint, and old drafts used values such as `recover`.
  reconnect: z.string().max(32).optional(),
  interval: z.number().finite().optional(),
  timeout: z.number().finite().nonnegative().optional(),
  maxInterval: z.number().finite().optional(),
  'multiple-clients': z.boolean().optional(),
  hosts: z.array(z.string()).optional(),
});

/** Message ids are opaque; numbers are accepted and turned into strings, as CometD does. */
const IdSchema = z
  .union([z.string().max(256), z.number().finite()])
  .transform((v) => (typeof v === 'number' ? String(v) : v));

/** One inbound message as received from a client. `channel` is checked by the grammar later. */
export const MessageSchema = z.looseObject({
  channel: z.string(),
  id: IdSchema.optional(),
  clientId: z.string().max(256).optional(),
  data: z.unknown().optional(),
  ext: z.record(z.string(), z.unknown()).optional(),
  advice: AdviceSchema.optional(),
  version: z.union([z.string().max(64), z.number()]).optional(),
  minimumVersion: z.union([z.string().max(64), z.number()]).optional(),
  supportedConnectionTypes: z.array(z.string().max(64)).max(32).optional(),
  connectionType: z.string().max(64).optional(),
  subscription: z.unknown().optional(),
  successful: z.boolean().optional(),
  error: z.string().optional(),
});

/** An inbound message after schema validation. */
export type Message = z.infer<typeof MessageSchema>;
/** Advice as sent or received. */
export type Advice = z.infer<typeof AdviceSchema>;

/** A reply the server writes for a meta message or a publish. */
export interface Reply {
  channel: string;
  successful: boolean;
  id?: string;
  clientId?: string;
  error?: string;
  advice?: Advice;
  subscription?: unknown;
  ext?: Record<string, unknown>;
  [field: string]: unknown;
}

/** A message delivered to a client: always has `data`. */
export interface Delivery {
  channel: string;
  data: unknown;
  id?: string;
  ext?: Record<string, unknown>;
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
