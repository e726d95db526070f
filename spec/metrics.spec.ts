/**
 * `bayeux-server/metrics`: a real server on node:http with the Bayeux handler at `/cometd`
 * and the metrics handler at `/metrics`, real traffic (raw long-polling over HTTP, a `ws`
 * WebSocket client, an in-process client, app publishes, the Redis engine behind a link that
 * can be cut), then a scrape over HTTP, parsed as Prometheus text, with exact counts.
 * Also: the options' checks, `close()` putting the engine back, the handler's methods, and
 * that the main entry point never loads prom-client.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import { Registry, prometheusContentType } from 'prom-client';
import { BayeuxServer, createHandler, memoryEngine, type BayeuxServerOptions, type Engine } from '../index.js';
import { createMetrics, type BayeuxMetrics, type MetricsOptions } from '../metrics.js';
import { redisEngine } from '../redis.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { deliveries, expectBatch, nextEvent, request, type RawResponse, type WireMessage } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { Inbox, waitUntil } from './support/wait.js';
import { WsClient, closeAllWsClients } from './support/ws-client.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------
// A server with metrics, a long-polling client, and the scrape.

interface App {
  readonly bayeux: BayeuxServer;
  readonly metrics: BayeuxMetrics;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** `<origin>/cometd` */
  readonly url: string;
  close(): Promise<void>;
}

const apps = new Set<App>();

/** Bayeux at `/cometd` (default transports, WebSocket upgrades included) and the metrics at `/metrics`. */
async function serve(options: BayeuxServerOptions = {}, metricsOptions?: MetricsOptions): Promise<App> {
  const bayeux = new BayeuxServer(options);
  const metrics = createMetrics(bayeux, metricsOptions);
  const cometd = createHandler(bayeux, { path: '/cometd' });
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') return metrics.handler(req, res);
    cometd(req, res, () => {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    });
  });
  server.on('upgrade', cometd.upgrade);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | null = null;
  const app: App = {
    bayeux,
    metrics,
    origin,
    url: origin + '/cometd',
    close() {
      apps.delete(app);
      closing ??= (async () => {
        metrics.close();
        await bayeux.close();
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
      })();
      return closing;
    },
  };
  apps.add(app);
  return app;
}

/** A long-polling client speaking raw JSON over HTTP. */
class Poller {
  clientId: string | undefined;
  private nextId = 0;
  constructor(private readonly url: string) {}

  async send(message: Record<string, unknown>): Promise<WireMessage[]> {
    const m = { clientId: this.clientId, id: String(++this.nextId), ...message };
    return expectBatch(await request(this.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([m]) }));
  }

  /** Handshake, then the first connect (answered at once). */
  async start(): Promise<void> {
    const [hs] = await this.send({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] });
    expect(hs, 'handshake').to.deep.include({ successful: true });
    this.clientId = hs!.clientId as string;
    await this.connect({ advice: { timeout: 0 } });
  }

  connect(extra: Record<string, unknown> = {}): Promise<WireMessage[]> {
    return this.send({ channel: '/meta/connect', connectionType: 'long-polling', ...extra });
  }

  async subscribe(subscription: string): Promise<void> {
    const r = await this.send({ channel: '/meta/subscribe', subscription });
    expect(r.find((m) => m.channel === '/meta/subscribe'), `subscribe to ${subscription}`).to.deep.include({ successful: true });
  }

  publish(channel: string, data: unknown): Promise<WireMessage[]> {
    return this.send({ channel, data });
  }

  disconnect(): Promise<WireMessage[]> {
    return this.send({ channel: '/meta/disconnect' });
  }
}

/** One scrape, parsed. */
class Scrape {
  readonly families: Map<string, MetricFamily>;
  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  family(name: string): MetricFamily {
    const f = this.families.get(name);
    if (f === undefined) throw new Error(`no metric ${name} in the scrape:\n${this.text}`);
    return f;
  }

