/**
 * One bayeux-server process of a scaled-out deployment: the Redis engine, mounted on
 * node:http. Run several (each on its own port) against the same Redis, behind any load
 * balancer; no sticky sessions needed (see docs/scaling.md and examples/scaling/README.md).
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=8001 npx tsx examples/scaling/server.ts
 *   REDIS_CLUSTER=127.0.0.1:7000,127.0.0.1:7001 PORT=8001 npx tsx examples/scaling/server.ts   (Redis Cluster)
 *
 * REDIS_EVENTS=1 turns on cluster events: each process then logs (or, forked, reports over
 * IPC as `{ type: 'clusterEvent', event, clientId, … }`) every session added or removed and
 * every subscribe or unsubscribe in the whole deployment — the start of a presence feature.
 *
 * Started by a parent over IPC (child_process.fork, as the specs and run.ts do), it reports
 * `{ type: 'ready', port }` and obeys `{ type: 'publish', ref, channel, data }`,
 * `{ type: 'publishMany', ref, channel, from, count }` (data `{ from, seq }`) and
 * `{ type: 'close' }`.
 *
 * SIGTERM (or `close`) drains the process, then stops it: the recipe for rolling deploys
 * (docs/scaling.md). Forked, it reports `{ type: 'drained', drained }` in between.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BayeuxServer, ackExtension, createHandler } from '../../index.js';
import { redisEngine } from '../../redis.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const port = Number(process.env.PORT ?? 0);
const name = process.env.NODE_NAME ?? `node-${process.pid}`;

const clusterNodes = process.env.REDIS_CLUSTER?.split(',').filter(Boolean);
const clusterEvents = process.env.REDIS_EVENTS === '1';
const bayeux = new BayeuxServer({
  engine: redisEngine({
    ...(clusterNodes ? { cluster: clusterNodes } : { url: redisUrl }),
    prefix: process.env.REDIS_PREFIX ?? 'bayeux',
    clusterEvents,
  }),
  timeout: Number(process.env.BAYEUX_TIMEOUT ?? 30_000),
  maxInterval: Number(process.env.BAYEUX_MAX_INTERVAL ?? 10_000),
});
if (clusterEvents) {
  const report = (event: string, clientId: string, detail?: string) => {
    if (process.send) process.send({ type: 'clusterEvent', event, clientId, detail });
    else console.log(`${name}: ${event} ${clientId}${detail ? ` ${detail}` : ''}`);
  };
  bayeux.on('clusterSessionAdded', (id) => report('sessionAdded', id));
  bayeux.on('clusterSessionRemoved', (id, reason) => report('sessionRemoved', id, reason));
  bayeux.on('clusterSubscribe', (id, channel) => report('subscribe', id, channel));
  bayeux.on('clusterUnsubscribe', (id, channel) => report('unsubscribe', id, channel));
}
// Acknowledged delivery (CometD's AckExtension): a response lost with its process is sent again.
bayeux.addExtension(ackExtension());
bayeux.on('error', (err) => console.error(`${name}: ${(err as Error).message ?? String(err)}`));
// Once per outage each (the 'error' above comes once per outage too, with the cause).
bayeux.on('engineDown', () => console.error(`${name}: Redis unreachable; clients are told to retry`));
bayeux.on('engineUp', () => console.error(`${name}: Redis reachable again`));

// A service channel any client can call, answered by whichever process gets the request.
// Awaited, so a failure (Redis down) is the listener's and answered as one, never an unhandled rejection.
bayeux.channel('/service/whoami').onMessage(async (message, session) => {
  await session.deliver(message.channel, { name, pid: process.pid }, { id: message.id, successful: true });
});

const handle = createHandler(bayeux, { path: '/cometd' });
const server = http.createServer((req, res) =>
  handle(req, res, () => {
    // Readiness probe for the load balancer: 503 while Redis cannot be reached.
    if (req.url === '/ready') {
      const up = bayeux.engineStatus === 'up';
      res.writeHead(up ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(bayeux.engineStatus);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }),
);
// WebSocket. A socket stays with the process that took it; its session is in Redis, so
// after a drain closes it (1001) the client's next socket carries on at another process.
server.on('upgrade', handle.upgrade);

// Take traffic once the engine is connected (so this process hears cluster events from the start).
await bayeux.ready();
server.listen(port, '127.0.0.1', () => {
  const actual = (server.address() as AddressInfo).port;
  if (process.send) process.send({ type: 'ready', port: actual, pid: process.pid });
  else console.log(`${name} listening on http://127.0.0.1:${actual}/cometd`);
});

interface Command {
  type: string;
  ref?: number;
  channel?: string;
  data?: unknown;
  from?: string;
  count?: number;
}

process.on('message', (raw) => {
  const cmd = raw as Command;
  const reply = (body: Record<string, unknown>) => process.send?.({ ref: cmd.ref, ...body });
  if (cmd.type === 'publish') {
    bayeux.publish(cmd.channel!, cmd.data).then(
      (n) => reply({ type: 'published', n }),
      (err: Error) => reply({ type: 'failed', error: err.message }),
    );
  } else if (cmd.type === 'publishMany') {
    void (async () => {
      let failed = 0;
      for (let seq = 0; seq < cmd.count!; seq++) {
        try {
          await bayeux.publish(cmd.channel!, { from: cmd.from, seq });
        } catch {
          failed++;
        }
      }
      reply({ type: 'published', n: cmd.count! - failed, failed });
    })();
  } else if (cmd.type === 'close') {
    void shutdown();
  }
});

// A rolling deploy stops processes with SIGTERM: drain first, so the clients move to the
// other processes and lose nothing (their sessions and queued mail are in Redis).
let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // No new connections (a balancer sends them elsewhere); resolves once every open one has ended.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Held connects answered with advice to reconnect at once, new handshakes refused with
  // advice to handshake again: both come back through the balancer to another process.
  const drained = await bayeux.drain({ timeout: 10_000 });
  if (process.send) await new Promise<void>((resolve) => process.send!({ type: 'drained', drained }, () => resolve()));
  // Requests still arriving on open connections get 503 and are retried elsewhere; WebSockets
  // still open are closed (1001) and their clients reconnect through the balancer.
  await bayeux.close();
  server.closeIdleConnections();
  // A response still being written gets a moment; then whatever is open is cut.
  setTimeout(() => server.closeAllConnections(), 2000).unref();
  await closed;
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
