/**
 * iframe streaming ("forever frame"), connection type `iframe`: the page POSTs its
 * `/meta/connect` to `<mount>?transport=iframe` for a single-use ticket, then loads a hidden
 * iframe from `GET <mount>?transport=iframe&ticket=…&callback=…&signoff=…` (no `clientId`
 * or `ext` in the URL, so none in access logs), and the server keeps the document open, writing each connect answer as a `<script>` that
 * calls `window.parent.<callback>([...])`. Everything else the client sends goes by
 * long-polling (or JSONP). The wire format is in docs/iframe.md.
 *
 * The transport also serves the browser side, a CometD JavaScript client transport, at
 * `<mount>/iframe-transport.js`.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { z } from 'zod';
import { HoldTimer } from '../lib/hold-timer.js';
import type { BayeuxServer } from '../lib/server.js';
import { isValidCallback } from './callback-name.js';
import { checkOptions, milliseconds, parameterName } from './check-options.js';
import { HttpError, writeHttpError } from './http-errors.js';
import { IFRAME_CLIENT_SCRIPT } from './iframe-client.js';
import { Beat, Tunnel, type TunnelHost } from './iframe-tunnel.js';
import { TicketStore } from './iframe-tickets.js';
import { parseBody, parsePreParsed } from './parse-batch.js';
import { queryOf, queryParams } from './query.js';
import { rawHeader } from './raw-header.js';
import { readBody } from './read-body.js';
import type { HandlerContext, Transport } from './transport.js';

const debug = createDebug('bayeux:transport:iframe');

/** Options for {@link iframeStreaming}. */
export interface IframeStreamingOptions {
  /**
   * ms a document stays open. Then it ends (the parent's sign-off function is called) and
   * the client opens the next one; a connect held at that moment is left to the next
   * document with its mail. Keep it under what proxies and firewalls allow a response to
   * last. Default 60000; from 100 to 86400000 (a day).
   */
  maxAge?: number;
  /**
   * Bytes written to one document before it ends, checked after each answer: bounds what
   * the browser keeps of the document and what a proxy that buffers responses holds back.
   * Default 262144 (256 KiB).
   */
  maxBytes?: number;
  /**
   * ms without a write after which a newline is written, so that proxies that cut idle
   * connections see traffic. 0 for none. Default 15000; at most 86400000 (a day).
   */
  heartbeat?: number;
  /**
   * Spaces written after each script, for browsers and proxies that hold back small writes
   * (historically about 2 KB; Chromium runs each script at once without any). Default 256;
   * at most 65536.
   */
  padding?: number;
  /** Spaces written after the document head, for browsers that wait for the first KB of a document. Default 1024; at most 65536. */
  initialPadding?: number;
  /** Query parameter naming the delivery function (not `transport` or `connect`). Default `callback`. */
  callbackParameter?: string;
  /** Query parameter naming the sign-off function. Default `signoff`. */
  signOffParameter?: string;
  /** Delivery function when the parameter is absent (a member path of `window.parent`). Default `cometd.deliver` (the historical one). */
  defaultCallback?: string;
  /** Sign-off function when the parameter is absent. Default `cometd.tunnelCollapse` (the historical one). */
  defaultSignOff?: string;
  /** Longest accepted function name. Default 128; at most 4096. */
  maxCallbackLength?: number;
  /** Serve the CometD client transport at `<mount>/iframe-transport.js`. Default true. */
  serveClient?: boolean;
  /**
   * ms within which a ticket (the single-use pass that opens a document, issued for the
   * client's POSTed connect) must be used; later it is refused with a 403. Default 10000;
   * from 100 to 600000.
   */
  ticketTimeout?: number;
  /**
   * Tickets issued and not yet used or expired, at most; past it a ticket request gets a
   * 503. Bounds the memory tickets take (with `maxTicketBytes`). Default 4096.
   */
  maxTickets?: number;
  /** Largest ticket request body (the connect) in bytes, never more than the server's `maxBodyBytes`; past it a 413. Default 16384. */
  maxTicketBytes?: number;
}

/** The iframe streaming transport, with counts for monitoring. */
export interface IframeStreamingTransport extends Transport {
  /** Documents open now. */
  readonly openDocuments: number;
  /** Documents opened since the transport was created. */
  readonly documentsOpened: number;
}

/** Where the client script is served, under the mount path. */
export const IFRAME_CLIENT_PATH = 'iframe-transport.js';

const CLIENT_ETAG = '"' + createHash('sha256').update(IFRAME_CLIENT_SCRIPT).digest('base64url').slice(0, 27) + '"';

