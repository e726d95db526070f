/**
 * The CometD JavaScript client (npm `cometd`, its ES modules as a page loads them) in
 * headless Chromium: same-origin long-polling; a cross-origin page with CORS allowed
 * long-polls with credentials; with CORS refused the client falls back to callback-polling
 * and still gets its messages; two tabs of one browser share the BAYEUX_BROWSER cookie and
 * both keep receiving while only one holds a long poll.
 */
import { expect } from 'chai';
import type { BayeuxServerOptions, HandlerOptions } from '../index.js';
import type { PageServer, TestPage } from './support/browser.js';
import { COMETD_PAGE } from './support/browser-pages.js';
import { browserSuite } from './support/browser-suite.js';
import { waitUntil } from './support/wait.js';

interface Started {
  clientId: string;
  transport: string;
}

describe('CometD JavaScript client in Chromium', function () {
  const suite = browserSuite(this, { page: { name: 'cometd.html', html: COMETD_PAGE }, bayeux: { timeout: 5000 } });

  function start(handler: Omit<HandlerOptions, 'path'> = {}, bayeux: BayeuxServerOptions = {}): Promise<PageServer> {
    return suite.start({ handler, bayeux });
  }

  /** Subscribes, publishes from the page and from the server; the page gets both, in order. */
  async function roundTrip(page: TestPage, channel: string): Promise<void> {
    await page.run(`T.subscribe(${JSON.stringify(channel)})`);
    await page.run(`T.publish(${JSON.stringify(channel)}, { from: 'page', text: 'héllo \\u2028 ✓' })`);
    await suite.server.bayeux.publish(channel, { from: 'server' });
    const got = await page.run<unknown[]>('T.waitFor(2, 5000)');
    expect(got).to.deep.equal([
      { channel, data: { from: 'page', text: 'héllo \u2028 ✓' } },
      { channel, data: { from: 'server' } },
    ]);
  }

  it('same origin: long-polling round trip [matrix CometD|long-polling]', async function () {
    const s = await start();
    const page = await suite.open(s.origin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('long-polling');
    expect(await s.bayeux.session(info.clientId).exists()).to.equal(true);
    await roundTrip(page, '/browser/same');
    expect(suite.seen.filter((m) => m.channel === '/meta/connect').map((m) => m.connectionType)).to.satisfy((types: string[]) =>
      types.every((t) => t === 'long-polling'),
    );
    expect(page.errors).to.deep.equal([]);
  });

  it('cross origin with CORS allowed: long-polling with credentials (the cookie travels) [matrix CometD|long-polling]', async function () {
    let pageOrigin = '';
    const s = await start({ cors: { origins: (o) => o === pageOrigin } });
    pageOrigin = s.otherOrigin;
    const page = await suite.open(s.otherOrigin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('long-polling');
    await roundTrip(page, '/browser/cors');
    const connects = suite.seen.filter((m) => m.channel === '/meta/connect');
    expect(connects.length).to.be.at.least(2);
    for (const c of connects) {
      expect(c.connectionType).to.equal('long-polling');
      expect(c.origin).to.equal(s.otherOrigin);
      // withCredentials: the BAYEUX_BROWSER cookie set on the cross-origin handshake comes back.
      expect(c.cookie, 'cookie sent with the cross-origin XHR').to.match(/BAYEUX_BROWSER=[0-9a-z]{16}/);
    }
    expect(page.errors).to.deep.equal([]);
  });

  it('cross origin with CORS refused: falls back to callback-polling and still receives messages [matrix CometD|callback-polling]', async function () {
    const s = await start();
    const page = await suite.open(s.otherOrigin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('callback-polling');
    await roundTrip(page, '/browser/jsonp');
    // A message published while the JSONP connect is held arrives too.
    await waitUntil(() => s.bayeux.connects.get(info.clientId) !== undefined, 'a held JSONP connect');
    await s.bayeux.publish('/browser/jsonp', { from: 'server', n: 2 });
    const got = await page.run<unknown[]>('T.waitFor(3, 5000)');
    expect(got[2]).to.deep.equal({ channel: '/browser/jsonp', data: { from: 'server', n: 2 } });
    const types = new Set(suite.seen.filter((m) => m.channel === '/meta/connect').map((m) => m.connectionType));
    expect([...types]).to.deep.equal(['callback-polling']);
    // The refused XHR shows as a console error in the page; nothing else may.
    expect(page.errors.filter((e) => !/CORS|Failed to load resource|net::ERR_FAILED/.test(e))).to.deep.equal([]);
  });

  it('two tabs of one browser: one holds a long poll, the other polls with multiple-clients advice; both receive', async function () {
    // A short poll interval for the extra tab keeps the spec quick.
    const s = await start({}, { multiSessionInterval: 300 });
    const context = await suite.newContext();
    const tab1 = await suite.open(s.origin, context);
    const tab2 = await suite.open(s.origin, context);
    const a = await tab1.run<Started>(`T.start(${JSON.stringify(s.url)}, { maxNetworkDelay: 5000 })`);
    const b = await tab2.run<Started>(`T.start(${JSON.stringify(s.url)}, { maxNetworkDelay: 5000 })`);
    await tab1.run(`T.subscribe('/browser/tabs')`);
    await tab2.run(`T.subscribe('/browser/tabs')`);
    // One tab's connect is held, the other one is told to poll.
    await waitUntil(
      async () => (await tab2.run<{ advice?: Record<string, unknown> }[]>('T.metaConnects')).some((m) => m.advice?.['multiple-clients'] === true) ||
        (await tab1.run<{ advice?: Record<string, unknown> }[]>('T.metaConnects')).some((m) => m.advice?.['multiple-clients'] === true),
      'a multiple-clients advice in one of the tabs',
      8000,
      50,
    );
    const cookies = new Set(suite.seen.filter((m) => m.channel === '/meta/connect' && m.cookie).map((m) => /BAYEUX_BROWSER=([0-9a-z]+)/.exec(m.cookie!)?.[1]));
    expect(cookies.size, 'both tabs send the same browser cookie').to.equal(1);
    expect(a.clientId).to.not.equal(b.clientId);
    for (let n = 1; n <= 3; n++) {
      await s.bayeux.publish('/browser/tabs', { n });
      const want = Array.from({ length: n }, (_, i) => ({ channel: '/browser/tabs', data: { n: i + 1 } }));
      expect(await tab1.run(`T.waitFor(${n}, 6000)`), 'tab 1').to.deep.equal(want);
      expect(await tab2.run(`T.waitFor(${n}, 6000)`), 'tab 2').to.deep.equal(want);
    }
  });
});
