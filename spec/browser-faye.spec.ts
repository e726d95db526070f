/**
 * Faye's browser client (npm `faye`, client/faye-browser.js) in headless Chromium:
 * same-origin long-polling; a cross-origin page handshakes by JSONP and then, with CORS
 * allowed, switches to `cross-origin-long-polling` (text/plain `message=` bodies, with
 * credentials); with CORS refused it stays on callback-polling.
 */
import { expect } from 'chai';
import type { HandlerOptions } from '../index.js';
import type { PageServer, TestPage } from './support/browser.js';
import { FAYE_PAGE } from './support/browser-pages.js';
import { browserSuite } from './support/browser-suite.js';

interface Started {
  clientId: string;
  transport: string;
}

describe('Faye browser client in Chromium', function () {
  const suite = browserSuite(this, { page: { name: 'faye.html', html: FAYE_PAGE }, bayeux: { timeout: 5000 } });

  function start(handler: Omit<HandlerOptions, 'path'> = {}): Promise<PageServer> {
    return suite.start({ handler });
  }

  async function roundTrip(page: TestPage, channel: string): Promise<void> {
    await page.run(`T.subscribe(${JSON.stringify(channel)})`);
    await page.run(`T.publish(${JSON.stringify(channel)}, { from: 'page', text: 'a&b=c \\u2029 ✓' })`);
    await suite.server.bayeux.publish(channel, { from: 'server' });
    expect(await page.run('T.waitFor(2, 5000)')).to.deep.equal([
      { channel, data: { from: 'page', text: 'a&b=c \u2029 ✓' } },
      { channel, data: { from: 'server' } },
    ]);
  }

  function connectTypes(): string[] {
    return [...new Set(suite.seen.filter((m) => m.channel === '/meta/connect').map((m) => m.connectionType ?? '?'))];
  }

  it('same origin: long-polling [matrix Faye|long-polling]', async function () {
    const s = await start();
    const page = await suite.open(s.origin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('long-polling');
    await roundTrip(page, '/faye/same');
    expect(connectTypes()).to.deep.equal(['long-polling']);
    expect(page.errors).to.deep.equal([]);
  });

  it('cross origin with CORS allowed: JSONP handshake, then cross-origin-long-polling with credentials [matrix Faye|cross-origin-long-polling]', async function () {
    let pageOrigin = '';
    const s = await start({ cors: { origins: (o) => o === pageOrigin } });
    pageOrigin = s.otherOrigin;
    const page = await suite.open(s.otherOrigin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('cross-origin-long-polling');
    await roundTrip(page, '/faye/cors');
    const handshake = suite.seen.find((m) => m.channel === '/meta/handshake')!;
    expect(handshake.url, 'the handshake went by JSONP').to.match(/[?&]jsonp=/);
    expect(connectTypes()).to.deep.equal(['cross-origin-long-polling']);
    const connects = suite.seen.filter((m) => m.channel === '/meta/connect');
    for (const c of connects) expect(c.origin).to.equal(s.otherOrigin);
    expect(connects.some((c) => c.cookie !== undefined && /BAYEUX_BROWSER=/.test(c.cookie)), 'credentials: the cookie travels').to.equal(true);
    expect(page.errors).to.deep.equal([]);
  });

  it('cross origin with CORS refused: callback-polling throughout [matrix Faye|callback-polling]', async function () {
    const s = await start();
    const page = await suite.open(s.otherOrigin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('callback-polling');
    await roundTrip(page, '/faye/jsonp');
    expect(connectTypes()).to.deep.equal(['callback-polling']);
    for (const m of suite.seen) expect(m.url, m.channel).to.match(/[?&]jsonp=/);
  });
});