/** Padding is built once as a string: bounded so that a typo cannot take the memory. */
const padding = z.number().int().min(0).max(64 * 1024);
/** Parameters the document request uses for itself (`connect` is refused there: it was the old form). */
const RESERVED = new Set(['transport', 'connect', 'ticket']);
const parameter = parameterName.refine((p) => !RESERVED.has(p), "cannot be 'transport', 'connect' or 'ticket' (the document request uses them)");

const optionsSchema = z
  .strictObject({
    maxAge: milliseconds(100).default(60_000),
    maxBytes: z.number().int().min(1).default(256 * 1024),
    heartbeat: milliseconds(0).default(15_000),
    padding: padding.default(256),
    initialPadding: padding.default(1024),
    callbackParameter: parameter.default('callback'),
    signOffParameter: parameter.default('signoff'),
    defaultCallback: z.string().default('cometd.deliver'),
    defaultSignOff: z.string().default('cometd.tunnelCollapse'),
    maxCallbackLength: z.number().int().min(1).max(4096).default(128),
    serveClient: z.boolean().default(true),
    ticketTimeout: z.number().int().min(100).max(600_000).default(10_000),
    maxTickets: z.number().int().min(1).max(1_000_000).default(4096),
    maxTicketBytes: z.number().int().min(64).default(16 * 1024),
  })
  .superRefine((o, ctx) => {
    for (const name of ['defaultCallback', 'defaultSignOff'] as const) {
      if (!isValidCallback(o[name], o.maxCallbackLength)) ctx.addIssue({ code: 'custom', path: [name], message: `${JSON.stringify(o[name])} is not a valid name` });
    }
    if (o.callbackParameter === o.signOffParameter) {
      ctx.addIssue({ code: 'custom', path: ['signOffParameter'], message: 'callbackParameter and signOffParameter must differ' });
    }
  });

/** True when the path (query ignored) ends in `/iframe-transport.js`. */
function isClientPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.endsWith('/' + IFRAME_CLIENT_PATH);
}

class IframeStreaming implements IframeStreamingTransport, TunnelHost {
  readonly connectionType = 'iframe';
  readonly maxBytes: number;
  readonly pad: string;
  readonly initialPad: string;
  private readonly maxAge: number;
  private readonly heartbeatMs: number;
  private readonly callbackParam: string;
  private readonly signOffParam: string;
  private readonly defaultCallback: string;
  private readonly defaultSignOff: string;
  private readonly maxLength: number;
  private readonly serveClient: boolean;
  private readonly tickets: TicketStore;
  private readonly maxTicketBytes: number;
  private readonly ages = new HoldTimer<Tunnel>((t) => t.expire());
  private readonly beats = new HoldTimer<Beat>((b) => b.tunnel.heartbeat());
  private open = 0;
  private opened = 0;

  constructor(options: IframeStreamingOptions) {
    const o = checkOptions(optionsSchema, options, 'iframeStreaming');
    this.maxAge = o.maxAge;
    this.maxBytes = o.maxBytes;
    this.heartbeatMs = o.heartbeat;
    this.pad = ' '.repeat(o.padding) + '\n';
    this.initialPad = ' '.repeat(o.initialPadding) + '\n';
    this.callbackParam = o.callbackParameter;
    this.signOffParam = o.signOffParameter;
    this.maxLength = o.maxCallbackLength;
    this.defaultCallback = o.defaultCallback;
    this.defaultSignOff = o.defaultSignOff;
    this.serveClient = o.serveClient;
    this.tickets = new TicketStore(o.ticketTimeout, o.maxTickets);
    this.maxTicketBytes = o.maxTicketBytes;
  }

  get openDocuments(): number {
    return this.open;
  }
  get documentsOpened(): number {
    return this.opened;
  }

  accepts(req: IncomingMessage): boolean {
    const url = req.url ?? '';
    const method = req.method;
    // GET: a document; POST: a ticket request (long-polling leaves POSTs naming another transport).
    if (method === 'GET' || method === 'POST') {
      // A cheap test first: most GETs are JSONP polls.
      if (url.includes('transport=iframe')) {
        const query = queryOf(url);
        if (query !== null && new URLSearchParams(query).get('transport') === 'iframe') return true;
      }
      if (method === 'POST') return false;
    } else if (method !== 'HEAD') return false;
    return this.serveClient && isClientPath(url);
  }

