/**
 * The HTTP publish API (issue 15): a `POST` that other backends (PHP, Python, cron jobs, …)
 * use to publish into the server without speaking Bayeux, authenticated by a bearer token.
 * See docs/publish-api.md.
 *
 * The order of the checks is the order of their cost: method, token and content type are
 * read from the headers, and a request refused on them is answered without its body being
 * read (a lingering close, linger.ts, lets the client read the answer). Only then is the
 * body read, checked whole (publish-messages.ts), and its messages published one by one, in
 * order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { z } from 'zod';
import { codedTypeError } from '../lib/coded-errors.js';
import { EngineUnavailableError } from '../lib/engines/engine.js';
import { BayeuxErrorException, Errors } from '../lib/errors.js';
import type { BayeuxServer } from '../lib/server.js';
import { BearerTokens, TOKEN_SYNTAX } from './bearer-token.js';
import { checkOptions } from './check-options.js';
import { answerLingering } from './linger.js';
import { checkPublishBody, type PublishMessage } from './publish-messages.js';
import { rawHeader } from './raw-header.js';
import { readBody, type Body } from './read-body.js';

const debug = createDebug('bayeux:publish-endpoint');

/** Options for {@link publishEndpoint}. */
export interface PublishEndpointOptions {
  /**
   * The secret callers send as `Authorization: Bearer <token>`; required. An array accepts
   * any of its tokens, to rotate one without downtime: add the new token, move the callers,
   * remove the old one. Each is made of the characters of RFC 6750 tokens (letters, digits,
   * `- . _ ~ + /`, then `=` padding): base64, base64url and hex all fit. Use a long random
   * one (`openssl rand -hex 32`).
   */
  token: string | string[];
  /** Largest request body, in bytes; larger gets HTTP 413. Default: the server's `maxBodyBytes`. */
  maxBodyBytes?: number;
  /** Longest time, in ms, the body may take to arrive; slower gets HTTP 408. Default: the server's `bodyTimeout`. */
  bodyTimeout?: number;
  /** Most messages in one request; more gets HTTP 400. Default: the server's `maxBatchMessages`. */
  maxMessages?: number;
}

/** What one published message came to, in the 200 answer. */
export interface PublishResult {
  /** The message's channel. */
  channel: string;
  /** Sessions the message was queued for: subscribers reached, or 1 or 0 for a `clientId` delivery. */
  sessions: number;
  /** The message's `id`, when it had one. */
  id?: string | number;
}

/**
 * The request handler {@link publishEndpoint} returns: it answers every request it is
 * given (route `POST <mount>/publish` to it), and never calls a `next`.
 */
export type PublishEndpoint = (req: IncomingMessage, res: ServerResponse) => void;

const token = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .regex(TOKEN_SYNTAX, "must be an RFC 6750 token: letters, digits, '-._~+/', then '=' padding (no blanks)");

const optionsSchema = z.strictObject({
  token: z.union([token, z.array(token).min(1, 'must list at least one token')], {
    error: 'is required: a token string or a non-empty array of them',
  }),
  maxBodyBytes: z.number().int().min(1024).optional(),
  bodyTimeout: z.number().int().min(100).max(10 * 60_000).optional(),
  maxMessages: z.number().int().min(1).optional(),
});

/** The realm callers see in `WWW-Authenticate`. */
const CHALLENGE = 'Bearer realm="bayeux-publish"';

/** Error bodies say what failed; when publishing had begun, also which message and what went before. */
interface ErrorBody {
  error: string;
  index?: number;
  results?: PublishResult[];
}

/**
 * Creates the publish endpoint of `bayeux`: `POST` a message `{ channel, data, clientId?,
 * ext?, id? }` (or an array of them) as JSON with `Authorization: Bearer <token>`; the answer
 * is `{ "results": [{ "channel", "sessions", "id"? }, …] }`, one per message, in order. See
 * docs/publish-api.md for the status codes. Throws a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`)
 * naming a missing, bad or unknown option.
 */
