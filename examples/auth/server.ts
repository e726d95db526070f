/**
 * The token-auth example: a Bayeux server on node:http that only lets in clients whose
 * handshake carries a known token, and stamps each published message with its sender.
 *
 *   npx tsx examples/auth/server.ts           http://localhost:8001/cometd
 *   PORT=9001 npx tsx examples/auth/server.ts
 *
 * Tokens (for the example only; verify real ones against your identity provider):
 *   token-alice -> alice, token-bob -> bob
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BayeuxServer, createHandler, type BayeuxServerOptions } from '../../index.js';
import { tokenAuth, type TokenAuth } from './token-auth.js';

const TOKENS = new Map([
  ['token-alice', 'alice'],
  ['token-bob', 'bob'],
]);

/** A running example server. */
export interface AuthExample {
  readonly bayeux: BayeuxServer;
  readonly auth: TokenAuth;
  /** The Bayeux endpoint, `http://127.0.0.1:<port>/cometd`. */
  readonly url: string;
  /** Stops it as a SIGTERM should: no new connections, drain, close (see docs/scaling.md). */
  close(): Promise<void>;
}

/** Starts the example on 127.0.0.1 (`port` 0: any free port). */
export async function startAuthExample(port = 0, options: BayeuxServerOptions = {}): Promise<AuthExample> {
  const auth = tokenAuth({
    // A real check would be async (a JWT library, a database); the policy awaits it.
    verify: async (token) => TOKENS.get(token) ?? null,
  });
  const bayeux = new BayeuxServer({ ...options, policy: auth.policy });
  auth.install(bayeux);

  const handle = createHandler(bayeux, { path: '/cometd' });
  const server = http.createServer((req, res) =>
    handle(req, res, () => {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }),
  );
  // WebSocket: upgrades under /cometd; the token still rides in the handshake, on the socket.
  server.on('upgrade', handle.upgrade);
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cometd`;
  return {
    bayeux,
    auth,
    url,
    async close() {
      // No new connections; resolves once every open one has ended.
      const closed = new Promise<void>((done) => server.close(() => done()));
      // Held connects answered with advice to reconnect at once, new handshakes refused: behind
      // a balancer, clients go to another process (this example's sessions are in memory, so
      // they handshake again there, with their token).
      await bayeux.drain();
      await bayeux.close(); // requests still arriving get 503, WebSockets still open close (1001)
      server.closeAllConnections();
      await closed;
    },
  };
}

// Run directly: start on PORT (default 8001) until interrupted.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const example = await startAuthExample(Number(process.env.PORT ?? 8001));
  console.log(`token-auth example: ${example.url} (tokens: ${[...TOKENS.keys()].join(', ')})`);
  const stop = (): void => void example.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
