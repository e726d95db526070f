/** Target: bayeux-server on the Redis engine in queues mode (0.1.0's, no longer the default); see redis-target.ts. */
import { runRedisTarget } from './redis-target.js';

runRedisTarget('bayeux-redis', 'queues');
