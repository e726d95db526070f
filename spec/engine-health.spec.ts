/**
 * Engine health, against a real redis-server behind a link that can be cut
 * (spec/support/outage-proxy.ts): the server says when the engine's store goes away and
 * when it comes back — `engineDown` and one `error` per outage (not one per failing
 * request), `engineUp` once when it ends, `engineStatus` for a readiness probe — and an app
 * that publishes on a timer with the documented `.catch` runs through it all. The memory
 * engine is always up and reports nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { BayeuxServer, EngineUnavailableError, createHandler, type BayeuxServerOptions } from '../index.js';
import { redisEngine } from '../redis.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { RawServer, expectBatch, nextEvent, request, type WireMessage } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { waitUntil, withTimeout } from './support/wait.js';

let redis: RedisServer;
let prefixes = 0;
const nextPrefix = (): string => `h${process.pid}x${++prefixes}`;

/** How long Redis may take to be seen again after the link is restored (ioredis retries every ≤ 1 s). */
const BACK_MS = 15_000;

/** The health events and `error`s a server emitted, in order. */
interface HealthLog {
  events: ('down' | 'up')[];
  errors: unknown[];
}

function watch(bayeux: BayeuxServer): HealthLog {
  const log: HealthLog = { events: [], errors: [] };
  bayeux.on('engineDown', () => log.events.push('down'));
  bayeux.on('engineUp', () => log.events.push('up'));
  bayeux.on('error', (err) => log.errors.push(err));
  return log;
}

/**
 * Mounts an existing server on node:http (127.0.0.1, /cometd). The server is made by the
 * spec, so its listeners are in place before the engine can report anything.
 */
