/**
 * Target: bayeux-server (this repository) on the Redis engine, mounted exactly like
 * `bayeux`; the Redis is the one the bench started for the run (`config.redisUrl`).
 * Several of these processes on one Redis form a cluster (the `scale100k` run).
 */
import { BayeuxServer } from '../../index.js';
import { redisEngine } from '../../redis.js';
import { runTarget } from './host.js';
import { mountBayeux } from './mount-bayeux.js';

void runTarget(async (server, config) => {
  if (!config.redisUrl) throw new Error('bayeux-redis: no redisUrl in the target config');
  const engine = redisEngine({
    url: config.redisUrl,
    prefix: 'bench',
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
    console.error('bayeux-redis: CLIENT SETNAME failed', err);
  }
  return mountBayeux(server, bayeux, config);
});
