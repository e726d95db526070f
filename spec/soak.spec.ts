/**
 * Issue 13, the soak: sessions churn against a server in a child process (its heap measured
 * alone, spec/support/soak-server.ts) while a real CometD client observes one channel.
 *
 * Each churning session is raw HTTP on a keep-alive agent: it handshakes, makes its first
 * connect, subscribes, publishes (half of them to the observed channel, with a sequence
 * number), sometimes holds a second connect and walks away from it mid-hold, and vanishes
 * without a disconnect, so only the sweep can end it. Waves of {@link WAVE} sessions, at
 * most {@link CONCURRENCY} at a time, start sessions for {@link CHURN_MS}. Then the spec waits for the
 * sweep to leave only the observer and checks: every message published to the observed
 * channel reached the observer exactly once and in order per publisher; no request failed
 * or got a 5xx; the server's heap after GC is within 10 % of the baseline.
 */
import { expect } from 'chai';
import http from 'node:http';
import debugFactory from 'debug';
import type { Message } from 'cometd';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { SoakServer } from './support/soak-server.js';
import { Inbox, waitUntil } from './support/wait.js';

const debug = debugFactory('bayeux:spec:soak');

/** Sessions per wave (the 500 churning sessions). */
const WAVE = 500;
/** Sessions in flight at once. */
const CONCURRENCY = 50;
/** How long the churn runs: no session starts after it. */
const CHURN_MS = 45_000;
/** Time limit of one request we expect an answer to. */
const REQUEST_MS = 15_000;
const OBSERVED = '/soak/observed';
const PUBLISHES = 3;
/** Filler so each message costs some memory: a leak of them shows in the heap. */
const FILLER = 'x'.repeat(200);
/**
 * Short expiry so the sweep ends vanished sessions within seconds, yet long enough that a
 * session is never swept between its first connect and its last publish (only connects
 * restart its clock) on a loaded machine: a session that expired mid-way would get `402`.
 */
const SERVER_OPTIONS = { timeout: 3000, maxInterval: 5000, sweepInterval: 500 };

interface Tally {
  sessions: number;
  requests: number;
  /** Held connects we walked away from on purpose. */
  abandoned: number;
  /** Answers with a status >= 500. */
  status5xx: number;
  /** Everything else that went wrong: other statuses, network errors, unsuccessful replies. */
  failures: string[];
  /** Per publisher (its clientId): how many of its publishes to OBSERVED succeeded. */
  published: Map<string, number>;
}

function newTally(): Tally {
  return { sessions: 0, requests: 0, abandoned: 0, status5xx: 0, failures: [], published: new Map() };
}

type Msg = Record<string, unknown> & { channel: string };

/**
 * POSTs a batch. `abandonAfterMs` walks away from the request (destroys it) if no answer
 * came by then: resolves null in that case.
 */
function post(agent: http.Agent, port: number, messages: Msg[], tally: Tally, abandonAfterMs?: number): Promise<Msg[] | null> {
  tally.requests++;
  const body = JSON.stringify(messages);
  return new Promise((resolve) => {
    let settled = false;
    const done = (value: Msg[] | null, failure?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(limit);
      if (abandon) clearTimeout(abandon);
      if (failure !== undefined) tally.failures.push(`${messages[0]!.channel}: ${failure}`);
      resolve(value);
    };
    const req = http.request(
      { agent, host: '127.0.0.1', port, path: '/cometd', method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('error', (err) => done(null, `response error ${err.message}`));
        res.on('end', () => {
          if (settled) return;
          const status = res.statusCode ?? 0;
          if (status >= 500) tally.status5xx++;
          if (status !== 200) return done(null, `HTTP ${status}: ${text.slice(0, 200)}`);
          try {
            done(JSON.parse(text) as Msg[]);
          } catch {
            done(null, `not JSON: ${text.slice(0, 200)}`);
          }
        });
      },
    );
    const limit = setTimeout(() => {
      done(null, `no answer within ${REQUEST_MS} ms`);
      req.destroy();
    }, REQUEST_MS);
    const abandon =
      abandonAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            if (settled) return;
            tally.abandoned++;
            done(null);
            req.destroy();
          }, abandonAfterMs);
    req.on('error', (err) => done(null, `request error ${err.message}`));
    req.end(body);
  });
}

/** The reply on `channel` in `messages`, recorded as a failure unless it is successful. */
function successful(messages: Msg[] | null, channel: string, tally: Tally): Msg | undefined {
  if (messages === null) return undefined;
  const reply = messages.find((m) => m.channel === channel && 'successful' in m);
  if (reply?.successful === true) return reply;
  tally.failures.push(`${channel}: ${JSON.stringify(reply ?? messages).slice(0, 200)}`);
  return undefined;
}

/** One churning session, numbered `n`: what it does depends on n, so every wave is the same mix. */
async function churnSession(agent: http.Agent, port: number, n: number, tally: Tally): Promise<void> {
  tally.sessions++;
  const hs = successful(
    await post(agent, port, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }], tally),
    '/meta/handshake',
    tally,
  );
  const clientId = hs?.clientId as string | undefined;
  if (!clientId) return;
  const connect = (id: string): Msg[] => [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id }];
  // The first connect is answered at once; from then on the session's expiry clock runs.
  if (!successful(await post(agent, port, connect('2'), tally), '/meta/connect', tally)) return;
  // A third subscribe to everything, so their queues fill with mail nobody takes.
  const topic = `/soak/churn/${n % 8}`;
  const subscription = n % 3 === 0 ? '/soak/**' : topic;
  if (!successful(await post(agent, port, [{ channel: '/meta/subscribe', clientId, subscription, id: '3' }], tally), '/meta/subscribe', tally)) return;
  const observed = n % 2 === 0;
  for (let seq = 0; seq < PUBLISHES; seq++) {
    const channel = observed ? OBSERVED : topic;
    const replies = await post(agent, port, [{ channel, clientId, id: `p${seq}`, data: { from: clientId, seq, filler: FILLER } }], tally);
    // One at a time, so a publisher's messages are published in seq order.
    if (!successful(replies, channel, tally)) return;
    if (observed) tally.published.set(clientId, seq + 1);
  }
  // Two in five hold a connect and walk away from it mid-hold (before the 3 s timeout).
  if (n % 5 < 2) {
    const replies = await post(agent, port, connect('4'), tally, 100 + (n % 7) * 50);
    if (replies !== null) successful(replies, '/meta/connect', tally);
  }
  // …and then vanish: no disconnect.
}

