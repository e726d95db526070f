/**
 * Real-browser specs: Debian's Chromium driven by playwright-core (installed by
 * `scripts/setup.mjs test`, never downloaded by Playwright), and a test server on loopback
 * that serves Bayeux, the browser clients from node_modules and small test pages.
 *
 * The server listens on two ports of 127.0.0.1: pages loaded from `origin` are same-origin
 * with the Bayeux endpoint, pages loaded from `otherOrigin` are cross-origin (another port
 * is another origin, but the same site, so cookies still travel).
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { BayeuxServer, createHandler, type BayeuxServerOptions, type HandlerOptions } from '../../index.js';

/** Chromium's flags for a quiet, self-contained headless run (Playwright adds a fresh profile dir). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/** The Chromium binary: `CHROMIUM_PATH`, else the first of the Debian names on PATH. */
export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    for (const name of ['chromium', 'chromium-browser']) {
      const p = join(dir, name);
      try {
        if (statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
  }
  throw new Error('Chromium not found on PATH: run `node scripts/setup.mjs test` (as root it installs the Debian package)');
}

/** Launches headless Chromium (one per spec file; close it in `after`). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** A page whose console errors and uncaught exceptions are kept, for failure messages. */
export interface TestPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Console errors and page errors seen so far. */
  readonly errors: string[];
  /** Evaluates a script expression in the page (awaiting a promise it returns). */
  run<T = unknown>(expression: string): Promise<T>;
  close(): Promise<void>;
}

/**
 * Opens `url` in a new page and waits until the page's driver says `T.ready` (pass
 * `ready: null` for pages without one). `context` defaults to a fresh one (its own
 * cookies), closed with the page.
 */
export async function openPage(browser: Browser, url: string, context?: BrowserContext, ready: string | null = 'window.T && window.T.ready === true'): Promise<TestPage> {
  const own = context === undefined;
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    // A page without an icon is not an error of the page.
    if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.setDefaultTimeout(10_000);
  await page.goto(url, { waitUntil: 'load' });
  if (ready !== null) {
    await page.waitForFunction(ready, undefined, { timeout: 10_000 }).catch((err: Error) => {
      throw new Error(`${url} did not get ready: ${err.message.split('\n')[0]}; page errors: ${errors.join(' | ') || 'none'}`);
    });
  }
  return {
    page,
    context: ctx,
    errors,
    async run<T>(expression: string): Promise<T> {
      try {
        return (await page.evaluate(expression)) as T;
      } catch (err) {
        const seen = errors.length > 0 ? `\n  page errors: ${errors.join('\n  ')}` : '';
        throw new Error(`${(err as Error).message.split('\n')[0]}${seen}`);
      }
    },
    async close() {
      if (own) await ctx.close();
      else await page.close();
    },
  };
}

/** What the server saw of one incoming message (recorded by {@link recordRequests}). */
export interface SeenMessage {
  channel: string;
  connectionType: string | undefined;
  /** The request's `Origin` header. */
  origin: string | undefined;
  /** The request's `Cookie` header. */
  cookie: string | undefined;
  /** The request URL (path and query). */
  url: string;
}

/** Records every incoming message with a few facts about its request, through an extension. */
export function recordRequests(bayeux: BayeuxServer): SeenMessage[] {
  const seen: SeenMessage[] = [];
  bayeux.addExtension({
    incoming(message, context) {
      const h = context.request?.headers ?? {};
      seen.push({
        channel: message.channel,
        connectionType: message.connectionType,
        origin: typeof h.origin === 'string' ? h.origin : undefined,
        cookie: typeof h.cookie === 'string' ? h.cookie : undefined,
        url: context.request?.url ?? '',
      });
    },
  });
  return seen;
}

const require = createRequire(import.meta.url);

/** URL prefix → directory, for the browser clients. */
const VENDOR: Record<string, string> = {
  '/vendor/cometd/': dirname(require.resolve('cometd')),
  '/vendor/faye/': join(dirname(require.resolve('faye/package.json')), 'client'),
  '/vendor/dojo/': dirname(require.resolve('dojo/package.json')),
  '/vendor/dojox/': dirname(require.resolve('dojox/package.json')),
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json',
  '.css': 'text/css',
  '.json': 'application/json',
};

/** Options for {@link startPageServer}. */
export interface PageServerOptions {
  bayeux?: BayeuxServerOptions;
  handler?: Omit<HandlerOptions, 'path'>;
  /** Test pages by name, served at `/pages/<name>`. */
  pages?: Record<string, string>;
}

/** A started page server. */
export interface PageServer {
  readonly bayeux: BayeuxServer;
  /** `http://127.0.0.1:<port>`: same origin as the Bayeux endpoint. */
  readonly origin: string;
  /** `http://127.0.0.1:<other port>`: another origin, same site. */
  readonly otherOrigin: string;
  /** The Bayeux endpoint, `<origin>/cometd`. */
  readonly url: string;
  /** Adds or replaces a page at `/pages/<name>`. */
  setPage(name: string, html: string): void;
  stop(): Promise<void>;
}

/** Starts Bayeux at `/cometd` plus the static files and pages, on two loopback ports. */
export async function startPageServer(options: PageServerOptions = {}): Promise<PageServer> {
  const bayeux = new BayeuxServer(options.bayeux ?? {});
  const handle = createHandler(bayeux, { ...options.handler, path: '/cometd' });
  const pages = new Map(Object.entries(options.pages ?? {}));
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res, () => serveStatic(req, res, pages));
  };
  const servers = [http.createServer(listener), http.createServer(listener)];
  for (const s of servers) {
    // Held polls must outlive Node's own request timers.
    s.requestTimeout = 0;
    // As the docs tell users; pages that keep their client's websocket transport use it.
    s.on('upgrade', handle.upgrade);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  }
  const [a, b] = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`) as [string, string];
  let stopping: Promise<void> | null = null;
  return {
    bayeux,
    origin: a,
    otherOrigin: b,
    url: a + '/cometd',
    setPage(name, html) {
      pages.set(name, html);
    },
    stop() {
      stopping ??= (async () => {
        await bayeux.close();
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => resolve());
                s.closeAllConnections();
              }),
          ),
        );
      })();
      return stopping;
    },
  };
}

function serveStatic(req: http.IncomingMessage, res: http.ServerResponse, pages: Map<string, string>): void {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  if (path === '/favicon.ico') {
    res.writeHead(204);
    res.end();
    return;
  }
  if (path.startsWith('/pages/')) {
    const html = pages.get(path.slice('/pages/'.length));
    if (html !== undefined) return send(res, 200, TYPES['.html']!, html);
  }
  for (const [prefix, dir] of Object.entries(VENDOR)) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir + sep)) break;
    try {
      if (!statSync(file).isFile()) break;
    } catch {
      break;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
    createReadStream(file).pipe(res);
    return;
  }
  send(res, 404, 'text/plain', 'not found\n');
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache' });
  res.end(body);
}