  handle(req: IncomingMessage, res: ServerResponse, server: BayeuxServer, context?: HandlerContext): void {
    if (req.method === 'POST') return this.issueTicket(req, res, server);
    const params = queryParams(req.url);
    // Not a document request: accepts() let it through as the client script.
    if (req.method !== 'GET' || params.get('transport') !== 'iframe') return this.sendClient(req, res);
    const callback = this.name(params, this.callbackParam, this.defaultCallback);
    const signOff = this.name(params, this.signOffParam, this.defaultSignOff);
    if (callback === null || signOff === null) {
      debug('refused a function name');
      // The names are not echoed: the body is plain text and says nothing the caller chose.
      return writeHttpError(res, 400, `invalid ${callback === null ? this.callbackParam : this.signOffParam} function name`);
    }
    // The old form put the whole connect (clientId, ext with any token) in the URL: refused.
    if (params.has('connect')) return writeHttpError(res, 400, 'the connect goes in a ticket request (POST), not in the URL');
    const tickets = params.getAll('ticket');
    if (tickets.length !== 1) return writeHttpError(res, 400, tickets.length === 0 ? 'no ticket parameter' : 'more than one ticket parameter');
    const ticketed = this.tickets.redeem(tickets[0]!);
    if (ticketed === null) return writeHttpError(res, 403, 'unknown, used or expired ticket');
    const message = ticketed.connect;
    const browserId = context?.browserId(req, res, [message]);
    const tunnel = new Tunnel(this, server, req, res, callback, signOff, browserId, message);
    this.open++;
    this.opened++;
    tunnel.start(message, ticketed.bytes);
  }

  /** `POST <mount>?transport=iframe` with one `/meta/connect`: answers `{"ticket":"…"}`. */
  private issueTicket(req: IncomingMessage, res: ServerResponse, server: BayeuxServer): void {
    readBody(req, Math.min(this.maxTicketBytes, server.options.maxBodyBytes), server.options.bodyTimeout, (err, body) => {
      if (err) return writeHttpError(res, err.status, err.message);
      let batch: unknown[];
      try {
        batch = body!.kind === 'text' ? parseBody(body!.text, rawHeader(req, 'content-type')) : parsePreParsed(body!.value);
      } catch (e) {
        return writeHttpError(res, e instanceof HttpError ? e.status : 400, e instanceof HttpError ? e.message : 'malformed ticket request');
      }
      const message = batch[0] as { channel?: unknown; clientId?: unknown } | null | undefined;
      if (batch.length !== 1 || typeof message !== 'object' || message === null || message.channel !== '/meta/connect' || typeof message.clientId !== 'string') {
        return writeHttpError(res, 400, 'a ticket request must hold one /meta/connect message with a clientId');
      }
      const ticket = this.tickets.issue({ connect: message as Record<string, unknown>, bytes: body!.bytes });
      if (ticket === null) return writeHttpError(res, 503, 'too many iframe tickets outstanding');
      const json = JSON.stringify({ ticket });
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(json),
        'Cache-Control': 'no-cache, no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(json);
    });
  }

  /** The function name a parameter gives (or the default), or null when it is not acceptable. */
  private name(params: URLSearchParams, param: string, fallback: string): string | null {
    const names = params.getAll(param);
    if (names.length > 1) return null;
    const name = names.length === 1 ? names[0]! : fallback;
    return isValidCallback(name, this.maxLength) ? name : null;
  }

  /** Serves the CometD client transport: a static script, cached an hour, revalidated by ETag. */
  private sendClient(req: IncomingMessage, res: ServerResponse): void {
    const headers = {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': 'public, max-age=3600',
      ETag: CLIENT_ETAG,
      'X-Content-Type-Options': 'nosniff',
    };
    if (req.headers['if-none-match'] === CLIENT_ETAG) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(IFRAME_CLIENT_SCRIPT) });
    res.end(req.method === 'HEAD' ? undefined : IFRAME_CLIENT_SCRIPT);
  }

  schedule(tunnel: Tunnel): void {
    this.ages.add(tunnel, this.maxAge);
    if (this.heartbeatMs > 0) this.beats.add(tunnel.beat, this.heartbeatMs);
  }

  wrote(tunnel: Tunnel): void {
    if (this.heartbeatMs > 0) this.beats.add(tunnel.beat, this.heartbeatMs);
  }

  finished(tunnel: Tunnel): void {
    this.ages.remove(tunnel);
    this.beats.remove(tunnel.beat);
    this.open--;
  }
}

/**
 * Creates the iframe streaming transport (connection type `iframe`). It is in the default
 * transport list; clients use it only when they ask for it (the CometD client once the
 * page loads `<mount>/iframe-transport.js`). Throws a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`)
 * naming a bad or unknown option.
 */
export function iframeStreaming(options: IframeStreamingOptions = {}): IframeStreamingTransport {
  return new IframeStreaming(options);
}
