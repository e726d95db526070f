/**
 * The live monitor (cli/monitor.ts): the page and its assets over HTTP (token by Bearer or
 * `?token=`, 401 otherwise, strict CSP, no path traversal into the `cometd` package), the
 * token check on the Bayeux subscribe to the monitor channel (403 without it), the
 * snapshots (first one with the rate history, channel counts from subscription events),
 * `stop()`, option checks, and the page itself in headless Chromium showing the sessions,
 * channels, rates, held connects and engine status of known traffic, with a screenshot.
 */
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { createMonitor, MONITOR_CHANNEL, type Monitor, type MonitorOptions, type MonitorSnapshot } from '../cli/monitor.js';
import { BayeuxServer, createHandler } from '../index.js';
import { browserSuite } from './support/browser-suite.js';
import { closeAllCometDClients, CometDClient } from './support/cometd-client.js';
import { deliveries, RawServer, type RawClient, type WireMessage } from './support/raw-client.js';
import { waitUntil } from './support/wait.js';

const TOKEN = 'monitor-secret-1';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bayeux at /cometd (WebSocket upgrades included) and the monitor at /monitor, on loopback. */
interface MonitorServer {
  readonly bayeux: BayeuxServer;
  readonly monitor: Monitor;
  readonly port: number;
  readonly origin: string;
  close(): Promise<void>;
}