/**
 * Runs `count` sessions numbered from `first`, at most CONCURRENCY at once; no session starts
 * after `deadline`, so a server slowed down (by a leak, say) cannot stretch the churn.
 */
async function wave(agent: http.Agent, port: number, first: number, count: number, tally: Tally, deadline = Infinity): Promise<void> {
  let next = first;
  const end = first + count;
  const worker = async (): Promise<void> => {
    while (next < end && Date.now() < deadline) await churnSession(agent, port, next++, tally);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

function newAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
}

const mb = (bytes: number): string => (bytes / 1048576).toFixed(2) + ' MB';

describe('soak: churning sessions (issue 13)', function () {
  // Start ~3 s, warm-up and its sweep ~8 s, churn 45 s, sweep ~6 s: about 1 min.
  this.timeout(120_000);

  let server: SoakServer | undefined;

  after(async () => {
    await closeAllCometDClients();
    await server?.stop();
  });

  it('loses no message to the observer, fails no request, and gives the memory back after the sweep', async () => {
    const started = Date.now();
    server = await SoakServer.start(SERVER_OPTIONS);
    const { port } = server;
    const onlyObserverLeft = async (what: string): Promise<void> =>
      waitUntil(async () => (await server!.sessions()) === 1, what, 20_000, 100);

    const observer = new CometDClient(server.url);
    await observer.handshake();
    const received = new Inbox<Message>();
    await observer.subscribe(OBSERVED, received.push);

    // The baseline is taken after a warm-up wave, once the sweep has removed its sessions:
    // the first wave leaves one-time allocations that are not per-session state (JIT code
    // and inline caches, the bounded channel-name caches, zod's and http's lazily built
    // structures). Measured before it, those would count as a leak; measured after it, any
    // growth is what the churn itself keeps.
    const warm = newTally();
    let agent = newAgent();
    await wave(agent, port, 0, WAVE, warm);
    agent.destroy();
    await onlyObserverLeft('the sweep to remove the warm-up sessions');
    const baseline = await server.gcAndMeasure();

    const tally = newTally();
    agent = newAgent();
    const churnStart = Date.now();
    let waves = 0;
    while (Date.now() - churnStart < CHURN_MS) {
      await wave(agent, port, WAVE * (waves + 1), WAVE, tally, churnStart + CHURN_MS);
      waves++;
    }
    const churnMs = Date.now() - churnStart;
    agent.destroy();
    await onlyObserverLeft('the sweep to remove every churning session');
    const after = await server.gcAndMeasure();

    // Every publish to OBSERVED that the server acknowledged must reach the observer.
    // A sentinel published last is queued for the observer after every churn message: once it
    // is in, a duplicate or a late copy would have been too.
    const expected = [...warm.published.values(), ...tally.published.values()].reduce((a, b) => a + b, 0);
    await observer.publish(OBSERVED, { sentinel: true });
    await received.until((m) => (m.data as { sentinel?: boolean }).sentinel === true, 'the sentinel', 20_000);
    const churned = received.items.filter((m) => (m.data as { sentinel?: boolean }).sentinel !== true);
    const perPublisher = new Map<string, number[]>();
    for (const m of churned) {
      const { from, seq } = m.data as { from: string; seq: number };
      const seqs = perPublisher.get(from) ?? [];
      seqs.push(seq);
      perPublisher.set(from, seqs);
    }
    const ratio = after.heapUsed / baseline.heapUsed;
    const summary = {
      waves,
      sessions: tally.sessions,
      requests: tally.requests,
      abandonedHolds: tally.abandoned,
      observed: churned.length,
      churnMs,
      totalMs: Date.now() - started,
      baselineHeap: mb(baseline.heapUsed),
      afterHeap: mb(after.heapUsed),
      ratio: ratio.toFixed(3),
      baselineRss: mb(baseline.rss),
      afterRss: mb(after.rss),
    };
    debug('%o', summary);
    if (process.env.SOAK_REPORT) console.log('soak:', JSON.stringify(summary));

    const failures = warm.failures.concat(tally.failures);
    expect(failures.length, `failed requests, first ones: ${JSON.stringify(failures.slice(0, 5))}`).to.equal(0);
    expect(warm.status5xx + tally.status5xx, '5xx answers').to.equal(0);
    expect(tally.sessions, 'churning sessions').to.be.at.least(WAVE);
    expect(churned.length, 'observed deliveries (exactly once)').to.equal(expected);
    const published = new Map([...warm.published, ...tally.published]);
    expect(perPublisher.size, 'observed publishers').to.equal(published.size);
    for (const [from, count] of published) {
      expect(perPublisher.get(from), `deliveries from ${from}, in order`).to.deep.equal(Array.from({ length: count }, (_, i) => i));
    }
    expect(ratio, `heap used after the sweep and GC vs baseline (${summary.afterHeap} / ${summary.baselineHeap})`).to.be.at.most(1.1);
  });
});
