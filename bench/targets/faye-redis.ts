/**
 * Target: Faye 1.4.3 on faye-redis 0.2.0, the Redis peer of bayeux-server's Redis engine.
 * `faye.NodeAdapter` attached to node:http at the mount path like the `faye` target, with
 * `engine: { type: require('faye-redis'), host, port, namespace }` pointed at the Redis the
 * bench started for the run (`config.redisUrl`). faye-redis was written for the callback
 * API of the `redis` package, so the repository pins redis@3 for it (`npm ls redis`).
 * App-code publishes go through the adapter's in-process client, as in `faye`.
 */
import { createRequire } from 'node:module';
import type http from 'node:http';
import { runTarget } from './host.js';

const NAMESPACE = 'bench';

interface FayeClient {
  publish(channel: string, data: unknown): PromiseLike<unknown>;
}
/** The part of the redis@3 client faye-redis uses that the session count needs. */
interface CallbackRedis {
  zcard(key: string, cb: (err: Error | null, n: number) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}
interface FayeAdapter {
  attach(server: http.Server): void;
  getClient(): FayeClient;
  /** Internals, read only to count sessions: server → engine proxy → faye-redis engine. */
  _server: { _engine: { _engine: { _redis: CallbackRedis; _subscriber: CallbackRedis } } };
}
interface FayeModule {
  NodeAdapter: new (options: { mount: string; timeout: number; engine: Record<string, unknown> }) => FayeAdapter;
}

const require = createRequire(import.meta.url);
const faye = require('faye') as FayeModule;
const fayeRedis = require('faye-redis') as unknown;

void runTarget(async (server, config) => {
  if (!config.redisUrl) throw new Error('faye-redis: no redisUrl in the target config');
  const url = new URL(config.redisUrl);
  const adapter = new faye.NodeAdapter({
    mount: config.path,
    timeout: config.timeout / 1000,
    engine: { type: fayeRedis, host: url.hostname, port: Number(url.port), namespace: NAMESPACE },
  });
  const engine = adapter._server._engine._engine;
  // faye-redis adds no 'error' listener; a Redis hiccup should be logged, not kill the target.
  for (const c of [engine._redis, engine._subscriber]) c.on('error', (err) => console.error('faye-redis: redis error', err));
  adapter.attach(server);
  const client = adapter.getClient();
  // The in-process client handshakes on first use; do it before anything is measured.
  await client.publish('/bench/warm', { t: 0, g: 'warm', s: 0 });
  return {
    publish(channel, data) {
      client.publish(channel, data);
    },
    // faye-redis keeps every session in one sorted set (`<namespace>/clients`, scored by
    // last ping); minus the in-process client's own session.
    sessions: () =>
      new Promise<number>((resolve, reject) =>
        engine._redis.zcard(`${NAMESPACE}/clients`, (err, n) => (err ? reject(err) : resolve(Math.max(0, n - 1)))),
      ),
  };
});
