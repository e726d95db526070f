/**
 * Abuse limits on handshakes (`maxSessionsPerAddress`, `maxHandshakesPerSecondPerAddress`,
 * `maxSessions`, `clientAddress`): off by default; beyond a limit a handshake gets a Bayeux
 * error with advice to handshake again later, and the real CometD client does so and gets
 * in once a slot is free; slots free when sessions end (disconnect, expiry, server-side
 * disconnect, and, with Redis, removal by another process); X-Forwarded-For counts only
 * through a `clientAddress` function; in-process clients are never limited; options are
 * validated.
 *
 * The rate is counted in one-second windows of the server's clock. The specs do not assume
 * a burst fits in one window (a loaded machine may spread it): they bound the successes by
 * the windows the burst spanned, and wait for the advised interval before trying again.
 */
import { expect } from 'chai';
import type { Message as CometDMessage } from 'cometd';
import { BayeuxServer, type BayeuxServerOptions, type Message, type RequestContext } from '../index.js';
import { redisEngine } from '../redis.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { RawServer, nextEvent, type WireMessage } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { Inbox, waitUntil } from './support/wait.js';

const HANDSHAKE = { channel: '/meta/handshake', version: '1.0', minimumVersion: '1.0', supportedConnectionTypes: ['long-polling'] };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The last address of an X-Forwarded-For header: the one the proxy in front of us appended. */
function lastForwarded(request: RequestContext): string | undefined {
  const h = request.headers['x-forwarded-for'];
  const value = Array.isArray(h) ? h.join(',') : h;
  return value?.split(',').pop()?.trim() || undefined;
}

/** One handshake over raw HTTP, optionally with an X-Forwarded-For header; the reply, refused or not. */
async function handshake(server: RawServer, forwardedFor?: string, extra: Record<string, unknown> = {}): Promise<WireMessage> {
  const init = forwardedFor === undefined ? {} : { headers: { 'X-Forwarded-For': forwardedFor } };
  const [reply] = await server.send([{ ...HANDSHAKE, id: 'h', ...extra }], init);
  return reply!;
}

async function disconnect(server: RawServer, clientId: unknown): Promise<void> {
  const [reply] = await server.send([{ channel: '/meta/disconnect', clientId, id: 'd' }]);
  expect(reply).to.include({ successful: true });
}

