/** Target: bayeux-server on the Redis engine in its default fan-out mode (`queues`); see redis-target.ts. */
import { runRedisTarget } from './redis-target.js';

runRedisTarget('bayeux-redis', 'queues');