export function publishEndpoint(bayeux: BayeuxServer, options: PublishEndpointOptions): PublishEndpoint {
  if (typeof (bayeux as Partial<BayeuxServer> | null)?.publish !== 'function' || typeof bayeux.session !== 'function') {
    throw codedTypeError('ERR_BAYEUX_INVALID_ARGUMENT', 'publishEndpoint needs a BayeuxServer as its first argument');
  }
  const o = checkOptions(optionsSchema, options, 'publishEndpoint');
  const endpoint = new Endpoint(
    bayeux,
    new BearerTokens(typeof o.token === 'string' ? [o.token] : o.token),
    o.maxBodyBytes ?? bayeux.options.maxBodyBytes,
    o.bodyTimeout ?? bayeux.options.bodyTimeout,
    o.maxMessages ?? bayeux.options.maxBatchMessages,
  );
  return (req, res) => {
    try {
      endpoint.serve(req, res);
    } catch (err) {
      // Never a 500 nor a crash of the app's server: a bug here is logged and refused.
      endpoint.failed(req, res, err, -1, []);
    }
  };
}

class Endpoint {
  constructor(
    private readonly bayeux: BayeuxServer,
    private readonly tokens: BearerTokens,
    private readonly maxBodyBytes: number,
    private readonly bodyTimeout: number,
    private readonly maxMessages: number,
  ) {}

  serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') return answer(req, res, 405, { error: `method ${req.method} not allowed` }, { Allow: 'POST' });
    const auth = this.tokens.check(rawHeader(req, 'authorization'));
    if (auth !== 'ok') {
      const challenge = auth === 'missing' ? CHALLENGE : `${CHALLENGE}, error="invalid_token"`;
      debug('401 %s token', auth);
      return answer(req, res, 401, { error: auth === 'missing' ? 'bearer token required' : 'invalid token' }, { 'WWW-Authenticate': challenge });
    }
    const typeProblem = contentTypeProblem(rawHeader(req, 'content-type'));
    if (typeProblem !== null) return answer(req, res, 415, { error: typeProblem });
    if (this.unavailable(req, res)) return;
    readBody(req, this.maxBodyBytes, this.bodyTimeout, (err, body) => {
      if (err) return answer(req, res, err.status, { error: err.message });
      try {
        this.received(req, res, body!);
      } catch (e) {
        this.failed(req, res, e, -1, []);
      }
    });
  }

  /** The whole body is here: parse, check every message, then publish. */
  private received(req: IncomingMessage, res: ServerResponse, body: Body): void {
    let value: unknown;
    if (body.kind === 'parsed') value = body.value;
    else {
      try {
        value = JSON.parse(stripBom(body.text));
      } catch {
        return answer(req, res, 400, { error: 'body is not valid JSON' });
      }
    }
    const checked = checkPublishBody(value, { maxMessages: this.maxMessages, maxMessageBytes: this.bayeux.options.maxMessageBytes });
    if (!checked.ok) {
      const refusal: ErrorBody = checked.index === undefined ? { error: checked.error } : { error: checked.error, index: checked.index };
      return answer(req, res, 400, refusal);
    }
    this.publishAll(req, res, checked.messages).catch((err: unknown) => this.failed(req, res, err, -1, []));
  }

  /** Refuses (503) when this process cannot publish now; true when it did. */
  private unavailable(req: IncomingMessage, res: ServerResponse): boolean {
    const b = this.bayeux;
    if (b.isClosed) answer(req, res, 503, { error: 'server closed' });
    // Draining for a deploy: a retry through the load balancer reaches another process.
    else if (b.isDraining) answer(req, res, 503, { error: Errors.serverDraining(1000).error }, { 'Retry-After': '1' });
    else if (b.engineStatus === 'down') {
      const cause = b.lastEngineError;
      engineDown(req, res, cause instanceof EngineUnavailableError ? cause.retryMs : 1000, {});
    } else return false;
    return true;
  }

  /** Publishes in order, each once the one before is queued; answers with every result. */
  private async publishAll(req: IncomingMessage, res: ServerResponse, messages: readonly PublishMessage[]): Promise<void> {
    const results: PublishResult[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (this.bayeux.isClosed) return answer(req, res, 503, { error: 'server closed', index: i, results });
      let sessions: number;
      try {
        sessions = await this.publishOne(m);
      } catch (err) {
        return this.failed(req, res, err, i, results);
      }
      results.push(m.id === undefined ? { channel: m.channel, sessions } : { channel: m.channel, sessions, id: m.id });
    }
    debug('published %d message(s)', messages.length);
    answer(req, res, 200, { results });
  }

  private async publishOne(m: PublishMessage): Promise<number> {
    if (m.clientId === undefined) return this.bayeux.publish(m.channel, m.data, m.ext === undefined ? {} : { ext: m.ext });
    const delivered = await this.bayeux.session(m.clientId).deliver(m.channel, m.data, m.ext === undefined ? {} : { ext: m.ext });
    return delivered ? 1 : 0;
  }

  /**
   * Publishing message `index` failed (or, with -1, the endpoint itself did). The body was
   * checked, so this is the server's state, not the caller's request: 503 to retry later.
   */
  failed(req: IncomingMessage, res: ServerResponse, err: unknown, index: number, results: PublishResult[]): void {
    const where: Partial<ErrorBody> = index < 0 ? {} : { index, results };
    if (err instanceof EngineUnavailableError) {
      debug('engine unavailable at message %d: %s', index, err.message);
      return engineDown(req, res, err.retryMs, where);
    }
    if (this.bayeux.isClosed) return answer(req, res, 503, { error: 'server closed', ...where });
    // A listener's own refusal, or a call the checks should have caught: the caller's to fix.
    if (err instanceof BayeuxErrorException) return answer(req, res, 400, { error: err.bayeux.error, ...where });
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ERR_BAYEUX_INVALID_CHANNEL' || code === 'ERR_BAYEUX_INVALID_ARGUMENT') {
      return answer(req, res, 400, { error: Errors.fieldInvalid('message_invalid').error, ...where });
    }
    debug('unexpected failure at message %d: %O', index, err);
    this.bayeux.reportError(err);
    answer(req, res, 503, { error: '503::publish_failed', ...where }, { 'Retry-After': '1' });
  }
}

function engineDown(req: IncomingMessage, res: ServerResponse, retryMs: number, where: Partial<ErrorBody>): void {
  const retryAfter = String(Math.max(1, Math.ceil(retryMs / 1000)));
  answer(req, res, 503, { error: Errors.unavailable(retryMs).error, ...where }, { 'Retry-After': retryAfter });
}

/**
 * Null for `application/json` with no charset or UTF-8 (the body is read as UTF-8, as
 * RFC 8259 requires of JSON between systems), else what is wrong.
 */
function contentTypeProblem(contentType: string | undefined): string | null {
  if (contentType === undefined) return 'Content-Type application/json required';
  const [type, ...params] = contentType.split(';');
  if (type!.trim().toLowerCase() !== 'application/json') return `unsupported content type ${type!.trim()}, expected application/json`;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') return `unsupported charset ${charset}, expected utf-8`;
  }
  return null;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Writes a JSON answer. When the request body has not been read to its end (a refusal
 * before reading it, 413, 408), the answer closes the connection after a lingering drain
 * of the body, so that the client reads it rather than a reset.
 */
function answer(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: ErrorBody | { results: PublishResult[] },
  extra: Record<string, string> = {},
): void {
  if (status !== 200) debug('%d %s%s', status, (body as ErrorBody).error, 'index' in body ? ` (message ${body.index})` : '');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  };
  answerLingering(req, res, status, headers, text);
}
