/**
 * A complete scaled-out setup on one machine: N bayeux-server processes (server.ts) on one
 * Redis, behind a small round-robin HTTP balancer — no sticky sessions: each request goes
 * to the next process, and every process can answer any client. WebSocket upgrades are
 * relayed to the next process as well.
 *
 *   redis-server --port 6379 &            # or any Redis you have
 *   npx tsx examples/scaling/run.ts       # REDIS_URL, PROCESSES (3), PORT (8000) optional
 *
 * Then point CometD or Faye clients at http://127.0.0.1:8000/cometd. In production the
 * balancer is nginx, HAProxy or a cloud load balancer (see docs/scaling.md).
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const count = Number(process.env.PROCESSES ?? 3);
const port = Number(process.env.PORT ?? 8000);
const entry = fileURLToPath(new URL('./server.ts', import.meta.url));

const children: ChildProcess[] = [];
const ports = await Promise.all(
  Array.from({ length: count }, (_, i) => {
    const child = fork(entry, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, REDIS_URL: redisUrl, NODE_NAME: `node-${i}`, PORT: '0' } });
    children.push(child);
    return new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`node-${i} exited with ${code}`)));
    });
  }),
);
ports.forEach((p, i) => console.log(`node-${i} (pid ${children[i]!.pid}) on http://127.0.0.1:${p}/cometd`));

// Round-robin balancer: a process that refuses connections is skipped on the next try.
let next = 0;
const agent = new http.Agent({ keepAlive: true });
const balancer = http.createServer((req, res) => {
  const target = ports[next]!;
  next = (next + 1) % ports.length;
  const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  req.pipe(up);
});

// WebSocket upgrades: each goes to the next process over a raw TCP relay (the request as it
// came, then bytes both ways), and the socket stays with that process. When a drain closes
// it, the client's next socket comes through here to another process.
const tunnels = new Set<net.Socket>();
balancer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  const target = ports[next]!;
  next = (next + 1) % ports.length;
  const up = net.connect(target, '127.0.0.1');
  tunnels.add(socket);
  let connected = false;
  up.once('connect', () => {
    connected = true;
    let request = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) request += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    up.write(request + '\r\n');
    if (head.length > 0) up.write(head);
    socket.pipe(up).pipe(socket);
  });
  up.on('error', () => {
    if (!connected && socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  socket.on('error', () => up.destroy());
  socket.on('close', () => {
    tunnels.delete(socket);
    up.destroy();
  });
});
balancer.listen(port, '127.0.0.1', () => console.log(`balancer on http://127.0.0.1:${port}/cometd -> ${ports.join(', ')}`));

function shutdown(): void {
  let left = children.length;
  for (const c of children) {
    c.once('exit', () => --left === 0 && process.exit(0));
    c.kill('SIGTERM');
  }
  balancer.close();
  agent.destroy();
  balancer.closeAllConnections();
  for (const t of tunnels) t.destroy();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
