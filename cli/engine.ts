/**
 * The engine the standalone server runs on: the in-memory engine by default, the Redis
 * engine with `--redis`. The Redis entry point (and ioredis, an optional peer dependency
 * it needs) is imported only then.
 */
import type { Engine } from '../lib/engines/engine.js';
import type { CliConfig } from './config.js';
import { ConfigError } from './config-error.js';
import { messageOf } from './log.js';

/** `memory` or `redis`, as the start line says it. */
export function engineName(config: CliConfig): 'memory' | 'redis' {
  return config.redis === undefined ? 'memory' : 'redis';
}

/** The Redis entry point; a {@link ConfigError} when ioredis is missing, said once by whoever loads it first. */
export async function loadRedis(labelOf: (key: 'redis') => string = () => '--redis'): Promise<typeof import('../redis.js')> {
  try {
    return await import('../redis.js');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /ioredis/.test(messageOf(err));
    throw new ConfigError(`${labelOf('redis')}: ${missing ? 'the Redis engine needs the ioredis package: npm i ioredis' : messageOf(err)}`);
  }
}

/** The engine `config` asks for; undefined for the server's default (memory). */
export async function createEngine(config: CliConfig): Promise<Engine | undefined> {
  if (config.redis === undefined) return undefined;
  const { redisEngine } = await loadRedis();
  // The monitor counts subscribers per channel from cluster events, which cost a pub/sub
  // message per change: on only when the monitor is (with a publish token).
  return redisEngine({ url: config.redis, prefix: config.redisPrefix, fanout: config.redisFanout, clusterEvents: config.publishToken.length > 0 });
}
