/**
 * Scale-out on Redis, end to end: a real redis-server, three bayeux-server processes on
 * loopback (examples/scaling/server.ts, forked), and a round-robin relay that sends each
 * request to the next process — so one client's handshake, subscribe and long polls land
 * on different processes. The real CometD and Faye clients talk through the relay; app
 * code publishes in each process (over IPC).
 *
 * REDIS_CLUSTER_MESSAGES sets how many messages the load test sends (default 10,000).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { AckExtension } from 'cometd';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { ClusterNode, RoundRobinRelay, stopCluster } from './support/cluster.js';
import { FayeClient, closeAllFayeClients } from './support/faye-client.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { Inbox, waitUntil } from './support/wait.js';

const MESSAGES = Number(process.env.REDIS_CLUSTER_MESSAGES ?? 10_000);

interface Load {
  from: string;
  seq: number;
}

describe('several processes on one Redis', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  let nodes: ClusterNode[];
  let relay: RoundRobinRelay;
  /** The processes reach Redis through this, so a spec can cut them off without losing Redis's data. */
  let redisLink: OutageProxy;
  let run = 0;

  before(async function () {
    redis = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });

  beforeEach(async function () {
    redisLink = await OutageProxy.start(redis.port);
    const env = { REDIS_URL: `redis://127.0.0.1:${redisLink.port}`, REDIS_PREFIX: `c${process.pid}x${++run}`, BAYEUX_TIMEOUT: '3000', REDIS_EVENTS: '1' };
    nodes = await Promise.all(['A', 'B', 'C'].map((name) => ClusterNode.start(name, env)));
    relay = await RoundRobinRelay.start(nodes.map((n) => n.port));
  });
  afterEach(async function () {
    await closeAllCometDClients();
    await closeAllFayeClients();
    await stopCluster();
    await closeAllProxies();
  });

  it('handshake, subscribe and long polls land on different processes; app publishes in each reach CometD and Faye, wildcards too', async function () {
    const cometd = new CometDClient(relay.url);
    const cometdGot = new Inbox<{ channel: string; data: unknown }>();
    await cometd.handshake();
    await cometd.subscribe('/chat/*', (m) => cometdGot.push({ channel: m.channel, data: m.data }));
    const faye = new FayeClient(relay.url);
    const fayeGot = new Inbox<{ channel: string; data: unknown }>();
    await faye.subscribe('/chat/**', (m) => fayeGot.push(m));

    for (const n of nodes) expect(await n.publish('/chat/room', { from: n.name })).to.equal(2);
    expect(await nodes[1]!.publish('/chat/deep/x', { from: 'B', deep: true })).to.equal(1);
    expect(await nodes[2]!.publish('/chat/end', { from: 'C' })).to.equal(2);

    await cometdGot.until((m) => m.channel === '/chat/end', 'CometD to get /chat/end');
    await fayeGot.until((m) => m.channel === '/chat/end', 'Faye to get /chat/end');
    const rooms = (got: Inbox<{ channel: string; data: unknown }>) =>
      got.items.filter((m) => m.channel === '/chat/room').map((m) => (m.data as { from: string }).from).sort();
    expect(rooms(cometdGot)).to.deep.equal(['A', 'B', 'C']);
    expect(rooms(fayeGot)).to.deep.equal(['A', 'B', 'C']);
    expect(cometdGot.items.some((m) => m.channel === '/chat/deep/x'), '/chat/* does not match /chat/deep/x').to.equal(false);
    expect(fayeGot.items.filter((m) => m.channel === '/chat/deep/x')).to.have.length(1);
    expect(cometd.wire.items).to.have.length(4);
    expect(faye.wire.items).to.have.length(5);

    // Where each client's requests went: handshake and subscribe on different processes,
    // long polls on all three.
    const id = cometd.clientId!;
    const handshakeAt = relay.requestsOn('/meta/handshake')[0]!.target;
    const subscribeAt = relay.log.find((r) => r.channels.includes('/meta/subscribe') && r.clientIds.includes(id))!.target;
    expect(subscribeAt, 'subscribe on another process than the handshake').to.not.equal(handshakeAt);
    for (const who of [id, faye.clientId!]) {
      const polls = () => new Set(relay.log.filter((r) => r.channels.includes('/meta/connect') && r.clientIds.includes(who)).map((r) => r.target));
      // Held connects return every 3 s (the processes' timeout) and go to the next process.
      await waitUntil(() => polls().size === 3, `the connects of ${who} to reach all three processes (so far ${[...polls()]})`, 15_000, 50);
    }
  });

  it('cluster events: every process sees a session that handshook on B, its subscriptions and its removal', async function () {
    const cometd = new CometDClient(`http://127.0.0.1:${nodes[1]!.port}/cometd`);
    await cometd.handshake();
    const id = cometd.clientId!;
    await cometd.subscribe('/presence/room', () => {});
    await cometd.unsubscribe(await cometd.subscribe('/presence/other', () => {}));
    await cometd.disconnect();
    for (const n of nodes) {
      await n.events.until((e) => e.clientId === id && e.event === 'sessionRemoved', `${n.name} to see the removal`);
      expect(n.events.items.filter((e) => e.clientId === id), `events seen by ${n.name}`).to.deep.equal([
        { event: 'sessionAdded', clientId: id },
        { event: 'subscribe', clientId: id, detail: '/presence/room' },
        { event: 'subscribe', clientId: id, detail: '/presence/other' },
        { event: 'unsubscribe', clientId: id, detail: '/presence/other' },
        { event: 'sessionRemoved', clientId: id, detail: 'disconnect' },
      ]);
    }
  });

  it('a client publish through one process reaches clients polling on the others', async function () {
    const cometd = new CometDClient(relay.url);
    const faye = new FayeClient(relay.url);
    const cometdGot = new Inbox<unknown>();
    const fayeGot = new Inbox<unknown>();
    await cometd.handshake();
    await cometd.subscribe('/talk', (m) => cometdGot.push(m.data));
    await faye.subscribe('/talk', (m) => fayeGot.push(m.data));
    for (let i = 0; i < 3; i++) {
      await faye.publish('/talk', { by: 'faye', i });
      await cometd.publish('/talk', { by: 'cometd', i });
    }
    // broadcastToPublisher is on by default: each client also gets its own messages.
    await cometdGot.atLeast(6, 'CometD to get all six');
    await fayeGot.atLeast(6, 'Faye to get all six');
    expect(cometdGot.items).to.have.deep.members(fayeGot.items);
  });

  it(`${MESSAGES} messages published from three processes reach CometD and Faye, none lost or duplicated, each publisher's in order`, async function () {
    const cometd = new CometDClient(relay.url);
    const faye = new FayeClient(relay.url);
    const cometdGot: Load[] = [];
    const fayeGot: Load[] = [];
    await cometd.handshake();
    await cometd.subscribe('/load/*', (m) => cometdGot.push(m.data as Load));
    await faye.subscribe('/load/*', (m) => fayeGot.push(m.data as Load));
    const per = Math.ceil(MESSAGES / nodes.length);
    const counts = nodes.map((_, i) => Math.min(per, MESSAGES - i * per));
    const started = Date.now();
    const results = await Promise.all(nodes.map((n, i) => n.publishMany(`/load/${n.name}`, n.name, counts[i]!)));
    expect(results.map((r) => r.failed)).to.deep.equal([0, 0, 0]);
    await waitUntil(() => cometdGot.length >= MESSAGES && fayeGot.length >= MESSAGES, `all ${MESSAGES} messages (CometD ${cometdGot.length}, Faye ${fayeGot.length})`, 90_000, 50);
    const took = Date.now() - started;
    for (const [who, got] of [['CometD', cometdGot], ['Faye', fayeGot]] as const) {
      expect(got, who).to.have.length(MESSAGES);
      const keys = new Set(got.map((m) => `${m.from}:${m.seq}`));
      expect(keys.size, `${who}: distinct messages`).to.equal(MESSAGES);
      // Every message of every publisher, once, in the order that publisher sent them (its
      // connects land on another process each time: a hold there owns the mail).
      for (const [i, n] of nodes.entries()) {
        const seqs = got.filter((m) => m.from === n.name).map((m) => m.seq);
        expect(seqs, `${who}: messages from ${n.name}, in order`).to.deep.equal(Array.from({ length: counts[i]! }, (_, k) => k));
      }
    }
    console.log(`      (${MESSAGES} messages to 2 clients through 3 processes in ${took} ms)`);
  });

  it('SIGKILL of the process holding the clients\' long polls: they continue on the others', async function () {
    const cometd = new CometDClient(relay.url);
    const faye = new FayeClient(relay.url);
    const cometdGot = new Inbox<number>();
    const fayeGot = new Inbox<number>();
    await cometd.handshake();
    await cometd.subscribe('/kill/x', (m) => cometdGot.push((m.data as { i: number }).i));
    await faye.subscribe('/kill/x', (m) => fayeGot.push((m.data as { i: number }).i));
    // Wait until both clients have a long poll in flight, and kill the process holding CometD's.
    const pending = (who: string) =>
      relay.log.filter((r) => r.status === 0 && r.channels.includes('/meta/connect') && r.clientIds.includes(who));
    await waitUntil(() => pending(cometd.clientId!).length > 0 && pending(faye.clientId!).length > 0, 'both clients to hold a long poll');
    const victim = nodes[pending(cometd.clientId!)[0]!.target]!;
    await victim.kill();
    const survivors = nodes.filter((n) => n !== victim);
    for (let i = 0; i < 20; i++) await survivors[i % 2]!.publish('/kill/x', { i });
    await cometdGot.atLeast(20, 'CometD to get all 20 after the kill', 15_000);
    await fayeGot.atLeast(20, 'Faye to get all 20 after the kill', 15_000);
    expect([...cometdGot.items].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect([...fayeGot.items].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(cometd.handshakes.length, 'CometD kept its session').to.equal(1);
    expect(faye.handshakes.length, 'Faye kept its session').to.equal(1);
  });

  it('with the ack extension, mail lost with a killed process is sent again by another', async function () {
    const cometd = new CometDClient(relay.url);
    cometd.cometd.registerExtension('ack', new AckExtension());
    const got: number[] = [];
    await cometd.handshake();
    expect(cometd.handshakes.items[0]!.ext, 'the server agreed to ack').to.deep.equal({ ack: true });
    await cometd.subscribe('/acked/x', (m) => got.push((m.data as { i: number }).i));
    let i = 0;
    const publishNext = () => nodes[1 + (i % 2)]!.publish('/acked/x', { i: i++ });
    // A's response carrying mail is lost on the way, and A dies: only Redis has the mail now.
    relay.dropWhen = (target, body) => target === 0 && body.includes('"/acked/x"');
    await waitUntil(
      async () => {
        if (relay.dropped > 0) return true;
        await publishNext();
        return false;
      },
      'a response with mail to be lost on its way from A',
      15_000,
      50,
    );
    await nodes[0]!.kill();
    relay.dropWhen = null;
    for (let k = 0; k < 20; k++) await publishNext();
    await waitUntil(() => new Set(got).size === i, `all ${i} messages`, 15_000, 20);
    expect([...got].sort((a, b) => a - b), 'each message once').to.deep.equal(Array.from({ length: i }, (_, k) => k));
    expect(cometd.handshakes.length, 'CometD kept its session').to.equal(1);
  });

  it('Redis unreachable for a few seconds under load: clients get retry advice, no process crashes, traffic resumes', async function () {
    const cometd = new CometDClient(relay.url);
    const faye = new FayeClient(relay.url);
    const cometdGot = new Inbox<number>();
    const fayeGot = new Inbox<number>();
    const refusals: { error: unknown; advice: unknown }[] = [];
    cometd.cometd.addListener('/meta/connect', (m) => {
      if (!m.successful && typeof m.error === 'string') refusals.push({ error: m.error, advice: m.advice });
    });
    await cometd.handshake();
    await cometd.subscribe('/out/x', (m) => cometdGot.push((m.data as { i: number }).i));
    await faye.subscribe('/out/x', (m) => fayeGot.push((m.data as { i: number }).i));

    // Load: every process publishes in turn, all along.
    let i = 0;
    let failedPublishes = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        const n = nodes[i % 3]!;
        try {
          await n.publish('/out/x', { i: i++ });
        } catch {
          failedPublishes++;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      await cometdGot.atLeast(10, 'traffic before the outage');
      redisLink.cut();
      const cutAt = Date.now();
      await waitUntil(() => refusals.length > 0, 'a connect refused while Redis is unreachable', 15_000, 20);
      expect(refusals[0]!.error).to.equal('503::engine_unavailable');
      expect(refusals[0]!.advice).to.deep.include({ reconnect: 'retry' });
      await new Promise((r) => setTimeout(r, Math.max(0, 2000 - (Date.now() - cutAt)))); // a few seconds down
      expect(failedPublishes, 'app publishes fail while Redis is unreachable').to.be.above(0);
      redisLink.restore();
      const resumedFrom = i;
      await cometdGot.until((v) => v >= resumedFrom + 10, 'CometD traffic after Redis is back', 20_000);
      await fayeGot.until((v) => v >= resumedFrom + 10, 'Faye traffic after Redis is back', 20_000);
    } finally {
      loading = false;
      await load;
    }
    expect(nodes.every((n) => n.alive), 'every process still running').to.equal(true);
    expect(cometd.handshakes.length, 'CometD kept its session').to.equal(1);
    expect(faye.handshakes.length, 'Faye kept its session').to.equal(1);
    for (const got of [cometdGot, fayeGot]) expect(new Set(got.items).size, 'no duplicates').to.equal(got.length);
  });

  it('Redis unreachable under a flood of requests: every request is answered, memory stays bounded', async function () {
    // A session made before the outage, so connects and publishes reach the engine too.
    const hs = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
    const clientId = hs[0]!.clientId as string;
    const batches = [
      [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }],
      [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }],
      [{ channel: '/flood/x', clientId, data: { pad: 'x'.repeat(2000) } }],
    ];
    const rss = (): number[] => nodes.map((n) => residentBytes(n.pid));
    const base = rss();
    redisLink.cut();
    const errors = new Map<string, number>();
    const peaks = [base.slice(), base.slice()];
    const WAVE = 1500;
    for (const peak of peaks) {
      let sent = 0;
      // 50 requests in flight at a time; each must be answered (the relay's fetch would hang otherwise).
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (sent < WAVE) {
            const batch = batches[sent++ % batches.length]!;
            const reply = (await post(batch))[0]!;
            const key = reply.successful === true ? 'successful' : String(reply.error);
            errors.set(key, (errors.get(key) ?? 0) + 1);
            rss().forEach((v, i) => (peak[i] = Math.max(peak[i]!, v)));
          }
        }),
      );
    }
    redisLink.restore();
    const mb = (v: number): string => (v / 2 ** 20).toFixed(1);
    console.log(`      RSS per process (MB): before ${base.map(mb).join(', ')}; peak in the 1st wave ${peaks[0]!.map(mb).join(', ')}; in the 2nd ${peaks[1]!.map(mb).join(', ')}`);
    expect([...errors.keys()], 'every answer during the outage is engine_unavailable').to.deep.equal(['503::engine_unavailable']);
    expect(errors.get('503::engine_unavailable')).to.equal(2 * WAVE);
    for (let i = 0; i < nodes.length; i++) {
      expect(peaks[0]![i]! - base[i]!, `process ${nodes[i]!.name}: growth in the first ${WAVE} requests`).to.be.below(96 * 2 ** 20);
      // No accumulation: a second wave as large as the first does not need much more.
      expect(peaks[1]![i]! - peaks[0]![i]!, `process ${nodes[i]!.name}: growth in the second ${WAVE} requests`).to.be.below(24 * 2 ** 20);
    }
    // And the session made before the outage carries on.
    await waitUntil(async () => (await post([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]))[0]!.successful === true, 'connects succeed again once Redis is back', 15_000, 100);
    expect(nodes.every((n) => n.alive), 'every process still running').to.equal(true);
  });

  async function post(batch: object[]): Promise<Record<string, unknown>[]> {
    const r = await fetch(relay.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
    return (await r.json()) as Record<string, unknown>[];
  }
});

/** Resident memory of a process, from /proc (bytes). */
function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}
