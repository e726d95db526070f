/**
 * callback-polling (JSONP): a GET carrying the batch in `message` (one JSON object or array,
 * possibly several `message` parameters) and the callback name in `jsonp` (default
 * `jsonpcallback`), answered with a script that calls the callback with the reply array.
 *
 * Browsers use it when they may not make a cross-origin XHR (CometD's fallback when CORS is
 * refused, Faye's cross-origin handshake, dojox.cometd cross-domain). Holding and releasing
 * `/meta/connect` is the same as long-polling; deliveries ride only on connect replies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { z } from 'zod';
import { joinMessages } from '../lib/serialize.js';
import type { BayeuxServer } from '../lib/server.js';
import { isValidCallback } from './callback-name.js';
import { checkOptions, parameterName } from './check-options.js';
import { dispatch } from './dispatch.js';
import { HttpExchange, type ResponseWriter } from './http-exchange.js';
import { HttpError, writeHttpError } from './http-errors.js';
import { parseMessageParams } from './parse-batch.js';
import { queryOf, queryParams } from './query.js';
import type { HandlerContext, Transport } from './transport.js';

const debug = createDebug('bayeux:transport:callback-polling');

/** Options for {@link callbackPolling}. */
export interface CallbackPollingOptions {
  /** Query parameter that names the callback (not `message`). Default `jsonp` (what every client sends). */
  callbackParameter?: string;
  /** Callback used when the parameter is absent. Default `jsonpcallback` (the Bayeux spec's). */
  defaultCallback?: string;
  /** Longest accepted callback name. Default 128 (Dojo's dotted names run to about 60); at most 4096. */
  maxCallbackLength?: number;
}

const optionsSchema = z
  .strictObject({
    callbackParameter: parameterName.refine((p) => p !== 'message', "cannot be 'message' (it carries the messages)").default('jsonp'),
    defaultCallback: z.string().default('jsonpcallback'),
    maxCallbackLength: z.number().int().min(1).max(4096).default(128),
  })
  .superRefine((o, ctx) => {
    if (!isValidCallback(o.defaultCallback, o.maxCallbackLength)) {
      ctx.addIssue({ code: 'custom', path: ['defaultCallback'], message: `${JSON.stringify(o.defaultCallback)} is not a valid name` });
    }
  });

/**
 * JSON is not quite JavaScript: U+2028 and U+2029 are legal in JSON strings but ended
 * string literals in older engines. Escaped, the script means the same everywhere.
 */
function escapeSeparators(json: string): string {
  if (json.indexOf('\u2028') < 0 && json.indexOf('\u2029') < 0) return json;
  return json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * The script body: `/**\/cb([...]);`. The leading comment keeps the first bytes out of the
 * caller's control (the "Rosetta Flash" attack needs them).
 */
function jsonpBody(callback: string, parts: readonly string[]): string {
  return '/**/' + callback + '(' + escapeSeparators(joinMessages(parts)) + ');';
}

/** A {@link ResponseWriter} for one callback name. */
function jsonpWriter(callback: string): ResponseWriter {
  return (res: ServerResponse, parts: readonly string[]) => {
    const body = jsonpBody(callback, parts);
    res.writeHead(200, [
      'Content-Type',
      'text/javascript; charset=utf-8',
      'Cache-Control',
      'no-cache, no-store',
      'X-Content-Type-Options',
      'nosniff',
      // Fetched as a document (not by a script tag), the reply is a download, never a page.
      'Content-Disposition',
      'attachment; filename=f.txt',
      'Content-Length',
      String(Buffer.byteLength(body)),
    ]);
    res.end(body);
  };
}

class CallbackPollingTransport implements Transport {
  readonly connectionType = 'callback-polling';
  private readonly param: string;
  private readonly fallback: string;
  private readonly maxLength: number;

  constructor(options: CallbackPollingOptions) {
    const o = checkOptions(optionsSchema, options, 'callbackPolling');
    this.param = o.callbackParameter;
    this.fallback = o.defaultCallback;
    this.maxLength = o.maxCallbackLength;
  }

  accepts(req: IncomingMessage): boolean {
    if (req.method !== 'GET') return false;
    const query = queryOf(req.url);
    return query !== null && new URLSearchParams(query).has('message');
  }

  handle(req: IncomingMessage, res: ServerResponse, server: BayeuxServer, context?: HandlerContext): void {
    const params = queryParams(req.url);
    const names = params.getAll(this.param);
    if (names.length > 1) return writeHttpError(res, 400, `more than one ${this.param} parameter`);
    const callback = names.length === 1 ? names[0]! : this.fallback;
    if (!isValidCallback(callback, this.maxLength)) {
      debug('refused callback name of %d chars', callback.length);
      // The name is not echoed: the body is plain text and says nothing the caller chose.
      return writeHttpError(res, 400, `invalid ${this.param} callback name`);
    }
    const values = params.getAll('message');
    let batch: unknown[];
    try {
      batch = parseMessageParams(values);
    } catch (e) {
      if (e instanceof HttpError) return writeHttpError(res, e.status, e.message);
      return writeHttpError(res, 400, 'malformed request');
    }
    let bytes = 0;
    for (const v of values) bytes += Buffer.byteLength(v);
    if (bytes > server.options.maxBodyBytes) return writeHttpError(res, 413, `message larger than ${server.options.maxBodyBytes} bytes`);
    const exchange = new HttpExchange(req, res, this.connectionType, false, jsonpWriter(callback));
    if (context) exchange.browserId = context.browserId(req, res, batch);
    dispatch(server, exchange, batch, bytes);
  }
}

/** Creates the callback-polling (JSONP) transport. Throws a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`) naming a bad or unknown option. */
export function callbackPolling(options: CallbackPollingOptions = {}): Transport {
  return new CallbackPollingTransport(options);
}
