/**
 * Target: bayeux-server on the Redis engine with `fanout: 'logs'` (issue 14: a publish
 * appends once to a log per subscription key, each process reads a log once for the
 * sessions it holds), mounted exactly like `bayeux-redis`; the Redis is the one the bench
 * started for the run (`config.redisUrl`).
 */
import { BayeuxServer } from '../../index.js';
import { redisEngine } from '../../redis.js';
import { runTarget } from './host.js';
import { mountBayeux } from './mount-bayeux.js';

void runTarget(async (server, config) => {
  if (!config.redisUrl) throw new Error('bayeux-redis-logs: no redisUrl in the target config');
  const engine = redisEngine({
    url: config.redisUrl,
    prefix: 'bench',
    fanout: 'logs',
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
    console.error('bayeux-redis-logs: CLIENT SETNAME failed', err);
  }
  return mountBayeux(server, bayeux, config);
});