async function startMonitorServer(options: Partial<MonitorOptions> = {}): Promise<MonitorServer> {
  const bayeux = new BayeuxServer({ timeout: 5000 });
  const monitor = createMonitor(bayeux, { token: TOKEN, bayeuxPath: '/cometd', intervalMs: 200, ...options });
  const handle = createHandler(bayeux, { path: '/cometd' });
  const server = http.createServer((req, res) => {
    // As the CLI routes it: the monitor's paths to its handler, the rest to Bayeux.
    if (req.url === '/monitor' || req.url?.startsWith('/monitor/') || req.url?.startsWith('/monitor?')) return monitor.handler(req, res);
    handle(req, res, () => {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    });
  });
  server.requestTimeout = 0;
  server.on('upgrade', handle.upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    bayeux,
    monitor,
    port,
    origin: `http://127.0.0.1:${port}`,
    async close() {
      monitor.stop();
      await bayeux.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with the path sent exactly as given (fetch would normalize `..`). */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${path} within 5000 ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Every snapshot the monitor delivers, by receiving session, seen through an outgoing extension. */
function recordSnapshots(bayeux: BayeuxServer): Map<string, MonitorSnapshot[]> {
  const seen = new Map<string, MonitorSnapshot[]>();
  bayeux.addExtension({
    outgoing(message, context) {
      if (message.channel !== MONITOR_CHANNEL || !('data' in message) || !context.session) return;
      const list = seen.get(context.session.id) ?? [];
      list.push(message.data as MonitorSnapshot);
      seen.set(context.session.id, list);
    },
  });
  return seen;
}

/** Long-polls until a delivery on the monitor channel satisfies `test` (bounded); returns it. */
async function snapshotOverTheWire(client: RawClient, test: (s: MonitorSnapshot) => boolean, what: string, ms = 5000): Promise<MonitorSnapshot> {
  const end = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < end) {
    const got = deliveries(await client.connect()).filter((m: WireMessage) => m.channel === MONITOR_CHANNEL);
    for (const m of got) {
      last = m.data;
      if (test(m.data as MonitorSnapshot)) return m.data as MonitorSnapshot;
    }
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; last snapshot: ${JSON.stringify(last)}`);
}

describe('monitor (cli/monitor.ts)', function () {
  describe('HTTP: the page and its assets', function () {
    let s: MonitorServer;
    before(async function () {
      s = await startMonitorServer();
    });
    after(async function () {
      await s.close();
    });

    it('answers 401 without a token or with a wrong one, and the page with the token by ?token= or Bearer', async function () {
      for (const [path, headers] of [
        ['/monitor', {}],
        ['/monitor/', {}],
        ['/monitor?token=', {}],
        ['/monitor?token=wrong', {}],
        ['/monitor?token=' + encodeURIComponent(TOKEN + 'x'), {}],
        ['/monitor', { Authorization: 'Bearer wrong' }],
        ['/monitor', { Authorization: 'Basic ' + Buffer.from('u:' + TOKEN).toString('base64') }],
      ] as const) {
        const r = await get(s.port, path, headers);
        expect(r.status, `${path} ${JSON.stringify(headers)}`).to.equal(401);
        expect(r.headers['www-authenticate']).to.match(/^Bearer /);
        expect(r.body).to.not.include(TOKEN);
      }
      const byQuery = await get(s.port, '/monitor?token=' + encodeURIComponent(TOKEN));
      for (const headers of [{ Authorization: 'Bearer ' + TOKEN }, { Authorization: 'bearer  ' + TOKEN }]) {
        const r = await get(s.port, '/monitor/', headers);
        expect(r.status, JSON.stringify(headers)).to.equal(200);
        expect(r.body).to.equal(byQuery.body);
      }
      expect(byQuery.status).to.equal(200);
      expect(byQuery.headers['content-type']).to.equal('text/html; charset=utf-8');
      expect(byQuery.body).to.include('data-bayeux="/cometd"');
      expect(byQuery.body).to.include(`data-channel="${MONITOR_CHANNEL}"`);
      expect(byQuery.body).to.include(`data-token="${TOKEN}"`);
    });

    it('accepts any of several tokens (rotation)', async function () {
      const rotating = await startMonitorServer({ token: ['old-token', 'nouveau-jeton-é'] });
      try {
        expect((await get(rotating.port, '/monitor', { Authorization: 'Bearer old-token' })).status).to.equal(200);
        expect((await get(rotating.port, '/monitor?token=' + encodeURIComponent('nouveau-jeton-é'))).status).to.equal(200);
        expect((await get(rotating.port, '/monitor?token=' + TOKEN)).status).to.equal(401);
      } finally {
        await rotating.close();
      }
    });

    it('sends the page with a strict CSP, nosniff and no-store; no inline script; GET and HEAD only', async function () {
      const r = await get(s.port, '/monitor?token=' + encodeURIComponent(TOKEN));
      const csp = String(r.headers['content-security-policy']);
      expect(csp).to.include("script-src 'self'");
      expect(csp).to.include("default-src 'none'");
      expect(csp).to.not.include('unsafe-inline');
      expect(r.headers['x-content-type-options']).to.equal('nosniff');
      expect(r.headers['cache-control']).to.equal('no-store');
      // Every script is an external file; no inline handlers or styles.
      expect(r.body.match(/<script[^>]*>/g)).to.deep.equal(['<script type="module" src="/monitor/monitor.js">']);
      expect(r.body).to.not.match(/ on[a-z]+=| style=/);
      const head = await get(s.port, '/monitor?token=' + encodeURIComponent(TOKEN), {}, 'HEAD');
      expect(head.status).to.equal(200);
      expect(head.body).to.equal('');
      const post = await get(s.port, '/monitor?token=' + encodeURIComponent(TOKEN), {}, 'POST');
      expect(post.status).to.equal(405);
      expect(post.headers.allow).to.equal('GET, HEAD');
    });

    it('serves the page script, stylesheet and the CometD modules without a token', async function () {
      const js = await get(s.port, '/monitor/monitor.js');
      expect(js.status).to.equal(200);
      expect(js.headers['content-type']).to.equal('text/javascript; charset=utf-8');
      expect(js.headers['x-content-type-options']).to.equal('nosniff');
      expect(js.body).to.include("from './cometd/cometd.js'");
      expect(js.body).to.not.include(TOKEN);
      const css = await get(s.port, '/monitor/monitor.css');
      expect(css.status).to.equal(200);
      expect(css.headers['content-type']).to.equal('text/css; charset=utf-8');
      // cometd.js and every module it re-exports from.
      const main = await get(s.port, '/monitor/cometd/cometd.js');
      expect(main.status).to.equal(200);
      const imports = [...main.body.matchAll(/from "\.\/([\w.]+)"/g)].map((m) => m[1]!);
      expect(imports).to.include('Client.js');
      for (const name of imports) {
        const r = await get(s.port, '/monitor/cometd/' + name);
        expect(r.status, name).to.equal(200);
        expect(r.headers['content-type'], name).to.equal('text/javascript; charset=utf-8');
      }
    });

    it('answers 404 to paths outside the cometd package, encoded or not, and to unknown paths', async function () {
      for (const path of [
        '/monitor/cometd/../../package.json',
        '/monitor/cometd/../../../package.json',
        '/monitor/cometd/..%2F..%2Fpackage.json',
        '/monitor/cometd/%2e%2e/%2e%2e/package.json',
        '/monitor/cometd/%2e%2e%2f%2e%2e%2fpackage.json',
        '/monitor/cometd/..%5c..%5cpackage.json',
        '/monitor/cometd/package.json',
        '/monitor/cometd/README.md',
        '/monitor/cometd/',
        '/monitor/cometd/Client.js%00.js',
        '/monitor/cometd//etc/passwd',
        '/monitor/nope.js',
        '/monitor/monitor.js/x',
      ]) {
        const r = await get(s.port, path);
        expect(r.status, path).to.equal(404);
        expect(r.body, path).to.equal('not found\n');
      }
    });
  });

  describe('Bayeux: the monitor channel', function () {
    let raw: RawServer;
    let monitor: Monitor | null;
    beforeEach(async function () {
      raw = await RawServer.start();
      monitor = null;
    });
    afterEach(async function () {
      monitor?.stop();
      await raw.close();
    });

    function start(options: Partial<MonitorOptions> = {}): Monitor {
      monitor = createMonitor(raw.bayeux, { token: TOKEN, bayeuxPath: '/cometd', intervalMs: 100, historySeconds: 60, ...options });
      return monitor;
    }

    it('admits a subscribe with the token in ext.monitorToken; the first snapshot carries the rate history', async function () {
      start();
      const c = await raw.connectedClient();
      const [reply] = await c.subscribe(MONITOR_CHANNEL, { ext: { monitorToken: TOKEN } });
      expect(reply).to.include({ channel: '/meta/subscribe', successful: true, subscription: MONITOR_CHANNEL });
      const first = await snapshotOverTheWire(c, () => true, 'the first snapshot');
      expect(first.history?.seconds).to.equal(60);
      expect(first.history?.points.length).to.be.at.least(1);
      for (const p of first.history!.points) expect(p).to.have.all.keys('time', 'in', 'out');
      expect(first).to.include({ sessions: 1, engine: 'up' });
      expect(first.channels).to.deep.equal([]);
      expect(first.rates).to.have.all.keys('in', 'out');
      expect(first.held).to.be.an('object');
      const next = await snapshotOverTheWire(c, () => true, 'a second snapshot');
      expect(next).to.not.have.property('history');
      expect(next.time).to.be.greaterThan(first.time);
    });

    it('refuses a subscribe without the token or with a wrong one (403) and sends those sessions nothing', async function () {
      start();
      const snapshots = recordSnapshots(raw.bayeux);
      const refused = await raw.connectedClient();
      for (const extra of [
        {},
        { ext: {} },
        { ext: { monitorToken: 'wrong' } },
        { ext: { monitorToken: TOKEN.slice(0, -1) } },
        { ext: { monitorToken: '' } },
        { ext: { monitorToken: 42 } },
        { ext: { monitorToken: [TOKEN] } },
      ]) {
        const [reply] = await refused.subscribe(MONITOR_CHANNEL, extra);
        expect(reply, JSON.stringify(extra)).to.include({ successful: false, error: '403:monitor_token_invalid:subscribe_denied' });
      }
      const [listed] = await refused.subscribe(['/chat/x', MONITOR_CHANNEL], { ext: { monitorToken: 'wrong' } });
      expect(listed).to.include({ successful: false, error: '403:monitor_token_invalid:subscribe_denied' });
      expect(await raw.bayeux.session(refused.clientId!).subscriptions()).to.deep.equal([]);
      // A session with the token gets snapshots meanwhile; the refused one none.
      const admitted = await raw.connectedClient();
      const [ok] = await admitted.subscribe(MONITOR_CHANNEL, { ext: { monitorToken: TOKEN } });
      expect(ok).to.include({ successful: true });
      await waitUntil(() => (snapshots.get(admitted.clientId!)?.length ?? 0) >= 3, 'three snapshots for the admitted session');
      expect(snapshots.has(refused.clientId!)).to.equal(false);
    });

    it('takes the token out of ext before later extensions see the subscribe', async function () {
      start();
      const seen: Record<string, unknown>[] = [];
      raw.bayeux.addExtension({
        incoming(message) {
          if (message.channel === '/meta/subscribe') seen.push({ ...message.ext });
        },
      });
      const c = await raw.connectedClient();
      await c.subscribe(MONITOR_CHANNEL, { ext: { monitorToken: TOKEN, other: 1 } });
      expect(seen).to.deep.equal([{ other: 1 }]);
    });

    it('lists channels by subscribers, kept from subscribes, unsubscribes and removed sessions, never its own channel', async function () {
      start();
      const snapshots = recordSnapshots(raw.bayeux);
      const watcher = await raw.connectedClient();
      await watcher.subscribe(MONITOR_CHANNEL, { ext: { monitorToken: TOKEN } });
      const [a1, a2, a3, b1, b2] = await Promise.all(Array.from({ length: 5 }, () => raw.connectedClient()));
      for (const c of [a1!, a2!, a3!]) await c.mustSubscribe('/chat/a');
      for (const c of [b1!, b2!, a3!]) await c.mustSubscribe('/chat/b');
      await a1!.mustSubscribe(['/chat/c', '/chat/*']);
      await a3!.mustSubscribe('/chat/a'); // again: still one subscriber
      const latest = (): MonitorSnapshot | undefined => snapshots.get(watcher.clientId!)?.at(-1);
      const want = (channels: MonitorSnapshot['channels'], sessions: number) => () =>
        JSON.stringify(latest()?.channels) === JSON.stringify(channels) && latest()?.sessions === sessions;
      await waitUntil(
        want(
          [
            { channel: '/chat/a', subscribers: 3 },
            { channel: '/chat/b', subscribers: 3 },
            { channel: '/chat/*', subscribers: 1 },
            { channel: '/chat/c', subscribers: 1 },
          ],
          6,
        ),
        'the channels as subscribed',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last: ${JSON.stringify(latest())}`);
      });
      await a3!.unsubscribe('/chat/a');
      await b2!.disconnect();
      await raw.bayeux.session(a1!.clientId!).disconnect();
      await waitUntil(
        want(
          [
            { channel: '/chat/b', subscribers: 2 },
            { channel: '/chat/a', subscribers: 1 },
          ],
          4,
        ),
        'the channels after an unsubscribe and two removed sessions',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last: ${JSON.stringify(latest())}`);
      });
    });

    it('reports messages per second in from the published count between two ticks', async function () {
      start({ intervalMs: 300 });
      const snapshots = recordSnapshots(raw.bayeux);
      const subscriber = await raw.connectedClient();
      await subscriber.mustSubscribe('/rate/x');
      const watcher = await raw.connectedClient();
      // 30 publishes right after a snapshot went out, i.e. after that tick's sample.
      let published = false;
      raw.bayeux.addExtension({
        outgoing(message) {
          if (message.channel !== MONITOR_CHANNEL || published) return;
          published = true;
          for (let i = 0; i < 30; i++) void raw.bayeux.publish('/rate/x', { i });
        },
      });
      await watcher.subscribe(MONITOR_CHANNEL, { ext: { monitorToken: TOKEN } });
      await waitUntil(() => (snapshots.get(watcher.clientId!)?.length ?? 0) >= 2, 'two snapshots');
      const [first, second] = snapshots.get(watcher.clientId!)!;
      const seconds = (second!.time - first!.time) / 1000;
      // rate × interval = messages, within the rounding of the rate (0.1/s) and the clocks.
      expect(second!.rates.in * seconds).to.be.closeTo(30, 1.5);
      expect(second!.history).to.equal(undefined);
      expect(first!.history!.points.at(-1)).to.deep.equal({ time: first!.time, ...first!.rates });
    });

    it('stop() clears its one timer (unref\'d) and takes its extension and listeners off the server', async function () {
      const events = ['clusterSubscribe', 'clusterUnsubscribe', 'clusterSessionRemoved', 'sessionRemoved'] as const;
      const before = events.map((e) => raw.bayeux.listenerCount(e));
      // Watch the timer calls (passing them through) to catch the monitor's interval.
      const created: NodeJS.Timeout[] = [];
      const cleared: unknown[] = [];
      const { setInterval: realSet, clearInterval: realClear } = globalThis;
      globalThis.setInterval = ((...args: Parameters<typeof realSet>) => {
        const t = realSet(...args);
        created.push(t);
        return t;
      }) as typeof setInterval;
      globalThis.clearInterval = ((t: NodeJS.Timeout | undefined) => {
        cleared.push(t);
        realClear(t);
      }) as typeof clearInterval;
      let m: Monitor;
      try {
        m = start();
        expect(created).to.have.length(1);
        expect(created[0]!.hasRef(), 'unref\'d').to.equal(false);
        const c = await raw.connectedClient();
        await c.subscribe(MONITOR_CHANNEL, { ext: { monitorToken: TOKEN } });
        m.stop();
        m.stop();
      } finally {
        globalThis.setInterval = realSet;
        globalThis.clearInterval = realClear;
      }
      // (Other timers of the server may be cleared meanwhile: transports sweep on their own.)
      expect(cleared).to.include(created[0]);
      expect(events.map((e) => raw.bayeux.listenerCount(e))).to.deep.equal(before);
      // Its extension is gone: service subscribes are no longer checked.
      const c2 = await raw.connectedClient();
      const [reply] = await c2.subscribe(MONITOR_CHANNEL);
      expect(reply).to.include({ successful: true });
    });

    it('throws a TypeError naming each bad option', function () {
      const good: MonitorOptions = { token: TOKEN, bayeuxPath: '/cometd' };
      const cases: [Partial<Record<keyof MonitorOptions, unknown>>, string][] = [
        [{ token: '' }, 'token'],
        [{ token: [] }, 'token'],
        [{ token: ['a', ''] }, 'token'],
        [{ token: 42 }, 'token'],
        [{ token: undefined }, 'token'],
        [{ bayeuxPath: 'cometd' }, 'bayeuxPath'],
        [{ bayeuxPath: undefined }, 'bayeuxPath'],
        [{ bayeuxPath: '/a"><script>' }, 'bayeuxPath'],
        [{ bayeuxPath: '//evil.example/cometd' }, 'bayeuxPath'],
        [{ basePath: '/' }, 'basePath'],
        [{ basePath: '/monitor/' }, 'basePath'],
        [{ basePath: 'monitor' }, 'basePath'],
        [{ intervalMs: 0 }, 'intervalMs'],
        [{ intervalMs: 1.5 }, 'intervalMs'],
        [{ intervalMs: '1000' }, 'intervalMs'],
        [{ historySeconds: 0 }, 'historySeconds'],
        [{ historySeconds: Number.NaN }, 'historySeconds'],
      ];
      for (const [bad, name] of cases) {
        expect(() => createMonitor(raw.bayeux, { ...good, ...bad } as MonitorOptions), JSON.stringify(bad))
          .to.throw(TypeError, new RegExp(`option ${name} `))
          .with.property('code', 'ERR_BAYEUX_INVALID_OPTION');
      }
      expect(() => createMonitor(null as unknown as BayeuxServer, good)).to.throw(TypeError, /bayeux/);
      expect(() => createMonitor(raw.bayeux, null as unknown as MonitorOptions)).to.throw(TypeError, /option options /);
      // None of them left a timer or a listener behind.
      expect(raw.bayeux.listenerCount('clusterSubscribe')).to.equal(0);
    });
  });

  describe('the page in Chromium', function () {
    const suite = browserSuite(this);
    let s: MonitorServer | null = null;
    afterEach(async function () {
      await closeAllCometDClients();
      await s?.close();
      s = null;
    });

    it('shows the sessions, channel counts, rates, held connects and engine status of known traffic', async function () {
      s = await startMonitorServer();
      const snapshots = recordSnapshots(s.bayeux);
      // 3 sessions on /chat/a and 2 on /chat/b, long-polling.
      const url = s.origin + '/cometd';
      const clients = Array.from({ length: 5 }, () => new CometDClient(url));
      for (const c of clients) await c.handshake();
      for (const [i, c] of clients.entries()) await c.subscribe(i < 3 ? '/chat/a' : '/chat/b', () => undefined);

      // Chromium's own waits evaluate strings in the page, which its CSP forbids: poll from here.
      const page = await suite.openUrl(`${s.origin}/monitor?token=${encodeURIComponent(TOKEN)}`, { ready: null });
      await page.page.setViewportSize({ width: 1000, height: 720 });
      await waitUntil(async () => (await page.run('document.documentElement.dataset.state')) === 'live', 'the page to go live', 10_000, 50);
      // A steady stream of publishes (the rates), 20 a second for the rest of the test.
      let n = 0;
      const bayeux = s.bayeux;
      const publisher = setInterval(() => {
        n++;
        void bayeux.publish(n % 2 === 0 ? '/chat/a' : '/chat/b', { n }).catch(() => undefined);
      }, 50);
      try {
        // Sessions: the 5 clients + the page's own = 6 (the publishes come from app code, no session).
        const shown = `(() => {
          const text = (sel) => document.querySelector(sel)?.textContent ?? '';
          const row = (table, name) => document.querySelector('#' + table + ' tbody tr[data-name="' + name + '"] td:last-child')?.textContent;
          return text('#sessions') === '6' && row('channels', '/chat/a') === '3' && row('channels', '/chat/b') === '2'
            && document.querySelectorAll('#channels tbody tr').length === 2
            && Number(text('#rate-in')) > 0 && Number(text('#rate-out')) > 0
            && text('#engine') === 'up' && document.querySelector('#engine').dataset.status === 'up'
            && row('held', 'long-polling') !== undefined && row('held', 'websocket') === '1'
            && document.querySelector('#line-in').getAttribute('points').split(' ').length >= 8;
        })()`;
        await waitUntil(() => page.run<boolean>(shown), 'the page to show the traffic', 15_000, 100).catch(async (err: Error) => {
          const dom = await page.run<string>("document.querySelector('main').innerText");
          throw new Error(`${err.message}; the page shows:\n${dom}\npage errors: ${page.errors.join(' | ') || 'none'}`);
        });
        const dom = await page.run<Record<string, string>>(`({
          sessions: document.querySelector('#sessions').textContent,
          rateIn: document.querySelector('#rate-in').textContent,
          rateOut: document.querySelector('#rate-out').textContent,
          engine: document.querySelector('#engine').textContent,
          state: document.querySelector('#state').textContent,
        })`);
        expect(dom.sessions).to.equal('6');
        expect(await s.bayeux.sessionCount()).to.equal(6);
        expect(dom.engine).to.equal('up');
        expect(dom.state).to.equal('live');
        // The page's session got the history with its first snapshot only.
        const pageSnapshots = [...snapshots.values()];
        expect(pageSnapshots).to.have.length(1);
        expect(pageSnapshots[0]![0]!.history?.seconds).to.equal(300);
        expect(pageSnapshots[0]!.slice(1).every((x) => x.history === undefined)).to.equal(true);
        // Chromium reported nothing: no CSP violation, no script error.
        expect(page.errors).to.deep.equal([]);

        const dir = join(root, 'spec-output');
        mkdirSync(dir, { recursive: true });
        const file = join(dir, 'monitor.png');
        await page.page.screenshot({ path: file, fullPage: true });
        console.log(`      monitor screenshot (sessions ${dom.sessions}, in ${dom.rateIn}/s, out ${dom.rateOut}/s): ${file}`);
      } finally {
        clearInterval(publisher);
      }
    });

    it('says "unauthorized" when the monitor refuses its subscribe', async function () {
      s = await startMonitorServer();
      const context = await suite.newContext();
      // The page as served, with another token in it: the subscribe then carries a wrong one.
      await context.route('**/monitor?*', async (route) => {
        const response = await route.fetch();
        const html = (await response.text()).replace(`data-token="${TOKEN}"`, 'data-token="not-the-token"');
        await route.fulfill({ response, body: html });
      });
      const page = await suite.openUrl(`${s.origin}/monitor?token=${encodeURIComponent(TOKEN)}`, { context, ready: null });
      await waitUntil(async () => (await page.run('document.documentElement.dataset.state')) !== 'connecting', 'the page to leave "connecting"', 10_000, 50);
      expect(await page.run('document.documentElement.dataset.state')).to.equal('unauthorized');
      expect(await page.run("document.querySelector('#state').textContent")).to.equal('unauthorized');
      expect(await page.run("document.querySelector('#sessions').textContent")).to.equal('–');
      // It disconnected rather than staying on as a session.
      await waitUntil(async () => (await s!.bayeux.sessionCount()) === 0, 'the refused page to disconnect');
    });
  });
});
