/**
 * Target: Faye 1.4.3, `faye.NodeAdapter` attached to node:http at the mount path, memory
 * engine, the same hold timeout as the others (Faye counts it in seconds). App-code
 * publishes go through the adapter's in-process client (`getClient().publish`), Faye's
 * documented way to publish from the server.
 */
import { createRequire } from 'node:module';
import type http from 'node:http';
import { runTarget } from './host.js';

interface FayeClient {
  publish(channel: string, data: unknown): PromiseLike<unknown>;
}
interface FayeAdapter {
  attach(server: http.Server): void;
  getClient(): FayeClient;
  /** Internals, read only to count sessions: server → engine proxy → memory engine. */
  _server: { _engine: { _engine: { _namespace: { _used: Set<string> } } } };
}
interface FayeModule {
  NodeAdapter: new (options: { mount: string; timeout: number }) => FayeAdapter;
}

const require = createRequire(import.meta.url);
const faye = require('faye') as FayeModule;

void runTarget(async (server, config) => {
  const adapter = new faye.NodeAdapter({ mount: config.path, timeout: config.timeout / 1000 });
  adapter.attach(server);
  const client = adapter.getClient();
  // The in-process client handshakes on first use; do it before anything is measured.
  await client.publish('/bench/warm', { t: 0, g: 'warm', s: 0 });
  return {
    publish(channel, data) {
      client.publish(channel, data);
    },
    // Minus the in-process client's own session.
    sessions: () => adapter._server._engine._engine._namespace._used.size - 1,
  };
});
