/**
 * One bayeux-server process of a scaled-out deployment: the Redis engine, mounted on
 * node:http. Run several (each on its own port) against the same Redis, behind any load
 * balancer; no sticky sessions needed (see docs/scaling.md and examples/scaling/README.md).
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=8001 npx tsx examples/scaling/server.ts
 *
 * Started by a parent over IPC (child_process.fork, as the specs and run.ts do), it reports
 * `{ type: 'ready', port }` and obeys `{ type: 'publish', ref, channel, data }`,
 * `{ type: 'publishMany', ref, channel, from, count }` (data `{ from, seq }`) and
 * `{ type: 'close' }`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BayeuxServer, ackExtension, createHandler, redisEngine } from '../../lib/index.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const port = Number(process.env.PORT ?? 0);
const name = process.env.NODE_NAME ?? `node-${process.pid}`;

const bayeux = new BayeuxServer({
  engine: redisEngine({ url: redisUrl, prefix: process.env.REDIS_PREFIX ?? 'bayeux' }),
  timeout: Number(process.env.BAYEUX_TIMEOUT ?? 30_000),
});
// Acknowledged delivery (CometD's AckExtension): a response lost with its process is sent again.
bayeux.addExtension(ackExtension());
bayeux.on('error', (err) => console.error(`${name}: ${(err as Error).message ?? String(err)}`));

// A service channel any client can call, answered by whichever process gets the request.
bayeux.channel('/service/whoami').onMessage((message, session) => {
  void session.deliver(message.channel, { name, pid: process.pid }, { id: message.id, successful: true });
});

const handle = createHandler(bayeux, { path: '/cometd' });
const server = http.createServer((req, res) =>
  handle(req, res, () => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }),
);

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

async function shutdown(): Promise<void> {
  await bayeux.close();
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