describe('abuse limits', function () {
  this.timeout(20_000);
  let server: RawServer;
  const others: RawServer[] = [];

  async function start(options: BayeuxServerOptions = {}): Promise<RawServer> {
    server = await RawServer.start({ timeout: 2000, ...options });
    return server;
  }

  afterEach(async function () {
    await closeAllCometDClients();
    await server?.close();
    await Promise.all(others.splice(0).map((s) => s.close()));
  });

  it('are off by default: many handshakes at once from one address all succeed', async function () {
    await start();
    const replies = await Promise.all(Array.from({ length: 60 }, () => handshake(server)));
    expect(replies.filter((r) => r.successful === true)).to.have.length(60);
    expect(new Set(replies.map((r) => r.clientId)).size).to.equal(60);
  });

  describe('maxSessionsPerAddress', function () {
    it('refuses a handshake beyond the limit with 429 and advice to handshake after the session expiry time', async function () {
      await start({ maxSessionsPerAddress: 2, maxInterval: 3000, interval: 500 });
      let handshakes = 0;
      server.bayeux.on('handshake', () => handshakes++);
      expect(await handshake(server)).to.include({ successful: true });
      expect(await handshake(server)).to.include({ successful: true });
      const refused = await handshake(server);
      expect(refused).to.deep.equal({
        id: 'h',
        channel: '/meta/handshake',
        successful: false,
        error: '429:2:too_many_sessions_from_address',
        advice: { reconnect: 'handshake', interval: 3500 },
      });
      expect(handshakes).to.equal(2);
      expect(await server.bayeux.sessionCount()).to.equal(2);
    });

    it('advises at most 60 s, however long sessions live', async function () {
      await start({ maxSessionsPerAddress: 1, maxInterval: 3_600_000 });
      await handshake(server);
      expect((await handshake(server)).advice).to.deep.equal({ reconnect: 'handshake', interval: 60_000 });
    });

    it('frees a slot when a session disconnects or is disconnected by the server', async function () {
      await start({ maxSessionsPerAddress: 1 });
      const a = await handshake(server);
      expect(await handshake(server)).to.include({ successful: false });
      await disconnect(server, a.clientId);
      const b = await handshake(server);
      expect(b).to.include({ successful: true });
      expect(await handshake(server)).to.include({ successful: false });
      expect(await server.bayeux.session(b.clientId as string).disconnect()).to.equal(true);
      expect(await handshake(server)).to.include({ successful: true });
    });

    it('frees a slot when a session expires', async function () {
      await start({ maxSessionsPerAddress: 1, maxInterval: 300, sweepInterval: 20 });
      // A session that never connects is removed interval + maxInterval after its handshake.
      const expired = nextEvent(server.bayeux, 'sessionRemoved', 5000);
      const a = await handshake(server);
      expect(a).to.include({ successful: true });
      expect(await expired).to.deep.equal([a.clientId, 'timeout']);
      expect(await handshake(server)).to.include({ successful: true });
    });

    it('lets no more than the limit through when handshakes arrive together', async function () {
      await start({ maxSessionsPerAddress: 3, policy: { canHandshake: () => sleep(5).then(() => true) } });
      const replies = await Promise.all(Array.from({ length: 12 }, () => handshake(server)));
      expect(replies.filter((r) => r.successful === true)).to.have.length(3);
      expect(replies.filter((r) => r.error === '429:3:too_many_sessions_from_address')).to.have.length(9);
    });

    it('counts no slot for a handshake the policy refuses', async function () {
      await start({ maxSessionsPerAddress: 1, policy: { canHandshake: (m: Message) => (m.ext as { ok?: boolean } | undefined)?.ok === true } });
      for (let i = 0; i < 3; i++) expect(await handshake(server)).to.include({ successful: false, error: '403::handshake_denied' });
      expect(await handshake(server, undefined, { ext: { ok: true } })).to.include({ successful: true });
      expect(await handshake(server, undefined, { ext: { ok: true } })).to.include({ error: '429:1:too_many_sessions_from_address' });
    });
  });

  describe('maxSessions', function () {
    it('refuses a handshake beyond the sessions of this process, whatever the address, with 503 and advice', async function () {
      await start({ maxSessions: 2, maxSessionsPerAddress: 5, clientAddress: lastForwarded, maxInterval: 2000 });
      const a = await handshake(server, '10.0.0.1');
      expect(a).to.include({ successful: true });
      expect(await handshake(server, '10.0.0.2')).to.include({ successful: true });
      const refused = await handshake(server, '10.0.0.3');
      expect(refused).to.include({ successful: false, error: '503:2:too_many_sessions' });
      expect(refused.advice).to.deep.equal({ reconnect: 'handshake', interval: 2000 });
      await disconnect(server, a.clientId);
      expect(await handshake(server, '10.0.0.3')).to.include({ successful: true });
    });
  });

  describe('maxHandshakesPerSecondPerAddress', function () {
    it('refuses a burst beyond the rate with 429 and the time to the next window, before asking the policy; allows again after it', async function () {
      let asked = 0;
      await start({ maxHandshakesPerSecondPerAddress: 2, policy: { canHandshake: () => ++asked > 0 } });
      const began = Date.now();
      const replies = await Promise.all(Array.from({ length: 20 }, () => handshake(server)));
      const ended = Date.now();
      const windows = Math.floor(ended / 1000) - Math.floor(began / 1000) + 1;
      const ok = replies.filter((r) => r.successful === true);
      const refused = replies.filter((r) => r.successful !== true);
      expect(ok.length).to.be.at.least(1).and.at.most(2 * windows);
      expect(refused.length).to.equal(20 - ok.length);
      for (const r of refused) {
        expect(r.error).to.equal('429:2:too_many_handshakes');
        const advice = r.advice as { reconnect: string; interval: number };
        expect(advice.reconnect).to.equal('handshake');
        expect(advice.interval).to.be.within(1, 1000);
      }
      // Throttled handshakes never reach the policy.
      expect(asked).to.equal(ok.length);
      // Once the last window of the burst is over, the address is let in again.
      await sleep(1000 - (ended % 1000) + 20);
      expect(await handshake(server)).to.include({ successful: true });
    });
  });

  describe('client address', function () {
    it('does not trust X-Forwarded-For by default: every request from one peer counts under its address', async function () {
      await start({ maxSessionsPerAddress: 1 });
      expect(await handshake(server, '10.0.0.1')).to.include({ successful: true });
      expect(await handshake(server, '10.0.0.2')).to.include({ successful: false, error: '429:1:too_many_sessions_from_address' });
    });

    it('counts per forwarded address with a clientAddress function; without the header, under the peer address', async function () {
      const seen: string[] = [];
      await start({
        maxSessionsPerAddress: 1,
        clientAddress: (request) => {
          seen.push(request.remoteAddress ?? '');
          return lastForwarded(request);
        },
      });
      expect(await handshake(server, '10.0.0.1')).to.include({ successful: true });
      expect(await handshake(server, '203.0.113.9, 10.0.0.1')).to.include({ successful: false });
      expect(await handshake(server, '10.0.0.2')).to.include({ successful: true });
      expect(await handshake(server)).to.include({ successful: true });
      expect(await handshake(server)).to.include({ successful: false });
      expect(seen).to.have.length(5);
      expect(seen[0]).to.match(/127\.0\.0\.1$/);
    });

    it('counts under the peer address when clientAddress throws, and reports the error', async function () {
      await start({
        maxSessionsPerAddress: 1,
        clientAddress: () => {
          throw new Error('bug in clientAddress');
        },
      });
      const errors: unknown[] = [];
      server.bayeux.on('error', (err) => errors.push(err));
      expect(await handshake(server, '10.0.0.1')).to.include({ successful: true });
      expect(await handshake(server, '10.0.0.2')).to.include({ successful: false, error: '429:1:too_many_sessions_from_address' });
      expect(errors.map((e) => (e as Error).message)).to.deep.equal(['bug in clientAddress', 'bug in clientAddress']);
    });
  });

  it('never limits nor counts in-process clients', async function () {
    await start({ maxSessionsPerAddress: 1, maxSessions: 1, maxHandshakesPerSecondPerAddress: 1 });
    const locals = [await server.bayeux.localClient(), await server.bayeux.localClient(), await server.bayeux.localClient()];
    expect(new Set(locals.map((l) => l.id)).size).to.equal(3);
    expect(await handshake(server)).to.include({ successful: true });
    await Promise.all(locals.map((l) => l.disconnect()));
  });

  it('the CometD client handshakes again after the advised interval and gets in once a slot frees', async function () {
    await start({ maxSessionsPerAddress: 1, maxInterval: 1000 });
    const first = new CometDClient(server.url);
    await first.handshake();
    const second = new CometDClient(server.url);
    const refusals = new Inbox<{ reply: CometDMessage; at: number }>();
    second.cometd.addListener('/meta/handshake', (m: CometDMessage) => {
      if (!m.successful) refusals.push({ reply: m, at: Date.now() });
    });
    void second.handshake(15_000).catch(() => undefined);
    const { reply, at } = await refusals.nth(0, 'the refused CometD handshake');
    expect(reply.error).to.equal('429:1:too_many_sessions_from_address');
    expect(reply.advice).to.deep.include({ reconnect: 'handshake', interval: 1000 });
    await first.disconnect();
    const accepted = await second.handshakes.nth(0, 'the CometD client handshaking again', 10_000);
    // The client waited the advised interval (plus its own back-off) before trying again.
    expect(Date.now() - at).to.be.at.least(990);
    expect(accepted.clientId).to.be.a('string');
    await second.connects.nth(0, 'the first connect of the admitted client');
  });

  describe('with the Redis engine (two processes, no cluster events)', function () {
    let redis: RedisServer;
    let prefixes = 0;

    before(async function () {
      redis = await RedisServer.start();
    });
    after(async function () {
      await stopAllRedisServers();
    });

    it('lets no more than the limit through when handshakes arrive together (the engine answers asynchronously)', async function () {
      await start({ engine: redisEngine({ url: redis.url, prefix: `abuse${process.pid}x${++prefixes}` }), maxSessionsPerAddress: 3 });
      await server.bayeux.ready();
      const replies = await Promise.all(Array.from({ length: 12 }, () => handshake(server)));
      expect(replies.filter((r) => r.successful === true)).to.have.length(3);
      expect(replies.filter((r) => r.error === '429:3:too_many_sessions_from_address')).to.have.length(9);
      expect(await server.bayeux.sessionCount()).to.equal(3);
    });

    it('finds a session removed by another process gone when the limit is reached', async function () {
      const prefix = `abuse${process.pid}x${++prefixes}`;
      await start({ engine: redisEngine({ url: redis.url, prefix }), maxSessionsPerAddress: 1, sweepInterval: 50 });
      const other = await RawServer.start({ engine: redisEngine({ url: redis.url, prefix }) });
      others.push(other);
      await Promise.all([server.bayeux.ready(), other.bayeux.ready()]);
      const a = await handshake(server);
      expect(a).to.include({ successful: true });
      expect(await handshake(server)).to.include({ successful: false, error: '429:1:too_many_sessions_from_address' });
      // The other process ends the session; this one holds no connect of it, so it is not told.
      await disconnect(other, a.clientId);
      let reply: WireMessage | undefined;
      await waitUntil(async () => (reply = await handshake(server)).successful === true, 'a handshake admitted after the check with Redis', 5000, 50);
      expect(reply!.clientId).to.be.a('string');
    });
  });

  it('validates the options', function () {
    const bad: BayeuxServerOptions[] = [
      { maxSessionsPerAddress: -1 },
      { maxSessionsPerAddress: 1.5 },
      { maxSessionsPerAddress: '3' as unknown as number },
      { maxHandshakesPerSecondPerAddress: -2 },
      { maxHandshakesPerSecondPerAddress: Number.POSITIVE_INFINITY },
      { maxSessions: Number.NaN },
      { maxSessions: -1 },
      { clientAddress: 'x-forwarded-for' as unknown as () => string },
      { clientAddress: 42 as unknown as () => string },
    ];
    for (const options of bad) {
      const name = Object.keys(options)[0]!;
      expect(() => new BayeuxServer(options), name).to.throw(TypeError, name).with.property('code', 'ERR_BAYEUX_INVALID_OPTION');
    }
    for (const good of [{ maxSessionsPerAddress: 0, maxSessions: 0, maxHandshakesPerSecondPerAddress: 0 }, { clientAddress: lastForwarded }]) {
      void new BayeuxServer(good).close();
    }
  });
});
