/**
 * Runs the demo (see app.ts): an Express app with Bayeux at /cometd and a chat page.
 *
 *   npm start                    http://localhost:8000
 *   PORT=9000 npm start          another port
 *   DEBUG=bayeux:* npm start     with the server's debug log
 */
import { createDemo } from './app.js';

const port = Number(process.env.PORT ?? 8000);
const demo = createDemo();

const server = demo.app.listen(port, () => {
  console.log(`bayeux-server demo: http://localhost:${port}/ (Bayeux endpoint /cometd)`);
});
// WebSocket: Express sees no upgrade requests, the HTTP server hands them to Bayeux.
server.on('upgrade', demo.upgrade);

// The SIGTERM recipe (docs/scaling.md): stop taking connections, drain, close, exit.
async function shutdown(): Promise<void> {
  // No new connections; resolves once every open one has ended.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Held connects answered with advice to reconnect at once, new handshakes refused with
  // advice to handshake again: behind a balancer, clients move to another process. (The
  // demo keeps sessions in memory: they end with this process, and clients handshake again.)
  await demo.bayeux.drain();
  await demo.stop(); // the clock stops; requests still arriving get 503, WebSockets still open close (1001)
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), 2000).unref();
  await closed;
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
