/**
 * `close()` stops what the server started: after closing a BayeuxServer (memory engine, and
 * the Redis engine against a real redis-server) no timer, socket or other handle of its own
 * is left. Handles that keep the process alive are counted by type with
 * `process.getActiveResourcesInfo()` before the server is created and after it is closed;
 * what mocha and the spec's helpers hold is in both counts, so only the server's own
 * leftovers show as a difference. The server's timers are unref'd (they never keep the
 * process alive, so that count misses them): an async hook records each timer created from
 * the package's own source while the test runs, and after close() none may still be armed.
 */
import { createHook } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { BayeuxServer, type BayeuxServerOptions } from '../index.js';
import { redisEngine } from '../redis.js';
import { RawServer } from './support/raw-client.js';
import { RedisServer, freePort, stopAllRedisServers } from './support/redis-server.js';
import { waitUntil } from './support/wait.js';

type Counts = Map<string, number>;

/** The checkout root: frames under it, outside node_modules and spec/, are the package's own. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function ownFrame(stack: string): string | undefined {
  return stack
    .split('\n')
    .find((line) => line.includes(ROOT) && !line.includes('/node_modules/') && !line.includes(`${ROOT}spec/`))
    ?.trim();
}

/**
 * Timers (setTimeout / setInterval) created by the package's own code while enabled, until
 * they fire for the last time or are cleared (the hook's destroy).
 */
class OwnTimers {
  private readonly alive = new Map<number, string>();
  private readonly hook = createHook({
    init: (id, type) => {
      if (type !== 'Timeout') return;
      const frame = ownFrame(new Error().stack ?? '');
      if (frame) this.alive.set(id, frame);
    },
    destroy: (id) => void this.alive.delete(id),
  });
  start(): this {
    this.hook.enable();
    return this;
  }
  stop(): void {
    this.hook.disable();
  }
  /** Where each still-armed timer was created. */
  armed(): string[] {
    return [...this.alive.values()];
  }
}

let timers: OwnTimers | undefined;

/**
 * The baseline, taken a turn after the test starts: mocha arms the test's own timeout timer
 * just after calling the test function, so a count taken at once would miss it.
 */
async function baseline(): Promise<Counts> {
  timers = new OwnTimers().start();
  await new Promise((resolve) => setImmediate(resolve));
  return activeResources();
}

function activeResources(): Counts {
  const counts: Counts = new Map();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** Handle types with more alive now than in `before` (what was left behind). */
function leftOver(before: Counts): string[] {
  const extra: string[] = [];
  for (const [type, n] of activeResources()) {
    const was = before.get(type) ?? 0;
    if (n > was) extra.push(`${type} ×${n - was}`);
  }
  return extra;
}

/**
 * Sockets close a turn or more after `close()` resolves, and the spec's own client
 * connections linger until the peer's FIN arrives: wait, bounded, for the counts to come
 * back, then assert (the message names what is still there).
 */
async function expectNoneLeft(before: Counts, timersSettleMs = 0): Promise<void> {
  // Timers first, by default without waiting: close() clears them itself, and a wait would
  // let a forgotten short timer fire (and so vanish) before the check. With HTTP in the
  // picture, two kinds end a little later on their own: the transports' shared deadline
  // sweep (one interval per process, which stops at its next 100 ms tick once idle) and
  // the socket timers of connections still closing. An interval or a long timeout left by
  // close() is still caught: it does not go away by itself.
  const t = timers!;
  await new Promise((resolve) => setImmediate(resolve));
  if (timersSettleMs > 0) await waitUntil(() => t.armed().length === 0, 'the timers to end', timersSettleMs).catch(() => undefined);
  expect(t.armed(), 'timers of the package still armed after close()').to.deep.equal([]);
  await waitUntil(() => leftOver(before).length === 0, 'the handles to close', 5000).catch(() => undefined);
  expect(leftOver(before), 'handles left after close()').to.deep.equal([]);
}

/** A server behind HTTP closed while a client's connect is held: nothing of it is left. */
async function closeWithHeldConnect(options: BayeuxServerOptions): Promise<void> {
  const before = await baseline();
  const server = await RawServer.start({ timeout: 10_000, ...options });
  const c = await server.connectedClient();
  const held = c.connect().catch(() => undefined);
  await waitUntil(() => server.bayeux.connects.get(c.clientId!) !== undefined, 'the connect to be held');
  await exercise(server.bayeux);
  await server.close();
  await held;
  await expectNoneLeft(before, 1000);
}

/** Some traffic through a server: a local client subscribes and publishes to itself. */
async function exercise(bayeux: BayeuxServer): Promise<void> {
  const local = await bayeux.localClient();
  let resolve!: (data: unknown) => void;
  const got = new Promise<unknown>((r) => (resolve = r));
  await local.subscribe('/leak/check', (m) => resolve(m.data));
  await local.publish('/leak/check', 1);
  expect(await got).to.equal(1);
}

describe('close() leaves no handle', function () {
  this.timeout(30_000);
  afterEach(function () {
    timers?.stop();
    timers = undefined;
  });

  it('the check sees the handles of a server not yet closed (it would catch a leak)', async function () {
    const before = await baseline();
    const bayeux = new BayeuxServer();
    await exercise(bayeux);
    try {
      expect(timers!.armed().join('\n'), 'the open server holds its sweep timer').to.include('memory-engine.ts');
    } finally {
      await bayeux.close();
    }
    await expectNoneLeft(before);
  });

  describe('memory engine', function () {
    it('a BayeuxServer with a local client, subscribed and published', async function () {
      const before = await baseline();
      const bayeux = new BayeuxServer();
      await exercise(bayeux);
      await bayeux.close();
      await expectNoneLeft(before);
    });

    it('a server behind HTTP with a connect held at close', async function () {
      await closeWithHeldConnect({});
    });
  });

  describe('redis engine', function () {
    let redis: RedisServer;
    before(async function () {
      redis = await RedisServer.start();
    });
    after(async function () {
      await stopAllRedisServers();
    });

    it('a BayeuxServer on a real redis-server, subscribed and published', async function () {
      // Taken with redis-server already running: its child process and pipes are the spec's.
      const before = await baseline();
      const bayeux = new BayeuxServer({ engine: redisEngine({ url: redis.url, prefix: `leak${process.pid}` }) });
      await exercise(bayeux);
      await bayeux.close();
      await expectNoneLeft(before);
    });

    it('a BayeuxServer closed while its engine is still connecting to a Redis that is not there', async function () {
      const before = await baseline();
      const port = await freePort();
      const bayeux = new BayeuxServer({ engine: redisEngine({ url: `redis://127.0.0.1:${port}`, prefix: `leakd${process.pid}` }) });
      await bayeux.close();
      await expectNoneLeft(before);
      // Nor armed later by the connection attempt that close() cut short.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(timers!.armed(), 'timers armed after close()').to.deep.equal([]);
      expect(leftOver(before), 'handles left after close()').to.deep.equal([]);
    });

    it('a server behind HTTP on a real redis-server, with a connect held at close', async function () {
      await closeWithHeldConnect({ engine: redisEngine({ url: redis.url, prefix: `leakh${process.pid}` }) });
    });
  });
});
