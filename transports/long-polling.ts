/**
 * long-polling: POSTed batches, answered with a JSON array (HTTP 200, never empty).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { z } from 'zod';
import { joinMessages } from '../lib/serialize.js';
import type { BayeuxServer } from '../lib/server.js';
import { dispatch } from './dispatch.js';
import { HttpExchange } from './http-exchange.js';
import { checkOptions } from './check-options.js';
import { HttpError, writeHttpError } from './http-errors.js';
import { parseBody, parsePreParsed } from './parse-batch.js';
import { queryParams } from './query.js';
import { rawHeader } from './raw-header.js';
import { readBody } from './read-body.js';
import type { HandlerContext, Transport } from './transport.js';

const debug = createDebug('bayeux:transport:long-polling');

/** Options for {@link longPolling}. */
export interface LongPollingOptions {
  /** Let queued deliveries ride on responses to requests other than `/meta/connect`. Default true. */
  piggyback?: boolean;
}

const optionsSchema = z.strictObject({ piggyback: z.boolean().default(true) });

const JSON_TYPE = 'application/json;charset=UTF-8';

/** Writes a JSON array with one `writeHead` (headers as a flat list: the cheapest form). */
function writeJson(res: ServerResponse, parts: readonly string[]): void {
  const body = joinMessages(parts);
  res.writeHead(200, [
    'Content-Type',
    JSON_TYPE,
    'Cache-Control',
    'no-cache, no-store',
    'Content-Length',
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}

class LongPollingTransport implements Transport {
  readonly connectionType = 'long-polling';
  readonly aliases = ['long-polling-json-encoded', 'long-polling-form-encoded', 'cross-origin-long-polling'];
  constructor(private readonly piggyback: boolean) {}

  accepts(req: IncomingMessage): boolean {
    if (req.method !== 'POST') return false;
    // A POST naming another transport is that transport's (iframe streaming's ticket request).
    const url = req.url;
    if (url === undefined || !url.includes('transport=')) return true;
    const named = queryParams(url).get('transport');
    return named === null || named === 'long-polling';
  }

  handle(req: IncomingMessage, res: ServerResponse, server: BayeuxServer, context?: HandlerContext): void {
    readBody(req, server.options.maxBodyBytes, server.options.bodyTimeout, (err, body) => {
      if (err) return writeHttpError(res, err.status, err.message);
      let batch: unknown[];
      try {
        batch = body!.kind === 'text' ? parseBody(body!.text, rawHeader(req, 'content-type')) : parsePreParsed(body!.value);
      } catch (e) {
        if (e instanceof HttpError) return writeHttpError(res, e.status, e.message);
        debug('unexpected parse failure: %O', e);
        return writeHttpError(res, 400, 'malformed request');
      }
      const exchange = new HttpExchange(req, res, this.connectionType, this.piggyback, writeJson);
      if (context) exchange.browserId = context.browserId(req, res, batch);
      dispatch(server, exchange, batch, body!.bytes);
    });
  }
}

/** Creates the long-polling transport. Throws a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`) naming a bad or unknown option. */
export function longPolling(options: LongPollingOptions = {}): Transport {
  return new LongPollingTransport(checkOptions(optionsSchema, options, 'longPolling').piggyback);
}
