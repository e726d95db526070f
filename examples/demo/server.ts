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

async function shutdown(): Promise<void> {
  await demo.stop(); // answers the held connects, so server.close() is not kept waiting
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