  /** The value of a counter or gauge series; undefined when the series is absent. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const sample = this.family(name).metrics.find((m) => sameLabels(m.labels ?? {}, labels));
    return sample?.value === undefined ? undefined : Number(sample.value);
  }

  /** Every series of a family, as `label=value,… -> value` (the labels in the order given). */
  series(name: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.family(name).metrics) {
      out[Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',')] = Number(m.value);
    }
    return out;
  }

  /**
   * A histogram's observation count, read from its `_count` line (the parser handles only
   * histograms without labels besides `le`); undefined when the series is absent.
   */
  histogramCount(name: string, labels: Record<string, string> = {}): number | undefined {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
    const head = `${name}_count${l === '' ? '' : `{${l}}`} `;
    const line = this.text.split('\n').find((x) => x.startsWith(head));
    return line === undefined ? undefined : Number(line.slice(head.length));
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

async function scrape(app: App): Promise<Scrape> {
  const r = await request(app.origin + '/metrics');
  expect(r.status, r.text).to.equal(200);
  expect(r.headers.get('content-type')).to.equal(prometheusContentType);
  return new Scrape(r.text);
}

/** Rejects unless `fn` throws a TypeError with `code` whose message includes `words`. */
function expectTypeError(fn: () => unknown, code: string, words: string): void {
  let thrown: unknown = null;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected a TypeError mentioning ${words}`).to.be.instanceOf(TypeError);
  expect((thrown as { code?: unknown }).code).to.equal(code);
  expect((thrown as Error).message).to.include(words);
}

// ---------------------------------------------------------------------------------------

describe('metrics (bayeux-server/metrics)', function () {
  this.timeout(30_000);

  afterEach(async function () {
    closeAllWsClients();
    await Promise.all([...apps].map((a) => a.close()));
    await closeAllProxies();
  });

  it('counts long-polling traffic exactly: handshakes, publishes, queued, deliveries (held, immediate, piggybacked), a disconnect, engine calls, latencies', async function () {
    const app = await serve({ timeout: 10_000 });
    const [a, b, c] = [new Poller(app.url), new Poller(app.url), new Poller(app.url)];
    for (const p of [a, b, c]) await p.start();
    await a.subscribe('/chat');
    await b.subscribe('/chat');
    await c.subscribe('/news');

    await c.publish('/chat', 'c1'); // queued for a and b
    await c.publish('/chat', 'c2');
    expect(await app.bayeux.publish('/chat', 's1')).to.equal(2);
    expect(deliveries(await a.connect()), 'a takes c1, c2, s1 at once').to.have.length(3);
    // b is subscribed: its own message is queued for it too, and its queue rides on the publish reply.
    expect(deliveries(await b.publish('/chat', 'b1')).map((m) => m.data), 'piggybacked on the publish reply').to.deep.equal(['c1', 'c2', 's1', 'b1']);
    expect(deliveries(await a.connect()), 'a takes b1').to.have.length(1);

    const held = a.connect();
    await waitUntil(() => app.bayeux.connects.get(a.clientId!) !== undefined, 'a held connect');
    const during = await scrape(app);
    expect(during.series('bayeux_held_connects')).to.deep.include({ 'transport=long-polling': 1 });
    expect(during.value('bayeux_sessions')).to.equal(3);

    expect(await app.bayeux.publish('/chat', 's2')).to.equal(2);
    expect(deliveries(await held).map((m) => m.data), 'the held connect answered with s2').to.deep.equal(['s2']);
    expect((await a.disconnect())[0]).to.deep.include({ successful: true });

    const s = await scrape(app);
    const counters: [string, Record<string, string>, number][] = [
      ['bayeux_handshakes_total', {}, 3],
      ['bayeux_disconnects_total', {}, 1],
      ['bayeux_sessions_removed_total', { reason: 'disconnect' }, 1],
      ['bayeux_sessions_removed_total', { reason: 'timeout' }, 0],
      ['bayeux_sessions_removed_total', { reason: 'server' }, 0],
      ['bayeux_messages_published_total', { source: 'client' }, 3],
      ['bayeux_messages_published_total', { source: 'server' }, 2],
      ['bayeux_messages_queued_total', {}, 10],
      // a: 3 + 1 + 1 (held), b: 4 (piggybacked); s2 still waits in b's queue.
      ['bayeux_messages_delivered_total', { transport: 'long-polling' }, 9],
      ['bayeux_messages_dropped_total', {}, 0],
      ['bayeux_engine_calls_total', { operation: 'createSession' }, 3],
      ['bayeux_engine_calls_total', { operation: 'subscribe' }, 3],
      ['bayeux_engine_calls_total', { operation: 'publish' }, 5],
      ['bayeux_engine_calls_total', { operation: 'destroySession' }, 1],
      // The scrapes read the session count through the engine's own method: not counted.
      ['bayeux_engine_calls_total', { operation: 'sessionCount' }, 0],
    ];
    for (const [name, labels, want] of counters) expect(s.value(name, labels), `${name} ${JSON.stringify(labels)}`).to.equal(want);
    for (const name of ['bayeux_handshakes_total', 'bayeux_messages_delivered_total', 'bayeux_engine_calls_total']) {
      expect(s.family(name).type, name).to.equal('COUNTER');
    }
    for (const name of ['bayeux_sessions', 'bayeux_held_connects', 'bayeux_engine_up']) expect(s.family(name).type, name).to.equal('GAUGE');
    expect(Object.values(s.series('bayeux_engine_failures_total')).every((v) => v === 0), 'no engine failure').to.equal(true);
    expect(s.value('bayeux_sessions')).to.equal(2);
    expect(s.series('bayeux_held_connects')).to.deep.include({ 'transport=long-polling': 0 });
    expect(s.value('bayeux_engine_up')).to.equal(1);

    // 3 handshakes, 3 first connects, 3 subscribes, 3 publishes, 2 connects answered at once,
    // 1 disconnect; the held connect is not a request the histogram times.
    expect(s.histogramCount('bayeux_request_duration_seconds', { transport: 'long-polling' })).to.equal(15);
    expect(s.family('bayeux_request_duration_seconds').type).to.equal('HISTOGRAM');
    const publishes = s.family('bayeux_publish_duration_seconds').metrics[0]!;
    expect(Number(publishes.count), 'client and app publishes').to.equal(5);
    expect(Number(publishes.buckets!['+Inf'])).to.equal(5);
    expect(Number(publishes.sum)).to.be.greaterThan(0);
  });

  it('counts a queue overflow, an expiry, a removal by the server and in-process deliveries', async function () {
    const app = await serve({ maxInterval: 1000, sweepInterval: 20, maxQueue: 2 });
    const x = new Poller(app.url);
    const y = new Poller(app.url);
    await x.start();
    await x.subscribe('/q');
    await y.start();
    // x never connects again: its queue overflows, then it expires.
    for (let i = 0; i < 5; i++) expect(await app.bayeux.publish('/q', i), `publish ${i}: x still there`).to.equal(1);
    expect(await app.bayeux.session(y.clientId!).disconnect()).to.equal(true);
    const expired = nextEvent(app.bayeux, 'sessionRemoved', 5000);
    const [gone, reason] = await expired;
    expect([gone, reason]).to.deep.equal([x.clientId, 'timeout']);

    const local = await app.bayeux.localClient();
    const got = new Inbox<unknown>();
    await local.subscribe('/local', (m) => got.push(m.data));
    await app.bayeux.publish('/local', 'one');
    await app.bayeux.publish('/local', 'two');
    await got.atLeast(2, 'two in-process deliveries');

    const s = await scrape(app);
    expect(s.value('bayeux_messages_dropped_total'), 'dropped: 5 queued, maxQueue 2').to.equal(3);
    expect(s.series('bayeux_sessions_removed_total')).to.deep.equal({ 'reason=disconnect': 0, 'reason=timeout': 1, 'reason=server': 1 });
    expect(s.value('bayeux_disconnects_total'), 'no /meta/disconnect').to.equal(0);
    expect(s.value('bayeux_handshakes_total'), 'x, y and the in-process client').to.equal(3);
    expect(s.value('bayeux_messages_queued_total')).to.equal(7);
    expect(s.value('bayeux_messages_published_total', { source: 'server' })).to.equal(7);
    expect(s.value('bayeux_messages_delivered_total', { transport: 'in-process' })).to.equal(2);
    expect(s.value('bayeux_messages_delivered_total', { transport: 'long-polling' }), 'nothing went out by long-polling').to.equal(undefined);
    expect(s.value('bayeux_sessions'), 'only the in-process client is left').to.equal(1);
    expect(s.series('bayeux_held_connects')).to.deep.include({ 'transport=in-process': 1 });
    // The in-process client's handshake, first connect and subscribe.
    expect(s.histogramCount('bayeux_request_duration_seconds', { transport: 'in-process' })).to.equal(3);
  });

  it('counts WebSocket deliveries streamed on a held connect under transport "websocket"', async function () {
    const app = await serve();
    const ws = await WsClient.open(app.url);
    await ws.handshakeAndConnect();
    await ws.subscribe('/ws');
    ws.connect();
    await waitUntil(() => app.bayeux.connects.get(ws.clientId!) !== undefined, 'the websocket connect held');
    await app.bayeux.publish('/ws', 1);
    await app.bayeux.publish('/ws', 2);
    await ws.messages.atLeast(5, 'handshake, connect and subscribe replies, then two deliveries');
    await waitUntil(() => ws.messages.items.filter((m) => m.channel === '/ws').length === 2, 'two deliveries');

    const s = await scrape(app);
    expect(s.value('bayeux_messages_delivered_total', { transport: 'websocket' })).to.equal(2);
    expect(s.series('bayeux_held_connects'), 'a streaming connect goes on holding').to.deep.include({ 'transport=websocket': 1 });
    expect(s.histogramCount('bayeux_request_duration_seconds', { transport: 'websocket' }), 'handshake, first connect, subscribe').to.equal(3);
    expect(s.value('bayeux_handshakes_total')).to.equal(1);
  });

  it('serves GET and HEAD, refuses other methods with 405', async function () {
    const app = await serve();
    const head = await request(app.origin + '/metrics', { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.text).to.equal('');
    expect(Number(head.headers.get('content-length'))).to.be.greaterThan(0);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r: RawResponse = await request(app.origin + '/metrics', { method, body: method === 'DELETE' ? undefined : 'x' });
      expect(r.status, method).to.equal(405);
      expect(r.headers.get('allow')).to.equal('GET, HEAD');
    }
    expect((await scrape(app)).value('bayeux_engine_up'), 'still serving after the refusals').to.equal(1);
  });

  it('checks its options: a TypeError naming the option', function () {
    const bayeux = new BayeuxServer();
    try {
      const bad: [unknown, string][] = [
        [{ prefix: '1x_' }, 'option prefix'],
        [{ prefix: 'a-b' }, 'option prefix'],
        [{ prefix: 42 }, 'option prefix'],
        [{ requestBuckets: [] }, 'option requestBuckets'],
        [{ requestBuckets: [0.1, 0.05] }, 'option requestBuckets'],
        [{ requestBuckets: [0, 1] }, 'option requestBuckets[0]'],
        [{ requestBuckets: [1, Infinity] }, 'option requestBuckets[1]'],
        [{ registry: {} }, 'option registry'],
        [{ collectDefaultMetrics: 'yes' }, 'option collectDefaultMetrics'],
        [{ prefixes: 'x_' }, 'option prefixes: unknown option'],
      ];
      for (const [options, words] of bad) expectTypeError(() => createMetrics(bayeux, options as MetricsOptions), 'ERR_BAYEUX_INVALID_OPTION', `createMetrics ${words}`);
      expectTypeError(() => createMetrics({} as BayeuxServer), 'ERR_BAYEUX_INVALID_ARGUMENT', 'needs a BayeuxServer');
      // None of the refused calls left anything behind: no timing hook set.
      expect(bayeux.stats.observer).to.equal(null);
    } finally {
      void bayeux.close();
    }
  });

  it('one set of metrics per server at a time; a shared registry refuses a second set under the same prefix', async function () {
    const one = new BayeuxServer();
    const two = new BayeuxServer();
    const registry = new Registry();
    try {
      const m1 = createMetrics(one, { registry });
      expectTypeError(() => createMetrics(one), 'ERR_BAYEUX_INVALID_ARGUMENT', 'has metrics already');
      expectTypeError(() => createMetrics(two, { registry }), 'ERR_BAYEUX_INVALID_OPTION', 'bayeux_sessions');
      const m2 = createMetrics(two, { registry, prefix: 'two_' });
      const text = await registry.metrics();
      expect(text).to.include('\nbayeux_handshakes_total 0\n').and.to.include('\ntwo_handshakes_total 0\n');
      m1.close();
      const again = createMetrics(one, { registry });
      again.close();
      m2.close();
      expect(registry.getMetricsAsArray()).to.deep.equal([]);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("never modifies the app's engine object; close() removes its metrics and stops timing", async function () {
    const engine = memoryEngine() as Engine & Record<string, unknown>;
    // An own, bound method, as an engine built from closures would have.
    const ownPublish = engine.publish.bind(engine);
    engine.publish = ownPublish;
    const keys = Object.keys(engine);
    const bayeux = new BayeuxServer({ engine, maxInterval: 1000 });
    try {
      const registry = new Registry();
      const metrics = createMetrics(bayeux, { registry, collectDefaultMetrics: true });
      expect(engine.publish, 'the own method is left as it was').to.equal(ownPublish);
      expect(Object.keys(engine), 'no property added').to.deep.equal(keys);
      expect(bayeux.stats.observer).to.not.equal(null);
      const names = registry.getMetricsAsArray().map((m) => m.name);
      expect(names).to.include.members(['bayeux_sessions', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds']);
      const local = await bayeux.localClient();
      await local.publish('/x', 1);
      expect((await registry.getSingleMetricAsString('bayeux_engine_calls_total')).split('\n')).to.include('bayeux_engine_calls_total{operation="publish"} 1');
      // A scrape's own sessionCount is not an engine call of the server's.
      await registry.metrics();
      expect((await registry.getSingleMetricAsString('bayeux_engine_calls_total')).split('\n')).to.include('bayeux_engine_calls_total{operation="sessionCount"} 0');

      metrics.close();
      metrics.close(); // idempotent
      expect(Object.keys(engine)).to.deep.equal(keys);
      expect(bayeux.stats.observer).to.equal(null);
      expect(registry.getMetricsAsArray(), 'every metric it registered is gone').to.deep.equal([]);
      // The core still counts (the stats are the server's), only the metrics are gone.
      await local.publish('/x', 2);
      expect(bayeux.stats.publishedByClients).to.equal(2);
      expect(bayeux.stats.engineCalls.publish).to.equal(2);
    } finally {
      await bayeux.close();
    }
  });

  describe('with the Redis engine', function () {
    let redis: RedisServer;
    before(async function () {
      redis = await RedisServer.start();
    });
    after(async function () {
      await stopAllRedisServers();
    });

    it('counts engine failures while Redis is unreachable, and engine_up follows the outage; the scrape still answers', async function () {
      this.timeout(60_000);
      const link = await OutageProxy.start(redis.port);
      const app = await serve({ engine: redisEngine({ url: `redis://127.0.0.1:${link.port}`, prefix: `metrics${process.pid}` }) });
      await app.bayeux.ready();
      const p = new Poller(app.url);
      await p.start();
      await app.bayeux.publish('/r', 1);
      const before = await scrape(app);
      expect(before.value('bayeux_engine_up')).to.equal(1);
      expect(before.value('bayeux_sessions')).to.equal(1);

      const down = nextEvent(app.bayeux, 'engineDown', 15_000);
      link.cut();
      await down;
      let refused: unknown = null;
      await app.bayeux.publish('/r', 2).catch((err: unknown) => (refused = err));
      expect(refused, 'the publish during the outage').to.have.property('code', 'ERR_BAYEUX_ENGINE_UNAVAILABLE');
      const during = await scrape(app);
      expect(during.value('bayeux_engine_up')).to.equal(0);
      expect(during.value('bayeux_engine_calls_total', { operation: 'publish' })).to.equal(2);
      expect(during.value('bayeux_engine_failures_total', { operation: 'publish' })).to.equal(1);
      expect(during.value('bayeux_sessions'), 'the last count known').to.equal(1);
      expect(during.value('bayeux_messages_published_total', { source: 'server' }), 'only the publish that went through').to.equal(1);

      const up = nextEvent(app.bayeux, 'engineUp', 20_000);
      link.restore();
      await up;
      expect((await scrape(app)).value('bayeux_engine_up')).to.equal(1);
    });
  });

  describe('packaging', function () {
    /** Every module specifier reachable from `entry` through relative imports (type-only ones included). */
    function reachable(entry: string): Set<string> {
      const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
      const seen = new Set<string>();
      const external = new Set<string>();
      const visit = (file: string): void => {
        if (seen.has(file)) return;
        seen.add(file);
        const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
        for (const { fileName } of info.importedFiles) {
          if (!fileName.startsWith('.')) external.add(fileName);
          else visit(resolve(dirname(file), fileName).replace(/\.js$/, '.ts'));
        }
      };
      visit(join(root, entry));
      return external;
    }

    it("index.ts reaches no prom-client import; metrics.ts does", function () {
      const main = reachable('index.ts');
      expect(main.size, 'the walk found the main entry point’s imports').to.be.greaterThan(3);
      expect([...main].filter((s) => s.startsWith('prom-client'))).to.deep.equal([]);
      expect(reachable('metrics.ts')).to.include('prom-client');
    });

    it('package.json exports ./metrics like ./redis, and the builds and API docs include metrics.ts', function () {
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
      expect(pkg.exports['./metrics']).to.deep.equal({
        import: { types: './dist/esm/metrics.d.ts', default: './dist/esm/metrics.js' },
        require: { types: './dist/cjs/metrics.d.ts', default: './dist/cjs/metrics.js' },
      });
      expect(pkg.peerDependenciesMeta['prom-client']).to.deep.equal({ optional: true });
      for (const file of ['tsconfig.json', 'tsconfig.build.json']) expect(JSON.parse(readFileSync(join(root, file), 'utf8')).include, file).to.include('metrics.ts');
      expect(JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')).entryPoints).to.include('metrics.ts');
    });
  });
});
