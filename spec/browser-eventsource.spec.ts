/**
 * EventSource in a real browser (headless Chromium): Faye's browser client with only its
 * websocket transport disabled, against the default transports, switches to `eventsource`
 * after its handshake and receives on the stream what another client and the server
 * publish, while its connects are heartbeats.
 */
import { expect } from 'chai';
import type { TestPage } from './support/browser.js';
import { fayePage } from './support/browser-pages.js';
import { browserSuite } from './support/browser-suite.js';
import { waitUntil } from './support/wait.js';

interface Started {
  clientId: string;
  transport: string;
}

/** Wraps the page's EventSource so that the spec sees what arrived on the streams. */
function recordEventSources(page: TestPage): Promise<unknown> {
  return page.run(`(() => {
    const Native = window.EventSource;
    T.streams = [];
    T.events = [];
    window.EventSource = function (url, init) {
      const es = new Native(url, init);
      T.streams.push(String(url));
      es.addEventListener('message', (e) => T.events.push(JSON.parse(e.data)));
      return es;
    };
    window.EventSource.prototype = Native.prototype;
    return true;
  })()`);
}

/** POSTs messages to the endpoint from Node, as another (long-polling) client. */
async function post(url: string, messages: unknown[]): Promise<Record<string, unknown>[]> {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(messages), signal: AbortSignal.timeout(5000) });
  expect(r.status).to.equal(200);
  return (await r.json()) as Record<string, unknown>[];
}

describe('Faye browser client over EventSource in Chromium', function () {
  // A long connect timeout: heartbeats come every 30 s, so what arrives within the 5 s
  // waits below came over the stream.
  const suite = browserSuite(this, { page: { name: 'faye-es.html', html: fayePage({ eventsource: true }) }, bayeux: { timeout: 30_000 } });

  it('switches to eventsource and receives on the stream [matrix Faye|eventsource]', async function () {
    const s = await suite.start();
    const page = await suite.open(s.origin);
    await recordEventSources(page);
    const info = await page.run<Started>(`T.start(${JSON.stringify(s.url)})`);
    await waitUntil(async () => (await page.run<string>('T.transport()')) === 'eventsource', 'Faye to switch to eventsource', 10_000, 50);
    expect(await page.run<string[]>('T.streams')).to.deep.equal([`${s.url}/${info.clientId}`]);
    await waitUntil(() => s.bayeux.connects.get(info.clientId)?.exchange.connectionType === 'eventsource', 'the server to hold the stream', 10_000, 20);

    await page.run(`T.subscribe('/faye/es')`);
    const [hs] = await post(s.url, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
    const other = hs!.clientId as string;
    await post(s.url, [{ channel: '/faye/es', clientId: other, data: { from: 'other', text: 'a&b=c \u2029 ✓' } }]);
    await page.run(`T.publish('/faye/es', { from: 'page' })`);
    await s.bayeux.publish('/faye/es', { from: 'server' });
    expect(await page.run('T.waitFor(3, 5000)')).to.deep.equal([
      { channel: '/faye/es', data: { from: 'other', text: 'a&b=c \u2029 ✓' } },
      { channel: '/faye/es', data: { from: 'page' } },
      { channel: '/faye/es', data: { from: 'server' } },
    ]);
    const streamed = (await page.run<{ channel: string; data: unknown }[][]>('T.events')).flat().filter((m) => m.channel === '/faye/es');
    // The page's own message may ride on the reply to its publish instead (it is subscribed).
    expect(
      streamed.map((m) => m.data).filter((d) => (d as { from: string }).from !== 'page'),
      'the deliveries came on the stream',
    ).to.deep.equal([{ from: 'other', text: 'a&b=c \u2029 ✓' }, { from: 'server' }]);

    // Its connects (after the switch) name eventsource and are answered at once as heartbeats.
    const connects = suite.seen.filter((m) => m.channel === '/meta/connect').map((m) => m.connectionType);
    expect(connects).to.include('eventsource');
    expect(page.errors).to.deep.equal([]);
  });
});