async function serve(bayeux: BayeuxServer): Promise<{ url: string; close(): Promise<void> }> {
  const handle = createHandler(bayeux, { path: '/cometd' });
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cometd`,
    async close() {
      await bayeux.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function post(url: string, messages: object[]): Promise<WireMessage[]> {
  return expectBatch(await request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(messages) }));
}

const HANDSHAKE = { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] };

function connect(url: string, clientId: string): Promise<WireMessage[]> {
  return post(url, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
}

/** Sends a connect for each session and waits until the server holds them all; returns their answers to come. */
async function holdAll(bayeux: BayeuxServer, url: string, ids: string[]): Promise<Promise<WireMessage[]>[]> {
  const answers = ids.map((id) => connect(url, id));
  await waitUntil(() => ids.every((id) => bayeux.connects.get(id) !== undefined), `${ids.length} held connects`, 10_000);
  return answers;
}

describe('engine health', function () {
  this.timeout(60_000);

  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  before(async function () {
    redis = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });
  beforeEach(function () {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async function () {
    process.off('unhandledRejection', onUnhandled);
    await closeAllProxies();
  });

  it('the memory engine is up from the start and reports no health events', async function () {
    const raw = await RawServer.start();
    const log = watch(raw.bayeux);
    try {
      expect(raw.bayeux.engineStatus).to.equal('up');
      const client = await raw.connectedClient();
      await client.mustSubscribe('/mem/x');
      expect(await raw.bayeux.publish('/mem/x', 1)).to.equal(1);
      await raw.bayeux.ready();
      expect(raw.bayeux.engineStatus).to.equal('up');
      expect(raw.bayeux.lastEngineError).to.equal(null);
      expect(log).to.deep.equal({ events: [], errors: [] });
    } finally {
      await raw.close();
    }
  });

  it('Redis unreachable at start: down, one engineDown and one error while 50 requests fail; engineUp once when it is back', async function () {
    const link = await OutageProxy.start(redis.port);
    link.cut();
    const bayeux = new BayeuxServer({ engine: redisEngine({ url: `redis://127.0.0.1:${link.port}`, prefix: nextPrefix() }) });
    const log = watch(bayeux);
    // An app extension that reads engine state for each handshake reply: while Redis is
    // down every read fails, and each failure used to be an `error` event of its own.
    bayeux.addExtension({
      async outgoing(message) {
        if (message.channel === '/meta/handshake') message.ext = { online: await bayeux.sessionCount() };
        return message;
      },
    });
    const app = await serve(bayeux);
    try {
      await bayeux.ready();
      expect(bayeux.engineStatus, 'status once the engine gave up connecting').to.equal('down');
      const replies = await Promise.all(Array.from({ length: 50 }, () => post(app.url, [HANDSHAKE])));
      expect(new Set(replies.map((r) => r[0]!.error)), 'every handshake refused as unavailable').to.deep.equal(new Set(['503::engine_unavailable']));
      expect(log.events, 'health events while down').to.deep.equal(['down']);
      expect(log.errors, 'error events for the outage and its 50 failed requests').to.have.length(1);
      expect(log.errors[0]).to.be.instanceOf(EngineUnavailableError);
      expect(bayeux.lastEngineError, 'the outage cause').to.equal(log.errors[0]);

      const up = nextEvent(bayeux, 'engineUp', BACK_MS);
      link.restore();
      await up;
      expect(bayeux.engineStatus).to.equal('up');
      const [reply] = await post(app.url, [HANDSHAKE]);
      expect(reply).to.deep.include({ successful: true });
      expect(reply!.ext, 'the extension reads the engine again').to.deep.equal({ online: 1 });
      expect(log.events).to.deep.equal(['down', 'up']);
      expect(log.errors).to.have.length(1);
    } finally {
      await app.close();
    }
  });

  it('two outages give two pairs of events and two errors, not one per failing held connect; an app publishing every 100 ms with .catch runs throughout', async function () {
    const link = await OutageProxy.start(redis.port);
    const options: BayeuxServerOptions = { engine: redisEngine({ url: `redis://127.0.0.1:${link.port}`, prefix: nextPrefix() }), timeout: 1000 };
    const bayeux = new BayeuxServer(options);
    const log = watch(bayeux);
    const app = await serve(bayeux);
    // The app code of the README and the guide: a publish on a timer, its rejection handled.
    let published = 0;
    let failed = 0;
    const timer = setInterval(() => {
      bayeux
        .publish('/ticks', { at: Date.now() })
        .then(() => void published++)
        .catch(() => void failed++);
    }, 100);
    try {
      await bayeux.ready();
      expect(bayeux.engineStatus).to.equal('up');
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const [hs] = await post(app.url, [HANDSHAKE]);
        ids.push(hs!.clientId as string);
        await connect(app.url, ids[i]!); // the first connect is answered at once
      }
      await waitUntil(() => published > 0, 'the app to publish', 5000);
      expect(log.events, 'nothing to report while Redis is up').to.deep.equal([]);

      for (const outage of [1, 2]) {
        const held = await holdAll(bayeux, app.url, ids);
        const down = nextEvent(bayeux, 'engineDown', 10_000);
        link.cut();
        const [cause] = await down;
        expect(cause, `outage ${outage}: the cause`).to.be.instanceOf(EngineUnavailableError);
        expect(bayeux.engineStatus).to.equal('down');
        // Every held connect times out while Redis is away: the engine call that ends it
        // fails, and the client is answered all the same.
        const answers = await withTimeout(Promise.all(held), `outage ${outage}: the 50 held connects answered`, 15_000);
        for (const a of answers) expect(a.find((m) => m.channel === '/meta/connect'), JSON.stringify(a)).to.deep.include({ successful: true });
        const failedBefore = failed;
        await waitUntil(() => failed > failedBefore, `outage ${outage}: app publishes failing`, 5000);
        expect(log.errors, `outage ${outage}: one error so far per outage`).to.have.length(outage);
        expect(log.errors[outage - 1]).to.equal(cause);

        const up = nextEvent(bayeux, 'engineUp', BACK_MS);
        link.restore();
        await up;
        expect(bayeux.engineStatus).to.equal('up');
        const publishedBefore = published;
        await waitUntil(() => published > publishedBefore, `outage ${outage}: app publishes succeeding again`, 5000);
      }

      expect(log.events).to.deep.equal(['down', 'up', 'down', 'up']);
      expect(log.errors, 'one error per outage').to.have.length(2);
      expect(log.errors.every((e) => e instanceof EngineUnavailableError)).to.equal(true);
      expect(bayeux.lastEngineError).to.equal(log.errors[1]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled, 'unhandled rejections').to.deep.equal([]);
    } finally {
      clearInterval(timer);
      await app.close();
    }
  });
});
