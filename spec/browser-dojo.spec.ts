/**
 * Dojo 1.7.12's own dojox.cometd (npm `dojo` + `dojox`, the last release that ships it) in
 * headless Chromium: long-polling from a same-origin page (a form-encoded handshake, then
 * `text/json` posts), callback-polling from a cross-origin page (JSONP with Dojo's dotted
 * callback names, for every message including the handshake).
 */
import { expect } from 'chai';
import type { TestPage } from './support/browser.js';
import { DOJO_PAGE } from './support/browser-pages.js';
import { browserSuite } from './support/browser-suite.js';

interface Started {
  clientId: string;
  transport: string;
}

describe('dojox.cometd (Dojo 1.7.12) in Chromium', function () {
  const suite = browserSuite(this, { page: { name: 'dojo.html', html: DOJO_PAGE }, bayeux: { timeout: 5000 } });

  /** dojox publishes without an acknowledgement: wait for the page's own message before the next. */
  async function roundTrip(page: TestPage, channel: string): Promise<void> {
    await page.run(`T.subscribe(${JSON.stringify(channel)})`);
    await page.run(`T.publish(${JSON.stringify(channel)}, { from: 'page', text: 'dojo ✓' })`);
    expect(await page.run('T.waitFor(1, 5000)')).to.deep.equal([{ channel, data: { from: 'page', text: 'dojo ✓' } }]);
    await suite.server.bayeux.publish(channel, { from: 'server' });
    expect((await page.run<unknown[]>('T.waitFor(2, 5000)'))[1]).to.deep.equal({ channel, data: { from: 'server' } });
  }

  function connectTypes(): string[] {
    return [...new Set(suite.seen.filter((m) => m.channel === '/meta/connect').map((m) => m.connectionType ?? '?'))];
  }

  it('same origin: long-polling [matrix dojox.cometd 1.7|long-polling]', async function () {
    const s = await suite.start();
    const page = await suite.open(s.origin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('long-polling');
    expect(info.clientId).to.match(/^[0-9a-f]{32}$/);
    await roundTrip(page, '/dojo/same');
    expect(connectTypes()).to.deep.equal(['long-polling']);
    expect(page.errors).to.deep.equal([]);
  });

  it('cross origin: callback-polling with dotted callback names [matrix dojox.cometd 1.7|callback-polling]', async function () {
    const s = await suite.start();
    const page = await suite.open(s.otherOrigin);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    expect(info.transport).to.equal('callback-polling');
    await roundTrip(page, '/dojo/xd');
    expect(connectTypes()).to.deep.equal(['callback-polling']);
    for (const m of suite.seen) expect(decodeURIComponent(m.url), m.channel).to.match(/[?&]jsonp=dojo\.io\.script\.jsonp_[A-Za-z0-9_]+\._jsonpCallback/);
    expect(page.errors).to.deep.equal([]);
  });
});
