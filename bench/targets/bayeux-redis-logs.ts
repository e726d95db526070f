/**
 * Target: bayeux-server on the Redis engine with `fanout: 'logs'` (issue 14: a publish
 * appends once to a log per subscription key, each process reads a log once for the
 * sessions it holds); otherwise as `bayeux-redis` (redis-target.ts).
 */
import { runRedisTarget } from './redis-target.js';

runRedisTarget('bayeux-redis-logs', 'logs');
