/**
 * `bayeux-server/redis`: the Redis engine, for several processes serving the same clients
 * (single Redis, Sentinel or Cluster). Needs `ioredis`, an optional peer dependency that
 * only this entry point loads: `npm install ioredis`.
 *
 * ```ts
 * import { BayeuxServer } from 'bayeux-server';
 * import { redisEngine } from 'bayeux-server/redis';
 * const bayeux = new BayeuxServer({ engine: redisEngine({ url: 'redis://127.0.0.1:6379' }) });
 * ```
 *
 * @packageDocumentation
 * @module bayeux-server/redis
 */
export { redisEngine, type RedisEngine } from './lib/engines/redis/redis-engine.js';
export type { RedisEngineOptions, RedisNodeAddress } from './lib/engines/redis/options.js';
