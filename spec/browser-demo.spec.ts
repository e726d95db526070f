/**
 * The demo chat (`npm start`) in headless Chromium: two people join from two browser
 * profiles, one sends a line, the other sees it; the member lists show both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createDemo } from '../examples/demo/app.js';
import type { TestPage } from './support/browser.js';
import { browserSuite } from './support/browser-suite.js';

describe('demo chat in Chromium', function () {
  const suite = browserSuite(this);

  async function join(origin: string, name: string): Promise<TestPage> {
    const p = await suite.openUrl(origin + '/', { ready: "document.getElementById('status').classList.contains('up')" });
    await p.page.fill('#name', name);
    await p.page.press('#name', 'Enter');
    await p.page.locator('#room').waitFor({ state: 'visible' });
    return p;
  }

  it('a line sent from one page appears in the other', async function () {
    const demo = createDemo({ tickMs: 60_000 });
    // As examples/demo/server.ts runs it: the page's CometD client goes over WebSocket.
    const server = http.createServer(demo.app).on('upgrade', demo.upgrade);
    suite.afterTest(async () => {
      await demo.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const alice = await join(origin, 'alice');
    const bob = await join(origin, 'bob');
    await alice.page.locator('#members li', { hasText: 'bob' }).waitFor();
    await alice.page.fill('#text', 'hello from alice');
    await alice.page.press('#text', 'Enter');
    const line = bob.page.locator('#log li', { hasText: 'hello from alice' });
    await line.waitFor();
    expect(await line.locator('.who').textContent()).to.equal('alice');
    expect(await bob.page.locator('#members li').allTextContents()).to.deep.equal(['alice', 'bob (you)']);
    expect(alice.errors.concat(bob.errors)).to.deep.equal([]);
  });
});
