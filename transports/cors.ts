/**
 * Cross-origin requests (CORS) for the HTTP transports.
 *
 * Browser clients make cross-origin XHRs with credentials (CometD's long-polling, Faye's
 * `cross-origin-long-polling`), so an allowed origin gets its own `Origin` echoed with
 * `Access-Control-Allow-Credentials: true`, never `*`. A disallowed origin gets no CORS
 * headers at all: the browser then refuses the response to the page, and the clients fall
 * back to callback-polling (JSONP), which needs no CORS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

/** Which origins may make cross-origin requests, and what they may send. */
export interface CorsOptions {
  /**
   * Allowed origins: exact origins (`'https://app.example'`, compared case-insensitively,
   * a trailing `/` ignored) and patterns (`/^https:\/\/[a-z0-9-]+\.example$/`, which must
   * match the whole origin, so an unanchored pattern cannot admit `https://a.example.evil`),
   * or a function deciding per origin. `'null'` (sandboxed frames, `file:` pages) is only
   * admitted when listed as a string.
   */
  origins: readonly (string | RegExp)[] | ((origin: string) => boolean);
  /**
   * Request headers a page may send, answered in `Access-Control-Allow-Headers`. Default
   * `Accept, Authorization, Content-Type, Pragma, X-Requested-With` (what CometD and Faye send).
   */
  allowedHeaders?: readonly string[];
  /** How long, in seconds, a browser may cache a preflight answer. Default 86400 (browsers cap it lower). */
  maxAge?: number;
  /** Response headers a page may read (`Access-Control-Expose-Headers`). Default none. */
  exposedHeaders?: readonly string[];
}

const DEFAULT_HEADERS = ['Accept', 'Authorization', 'Content-Type', 'Pragma', 'X-Requested-With'];

/** An HTTP header name (RFC 9110 token): anything else would make the header unwritable. */
const headerName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a header name');

/** The shape and rules of {@link CorsOptions}, checked once when the handler is created. */
export const corsOptions = z.strictObject({
  origins: z
    .custom<CorsOptions['origins']>((v) => typeof v === 'function' || Array.isArray(v), {
      error: 'must be a list of origins (strings, regular expressions) or a function (origin) => boolean',
    })
    .superRefine((origins, ctx) => {
      if (typeof origins === 'function') return;
      origins.forEach((o, i) => {
        if (o === '*') ctx.addIssue({ code: 'custom', path: [i], message: 'cannot be "*" (requests carry credentials); list the origins or give a function' });
        else if (typeof o !== 'string' && !(o instanceof RegExp)) ctx.addIssue({ code: 'custom', path: [i], message: 'must be a string or a regular expression' });
      });
    }),
  allowedHeaders: z.array(headerName).readonly().optional(),
  maxAge: z.number().int('must be a whole number of seconds').min(0).optional(),
  exposedHeaders: z.array(headerName).readonly().optional(),
});

const METHODS = 'GET, POST, OPTIONS';

/** The CORS decisions of one handler. */
export class Cors {
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];
  private readonly test: ((origin: string) => boolean) | null = null;
  private readonly allowHeaders: string;
  private readonly maxAge: string;
  private readonly expose: string | null;

  /** `options` as checked by {@link corsOptions} (createHandler does it). */
  constructor(options: CorsOptions) {
    if (typeof options.origins === 'function') this.test = options.origins;
    else {
      for (const o of options.origins) {
        if (typeof o === 'string') this.exact.add(normalize(o));
        else this.patterns.push(new RegExp(o.source, o.flags.replace(/[gy]/g, '')));
      }
    }
    this.allowHeaders = (options.allowedHeaders ?? DEFAULT_HEADERS).join(', ');
    this.maxAge = String(options.maxAge ?? 86400);
    this.expose = options.exposedHeaders && options.exposedHeaders.length > 0 ? options.exposedHeaders.join(', ') : null;
  }

  /** Whether `origin` (as the browser sent it) may make credentialed requests. */
  allows(origin: string): boolean {
    if (this.test !== null) return origin !== '' && this.test(origin);
    const o = normalize(origin);
    if (this.exact.has(o)) return true;
    if (o === 'null') return false;
    for (const p of this.patterns) {
      const m = p.exec(origin);
      if (m !== null && m.index === 0 && m[0].length === origin.length) return true;
    }
    return false;
  }

  /**
   * Adds the CORS headers a request earns to `res` (before the transport writes). Returns
   * true when the request was a preflight and has been answered.
   */
  apply(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = typeof origin === 'string' && this.allows(origin);
    // The answer depends on Origin: caches must keep one copy per origin.
    if (typeof origin === 'string') res.setHeader('Vary', 'Origin');
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      if (this.expose !== null) res.setHeader('Access-Control-Expose-Headers', this.expose);
    }
    if (req.method !== 'OPTIONS') return false;
    if (allowed) {
      res.setHeader('Access-Control-Allow-Methods', METHODS);
      res.setHeader('Access-Control-Allow-Headers', this.allowHeaders);
      res.setHeader('Access-Control-Max-Age', this.maxAge);
    }
    answerOptions(res);
    return true;
  }
}

/** Answers an `OPTIONS` request: 204 with `Allow` (the CORS headers, if any, are set already). */
export function answerOptions(res: ServerResponse): void {
  res.setHeader('Allow', METHODS);
  res.writeHead(204);
  res.end();
}

function normalize(origin: string): string {
  const o = origin.trim().toLowerCase();
  return o.endsWith('/') ? o.slice(0, -1) : o;
}
