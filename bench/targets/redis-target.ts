/**
 * What the two Redis-engine targets share: bayeux-server on the Redis engine the bench
 * started for the run (`config.redisUrl`), mounted exactly like `bayeux`, in one fan-out
 * mode. Several of these processes on one Redis form a cluster (the `scale100k` run).
 */
import { BayeuxServer } from '../../index.js';
import { redisEngine, type RedisEngineOptions } from '../../redis.js';
import { runTarget } from './host.js';
import { mountBayeux } from './mount-bayeux.js';

/** Runs the target `name` with the engine's `fanout` mode. */
export function runRedisTarget(name: string, fanout: NonNullable<RedisEngineOptions['fanout']>): void {
  void runTarget(async (server, config) => {
    if (!config.redisUrl) throw new Error(`${name}: no redisUrl in the target config`);
    const engine = redisEngine({
      url: config.redisUrl,
      prefix: 'bench',
      fanout,
      ...(config.redisCommandTimeout ? { commandTimeoutMs: config.redisCommandTimeout } : {}),
    });
    const bayeux = new BayeuxServer({ timeout: config.timeout, maxInterval: config.maxInterval, engine });
    // Wait (bounded) until the engine answers, so the bench measures a connected server.
    for (let i = 0; ; i++) {
      try {
        await bayeux.sessionCount();
        break;
      } catch (err) {
        if (i >= 200) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // Name the command connection, so the bench can tell this process's round trips apart in MONITOR.
    try {
      await engine.client.call('CLIENT', 'SETNAME', `bench-${process.pid}`);
    } catch (err) {
      console.error(`${name}: CLIENT SETNAME failed`, err);
    }
    return mountBayeux(server, bayeux, config);
  });
}
