/**
 * The demo chat (`npm start`) in headless Chromium: two people join from two browser
 * profiles, one sends a line, the other sees it; the member lists show both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createDemo, type Demo } from '../examples/demo/app.js';
import { launchChromium, openPage, type TestPage } from './support/browser.js';

describe('demo chat in Chromium', function () {
  this.timeout(30_000);
  let browser: Browser;
  let demo: Demo | null = null;
  let server: http.Server | null = null;
  const pages: TestPage[] = [];

  before(async function () {
    browser = await launchChromium();
  });
  after(async function () {
    await browser?.close();
  });
  afterEach(async function () {
    for (const p of pages.splice(0)) await p.close();
    await demo?.stop();
    if (server) {
      const s = server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
    demo = null;
    server = null;
  });

  async function join(origin: string, name: string): Promise<TestPage> {
    const p = await openPage(browser, origin + '/', undefined, "document.getElementById('status').classList.contains('up')");
    pages.push(p);
    await p.page.fill('#name', name);
    await p.page.press('#name', 'Enter');
    await p.page.locator('#room').waitFor({ state: 'visible' });
    return p;
  }

  it('a line sent from one page appears in the other', async function () {
    demo = createDemo({ tickMs: 60_000 });
    server = http.createServer(demo.app);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
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
