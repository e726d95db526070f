/**
 * iframe streaming in Chromium with the real CometD JavaScript client (npm `cometd`, ES
 * modules) and the transport the handler serves at `/cometd/iframe-transport.js`: one script
 * tag turns it on; several messages arrive through one open document; documents are
 * recycled at their maximum age; and nothing published while one document ends and the
 * next opens is lost. Documents open with a single-use ticket (no clientId in their URL).
 * Where iframes cannot work (the page inside a frame from another origin, or frames
 * blocked by the page's own policy) the client uses long-polling instead.
 */
import { expect } from 'chai';
import type { Browser, Frame } from 'playwright-core';
import {
  callbackPolling,
  iframeStreaming,
  longPolling,
  type HandlerOptions,
  type IframeStreamingOptions,
  type IframeStreamingTransport,
  type RequestContext,
} from '../index.js';
import { launchChromium, openPage, recordRequests, startPageServer, type PageServer, type SeenMessage, type TestPage } from './support/browser.js';
import { IFRAME_APP_PAGE } from './support/iframe-page.js';
import { waitUntil } from './support/wait.js';

interface Started {
  clientId: string;
  transport: string;
}

interface MetaConnect {
  successful: boolean;
}

describe('iframe streaming with the CometD JavaScript client in Chromium', function () {
  this.timeout(30_000);
  let browser: Browser;
  let server: PageServer | null = null;
  let seen: SeenMessage[] = [];
  const pages: TestPage[] = [];

  before(async function () {
    browser = await launchChromium();
  });
  after(async function () {
    await browser?.close();
  });
  afterEach(async function () {
    for (const p of pages.splice(0)) await p.close();
    await server?.stop();
    server = null;
  });

  async function start(handler: Omit<HandlerOptions, 'path'> = {}): Promise<PageServer> {
    server = await startPageServer({ bayeux: { timeout: 5000 }, handler, pages: { 'app.html': IFRAME_APP_PAGE } });
    seen = recordRequests(server.bayeux);
    return server;
  }

  /** A server whose iframe transport has `options`; returns the transport to count its documents. */
  async function startWith(options: IframeStreamingOptions): Promise<IframeStreamingTransport> {
    const iframe = iframeStreaming(options);
    await start({ transports: [longPolling(), callbackPolling(), iframe] });
    return iframe;
  }

  async function openApp(): Promise<TestPage> {
    const p = await openPage(browser, server!.origin + '/pages/app.html');
    pages.push(p);
    return p;
  }

  /** Distinct documents seen by the server: every connect of one document shares its request URL. */
  function documentUrls(): Set<string> {
    return new Set(seen.filter((m) => m.channel === '/meta/connect').map((m) => m.url));
  }

  it('several messages arrive through one open iframe document (default handler, one script tag) [matrix CometD|iframe]', async function () {
    const s = await start();
    const page = await openApp();
    expect(await page.run<string[]>('T.transportTypes()')).to.deep.equal(['iframe', 'long-polling', 'callback-polling']);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('iframe');
    await page.run(`T.subscribe('/iframe/chat')`);
    await page.run(`T.publish('/iframe/chat', { from: 'page', text: 'héllo </script> \\u2028 ✓' })`);
    expect(await page.run('T.waitFor(1, 5000)')).to.deep.equal([{ channel: '/iframe/chat', data: { from: 'page', text: 'héllo </script> \u2028 ✓' } }]);
    for (let n = 1; n <= 4; n++) {
      await waitUntil(() => s.bayeux.connects.get(info.clientId) !== undefined, 'a connect held for the document');
      await s.bayeux.publish('/iframe/chat', { from: 'server', n });
      const got = await page.run<unknown[]>(`T.waitFor(${n + 1}, 5000)`);
      expect(got[n]).to.deep.equal({ channel: '/iframe/chat', data: { from: 'server', n } });
    }
    // One document carried every connect answer; the rest went by long-polling POSTs.
    expect(await page.run('T.frames'), 'iframes the page created').to.equal(1);
    expect(documentUrls().size, 'documents the server saw').to.equal(1);
    const connects = seen.filter((m) => m.channel === '/meta/connect');
    expect(connects.length, 'connects answered through the document').to.be.at.least(5);
    for (const c of connects) {
      expect(c.connectionType).to.equal('iframe');
      // Only a ticket in the URL: no clientId, no connect message.
      expect(c.url).to.match(/^\/cometd\/connect\?transport=iframe&ticket=[A-Za-z0-9_-]+&callback=/);
      expect(c.url).not.to.include(info.clientId);
    }
    for (const m of seen.filter((x) => x.channel !== '/meta/connect')) expect(m.url, m.channel).to.not.include('transport=iframe');
    expect((await page.run<MetaConnect[]>('T.metaConnects')).every((m) => m.successful)).to.equal(true);
    await page.run('T.stop()');
    await waitUntil(() => s.bayeux.connects.size === 0, 'the held connect released after disconnect');
    expect(page.errors).to.deep.equal([]);
  });

  it('the document is recycled at its maximum age and the client opens the next one [matrix CometD|iframe]', async function () {
    const iframe = await startWith({ maxAge: 1000 });
    const s = server!;
    const page = await openApp();
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('iframe');
    await page.run(`T.subscribe('/iframe/age')`);
    await waitUntil(() => iframe.documentsOpened >= 3, 'three documents (two recycled at their maximum age)', 8000, 50);
    expect(iframe.openDocuments, 'one document open at a time').to.equal(1);
    await waitUntil(() => s.bayeux.connects.get(info.clientId) !== undefined, 'a connect held for the current document');
    await s.bayeux.publish('/iframe/age', { after: 'recycling' });
    expect(await page.run('T.waitFor(1, 5000)')).to.deep.equal([{ channel: '/iframe/age', data: { after: 'recycling' } }]);
    // Recycling is invisible to the application: no failed connect, no re-handshake.
    expect((await page.run<MetaConnect[]>('T.metaConnects')).every((m) => m.successful)).to.equal(true);
    expect(seen.filter((m) => m.channel === '/meta/handshake')).to.have.length(1);
    expect(await page.run<number>('T.frames')).to.equal(iframe.documentsOpened);
    expect(page.errors).to.deep.equal([]);
  });

  it('a message published during recycling (no connect held, next document not yet open) is not lost [matrix CometD|iframe]', async function () {
    const iframe = await startWith({ maxAge: 800 });
    const s = server!;
    // The first connect of each new document arrives while nothing is held: publish right then.
    const documents = new Set<RequestContext>();
    const during: { document: number; held: boolean }[] = [];
    s.bayeux.addExtension({
      async incoming(message, context) {
        if (message.channel !== '/meta/connect' || context.request === null || documents.has(context.request)) return;
        documents.add(context.request);
        if (documents.size === 1) return;
        during.push({ document: documents.size, held: s.bayeux.connects.get(message.clientId!) !== undefined });
        await s.bayeux.publish('/iframe/recycle', { document: documents.size });
      },
    });
    const page = await openApp();
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('iframe');
    await page.run(`T.subscribe('/iframe/recycle')`);
    const got = await page.run<{ data: { document: number } }[]>('T.waitFor(2, 8000)');
    expect(got.map((m) => m.data.document)).to.deep.equal([during[0]!.document, during[1]!.document]);
    expect(during.slice(0, 2).map((d) => d.held), 'nothing was held when they were published').to.deep.equal([false, false]);
    expect(iframe.documentsOpened).to.be.at.least(3);
    expect(page.errors).to.deep.equal([]);
  });

  /** The CometD app page (same origin as Bayeux) framed by a page of another origin; returns the app's frame. */
  async function openFramedApp(s: PageServer): Promise<Frame> {
    s.setPage('outer.html', `<!doctype html><html><body><iframe src="${s.origin}/pages/app.html" width="400" height="300"></iframe></body></html>`);
    const outer = await openPage(browser, s.otherOrigin + '/pages/outer.html', undefined, null);
    pages.push(outer);
    let frame: Frame | undefined;
    await waitUntil(() => (frame = outer.page.frames().find((f) => f.url().endsWith('/pages/app.html'))) !== undefined, 'the app frame');
    await frame!.waitForFunction('window.T && window.T.ready === true', undefined, { timeout: 10_000 });
    return frame!;
  }

  it('a page inside a frame from another origin does not pick iframe: it connects by long-polling and receives messages', async function () {
    const s = await start();
    const frame = await openFramedApp(s);
    // The origins differ only by port: the ancestor is cross-origin, so the document (frame-ancestors 'self') would be blocked.
    expect(new URL(s.otherOrigin).origin).not.to.equal(new URL(s.origin).origin);
    const info = (await frame.evaluate(`T.start(${JSON.stringify(s.url)})`)) as Started;
    expect(info.transport).to.equal('long-polling');
    await frame.evaluate(`T.subscribe('/iframe/framed')`);
    await waitUntil(() => s.bayeux.connects.get(info.clientId) !== undefined, 'a long poll held');
    await s.bayeux.publish('/iframe/framed', { to: 'framed page' });
    expect(await frame.evaluate('T.waitFor(1, 5000)')).to.deep.equal([{ channel: '/iframe/framed', data: { to: 'framed page' } }]);
    expect(await frame.evaluate('T.frames'), 'no streaming iframe created').to.equal(0);
    expect(seen.filter((m) => m.channel === '/meta/connect').every((m) => m.connectionType === 'long-polling')).to.equal(true);
  });

  it('when documents keep failing (frames blocked by the page’s own policy), connects fall back to long-polling and messages arrive', async function () {
    this.timeout(60_000);
    const s = await start();
    s.setPage('blocked.html', IFRAME_APP_PAGE.replace('<title>', `<meta http-equiv="Content-Security-Policy" content="frame-src 'none'"><title>`));
    const page = await openPage(browser, s.origin + '/pages/blocked.html');
    pages.push(page);
    const started = page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    const info = await started;
    expect(info.transport, 'negotiated before any document failed').to.equal('iframe');
    await page.run(`T.subscribe('/iframe/blocked')`);
    await waitUntil(() => seen.some((m) => m.channel === '/meta/connect' && m.connectionType === 'long-polling'), 'a connect by long-polling', 30_000, 50);
    await waitUntil(() => s.bayeux.connects.get(info.clientId) !== undefined, 'a long poll held', 30_000);
    await s.bayeux.publish('/iframe/blocked', { after: 'fallback' });
    expect(await page.run('T.waitFor(1, 10000)')).to.deep.equal([{ channel: '/iframe/blocked', data: { after: 'fallback' } }]);
    expect(seen.filter((m) => m.channel === '/meta/handshake'), 'no new handshake').to.have.length(1);
  });

  it('a steady stream of messages crosses several recycled documents, each message once and in order [matrix CometD|iframe]', async function () {
    const iframe = await startWith({ maxAge: 500 });
    const s = server!;
    const page = await openApp();
    await page.run(`T.start(${JSON.stringify(s.url)})`);
    await page.run(`T.subscribe('/iframe/steady')`);
    const total = 60;
    const firstDocument = iframe.documentsOpened;
    for (let n = 1; n <= total; n++) {
      await s.bayeux.publish('/iframe/steady', { n });
      await new Promise((r) => setTimeout(r, 30));
    }
    const got = await page.run<{ data: { n: number } }[]>(`T.waitFor(${total}, 8000)`);
    expect(got.map((m) => m.data.n)).to.deep.equal(Array.from({ length: total }, (_, i) => i + 1));
    expect(iframe.documentsOpened - firstDocument, 'documents recycled while publishing').to.be.at.least(2);
    expect(await page.run<unknown[]>('T.received.length')).to.equal(total);
    expect(page.errors).to.deep.equal([]);
  });
});
