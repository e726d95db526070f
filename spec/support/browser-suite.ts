/**
 * The mocha scaffolding every browser spec shares. Call it in a `describe` body:
 *
 *   const b = browserSuite(this, { page: { name: 'cometd.html', html: COMETD_PAGE }, bayeux: { timeout: 5000 } });
 *   it('…', async function () {
 *     const s = await b.start();              // a page server; b.seen records its messages
 *     const page = await b.open(s.origin);    // <origin>/pages/cometd.html, ready
 *   });
 *
 * One Chromium per spec file (launched in `before`, closed in `after`); after each test the
 * pages it opened, the browser contexts it made, its page server and whatever it registered
 * with `afterTest` are closed, in that order, even when one of them fails to close.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import type { BayeuxServerOptions, HandlerOptions } from '../../index.js';
import { launchChromium, openPage, recordRequests, startPageServer, type PageServer, type SeenMessage, type TestPage } from './browser.js';

/** Options for {@link browserSuite}. */
export interface BrowserSuiteOptions {
  /** The test page {@link BrowserSuite.open} opens, served at `/pages/<name>`. */
  page?: { name: string; html: string };
  /** Server options every {@link BrowserSuite.start} begins with (a test's own options win). */
  bayeux?: BayeuxServerOptions;
  /** Mocha timeout of the suite's tests and hooks, ms (default 30000: a browser is slow to start). */
  timeout?: number;
}

/** What a browser spec gets from {@link browserSuite}. */
export interface BrowserSuite {
  /** The suite's Chromium (from `before` on). */
  readonly browser: Browser;
  /** The page server of the current test (after {@link start}). */
  readonly server: PageServer;
  /** Every message the current test's page server received, with facts about its request. */
  readonly seen: SeenMessage[];
  /** Starts the page server for this test (stopped after it), recording its messages in {@link seen}. */
  start(options?: { handler?: Omit<HandlerOptions, 'path'>; bayeux?: BayeuxServerOptions }): Promise<PageServer>;
  /** Opens the suite's test page from `origin` (closed after the test). */
  open(origin: string, context?: BrowserContext): Promise<TestPage>;
  /** Opens any URL (closed after the test); `ready` as for {@link openPage}. */
  openUrl(url: string, options?: { context?: BrowserContext; ready?: string | null }): Promise<TestPage>;
  /** A browser context (one cookie jar, like one browser profile) closed after the test. */
  newContext(): Promise<BrowserContext>;
  /** Runs `close` after the test, after the pages, contexts and page server are closed. */
  afterTest(close: () => Promise<void> | void): void;
}

/** Registers the shared hooks on the calling `describe` (pass its `this`). */
export function browserSuite(suite: Mocha.Suite, options: BrowserSuiteOptions = {}): BrowserSuite {
  suite.timeout(options.timeout ?? 30_000);
  let browser: Browser | null = null;
  let server: PageServer | null = null;
  let seen: SeenMessage[] = [];
  const pages: TestPage[] = [];
  const contexts: BrowserContext[] = [];
  const closers: (() => Promise<void> | void)[] = [];

  before(async function () {
    browser = await launchChromium();
  });
  after(async function () {
    await browser?.close();
    browser = null;
  });
  afterEach(async function () {
    // Taken now: `server` is reset below, before the steps run (reading it in the step
    // left every page server listening, which kept the process alive after the suite).
    const pageServer = server;
    const steps: (() => Promise<void> | void)[] = [
      ...pages.splice(0).map((p) => () => p.close()),
      ...contexts.splice(0).map((c) => () => c.close()),
      () => pageServer?.stop(),
      ...closers.splice(0),
    ];
    server = null;
    seen = [];
    // Close everything, then report the first thing that would not close.
    const errors: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });

  function needBrowser(): Browser {
    if (!browser) throw new Error('browserSuite: Chromium is not running (use it inside tests)');
    return browser;
  }

  return {
    get browser() {
      return needBrowser();
    },
    get server() {
      if (!server) throw new Error('browserSuite: no page server in this test (call start() first)');
      return server;
    },
    get seen() {
      return seen;
    },
    async start(opts = {}) {
      const pagesToServe = options.page ? { [options.page.name]: options.page.html } : {};
      const s = await startPageServer({ bayeux: { ...options.bayeux, ...opts.bayeux }, handler: opts.handler ?? {}, pages: pagesToServe });
      server = s;
      seen = recordRequests(s.bayeux);
      return s;
    },
    open(origin, context) {
      if (!options.page) throw new Error('browserSuite: no test page given (options.page)');
      return this.openUrl(`${origin}/pages/${options.page.name}`, context ? { context } : {});
    },
    async openUrl(url, opts = {}) {
      const p = await openPage(needBrowser(), url, opts.context, opts.ready);
      pages.push(p);
      return p;
    },
    async newContext() {
      const c = await needBrowser().newContext();
      contexts.push(c);
      return c;
    },
    afterTest(close) {
      closers.push(close);
    },
  };
}
