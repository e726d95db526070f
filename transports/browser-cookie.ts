/**
 * The `BAYEUX_BROWSER` cookie: it tells the server which sessions share one browser, so
 * that tabs beyond `maxSessionsPerBrowser` poll instead of each holding a long poll (a
 * browser allows only a few connections per host, and held polls would use them all up).
 *
 * The cookie is set on a handshake request that arrived without one and read on every
 * request. It identifies a browser and nothing more: sessions are still found by
 * `clientId`, so clients that never send it (Faye's Node client, embeds on another site
 * whose cookies the browser withholds) work exactly as before, just without the limit.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { rawHeader } from './raw-header.js';

/** Attributes of the browser cookie. */
export interface BrowserCookieOptions {
  /** Cookie name. Default `BAYEUX_BROWSER` (the Bayeux spec's). */
  name?: string;
  /** `Path`. Default `/`. */
  path?: string;
  /** `Domain`. Default none (the host that set it). */
  domain?: string;
  /** `HttpOnly`: page scripts cannot read it. Default true. */
  httpOnly?: boolean;
  /**
   * `Secure`: `true` always, `false` never, `'auto'` (default) when the request came over
   * TLS. Browsers drop a `SameSite=None` cookie that is not `Secure`.
   */
  secure?: boolean | 'auto';
  /**
   * `SameSite`. Default none sent (browsers treat that as `Lax`: the cookie is not sent on
   * cross-site XHRs, so cross-site embeds simply go without the limit). `'None'` makes
   * cross-site pages count too; it needs `Secure`.
   */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** `Partitioned` (CHIPS: one cookie per top-level site). Needs `Secure`. Default false. */
  partitioned?: boolean;
  /** `Max-Age` in seconds. Default none (a session cookie, gone when the browser closes). */
  maxAge?: number;
}

const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The values this module issues: 16 to 64 lower-case base-36 characters. */
const VALUE = /^[0-9a-z]{16,64}$/;

/** A cookie attribute value: printable ASCII without `;` or blanks, or the `Set-Cookie` line would break (or not be writable). */
const attribute = z.string().regex(/^[\x21-\x3a\x3c-\x7e]+$/, 'must be printable ASCII without ";" or blanks');

/** The shape and rules of {@link BrowserCookieOptions}, checked once when the handler is created. */
export const browserCookieOptions = z.strictObject({
  name: z.string().regex(NAME, 'is not a cookie name').optional(),
  path: attribute.optional(),
  domain: attribute.optional(),
  httpOnly: z.boolean().optional(),
  secure: z.union([z.boolean(), z.literal('auto')], { error: "must be true, false or 'auto'" }).optional(),
  sameSite: z.enum(['Strict', 'Lax', 'None']).optional(),
  partitioned: z.boolean().optional(),
  maxAge: z.number().int('must be whole seconds').min(0).optional(),
});

/** Reads and issues the browser cookie for one handler. */
export class BrowserCookie {
  readonly name: string;
  private readonly attributes: string;
  private readonly secure: boolean | 'auto';

  /** `options` as checked by {@link browserCookieOptions} (createHandler does it). */
  constructor(options: BrowserCookieOptions = {}) {
    this.name = options.name ?? 'BAYEUX_BROWSER';
    let a = '; Path=' + (options.path ?? '/');
    if (options.domain !== undefined) a += '; Domain=' + options.domain;
    if (options.maxAge !== undefined) a += '; Max-Age=' + options.maxAge;
    if (options.httpOnly ?? true) a += '; HttpOnly';
    if (options.sameSite !== undefined) a += '; SameSite=' + options.sameSite;
    if (options.partitioned) a += '; Partitioned';
    this.attributes = a;
    this.secure = options.secure ?? 'auto';
  }

  /** The browser id the request carries, if it carries a well-formed one. */
  read(req: IncomingMessage): string | undefined {
    // Browsers send one Cookie line over HTTP/1.1.
    const header = rawHeader(req, 'cookie');
    if (header === undefined) return undefined;
    // Read on every request: scan for the name instead of splitting the whole header.
    const name = this.name;
    for (let at = header.indexOf(name); at >= 0; at = header.indexOf(name, at + 1)) {
      if (!startsPair(header, at)) continue;
      let eq = at + name.length;
      while (isBlank(header.charCodeAt(eq))) eq++;
      if (header.charCodeAt(eq) !== 61 /* = */) continue;
      const semi = header.indexOf(';', eq);
      const value = header.slice(eq + 1, semi < 0 ? header.length : semi).trim();
      if (VALUE.test(value)) return value;
    }
    return undefined;
  }

  /**
   * The browser id of a request: the cookie's, or — for a handshake arriving without one —
   * a new id, sent back in `Set-Cookie`. Other requests without the cookie have none.
   */
  identify(req: IncomingMessage, res: ServerResponse, batch: readonly unknown[]): string | undefined {
    const known = this.read(req);
    if (known !== undefined || !isHandshake(batch)) return known;
    const id = newBrowserId();
    const secure = this.secure === 'auto' ? (req.socket as Partial<TLSSocket>).encrypted === true : this.secure;
    res.appendHeader('Set-Cookie', this.name + '=' + id + this.attributes + (secure ? '; Secure' : ''));
    return id;
  }
}

/** Whether a cookie pair starts at `at`: at the header's start or after `;` and blanks. */
function startsPair(header: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && isBlank(header.charCodeAt(i))) i--;
  return i < 0 || header.charCodeAt(i) === 59; /* ; */
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

function isHandshake(batch: readonly unknown[]): boolean {
  const m = batch[0];
  return batch.length === 1 && typeof m === 'object' && m !== null && (m as { channel?: unknown }).channel === '/meta/handshake';
}

/** 16 base-36 characters (about 82 bits): enough to tell browsers apart, not a secret. */
function newBrowserId(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i++) out += (bytes[i]! % 36).toString(36);
  return out;
}
