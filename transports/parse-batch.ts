/**
 * Turns a request body into a batch of raw messages. Accepted, as real clients send them:
 * a JSON array or object (`application/json`, `text/json`, or any type when the body
 * starts with `[` or `{`), and form-encoded `message=` fields, possibly repeated, also
 * under `text/plain` (Faye's cross-origin XHR avoids a preflight that way).
 */
import { HttpError } from './http-errors.js';

function mediaType(contentType: string | undefined): string {
  if (!contentType) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function firstNonSpace(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 0xfeff) return text[i]!;
  }
  return '';
}

/** Parses JSON text into a batch (array or single object). */
export function parseJsonBatch(text: string, what = 'body'): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, `${what} is not valid JSON`);
  }
  return toBatch(value, what);
}

/** An array is a batch; an object is a batch of one; anything else is refused. */
export function toBatch(value: unknown, what = 'body'): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && value !== null) return [value];
  throw new HttpError(400, `${what} must be a JSON array or object`);
}

/** Concatenates every `message` value (each a JSON array or object). */
export function parseMessageParams(values: readonly string[]): unknown[] {
  if (values.length === 0) throw new HttpError(400, 'no message parameter');
  if (values.length === 1) return parseJsonBatch(values[0]!, 'message parameter');
  const out: unknown[] = [];
  for (const v of values) out.push(...parseJsonBatch(v, 'message parameter'));
  return out;
}

const JSON_TYPES = new Set(['application/json', 'text/json']);
const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'text/plain', '']);

/** Parses a POST body according to its content type. Throws {@link HttpError}. */
export function parseBody(text: string, contentType: string | undefined): unknown[] {
  const first = firstNonSpace(text);
  if (first === '') throw new HttpError(400, 'empty body');
  if (first === '[' || first === '{') return parseJsonBatch(text);
  const type = mediaType(contentType);
  if (JSON_TYPES.has(type)) return parseJsonBatch(text);
  if (FORM_TYPES.has(type)) return parseMessageParams(new URLSearchParams(text).getAll('message'));
  throw new HttpError(415, `unsupported content type ${type}`);
}

/** A body already parsed by middleware: a batch, or a form object with `message`. */
export function parsePreParsed(value: unknown): unknown[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !('channel' in value) && 'message' in value) {
    const m = (value as { message: unknown }).message;
    const values = Array.isArray(m) ? m : [m];
    if (!values.every((v) => typeof v === 'string')) throw new HttpError(400, 'message parameter must be JSON text');
    return parseMessageParams(values as string[]);
  }
  return toBatch(value);
}
