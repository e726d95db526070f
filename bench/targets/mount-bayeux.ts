/**
 * How both bayeux-server targets (in-memory and Redis engine) are mounted, so the two
 * differ only in their engine: createHandler on plain node:http (its `upgrade` on the
 * server's `upgrade` event, for WebSocket), app-code publishes
 * through BayeuxServer.publish. `BENCH_NO_COOKIE=1` turns the browser cookie off (to
 * measure what it costs).
 */
import type http from 'node:http';
import { createHandler, type BayeuxServer } from '../../index.js';
import type { TargetConfig } from '../shared/protocol.js';
import type { TargetHooks } from './host.js';

export function mountBayeux(server: http.Server, bayeux: BayeuxServer, config: TargetConfig): TargetHooks {
  bayeux.on('error', (err) => console.error('bayeux error', err));
  const handle = createHandler(bayeux, { path: config.path, browserCookie: process.env.BENCH_NO_COOKIE ? false : undefined });
  server.on('request', (req, res) => handle(req, res));
  // WebSocket (first in the default transports) arrives as upgrades.
  server.on('upgrade', handle.upgrade);
  return {
    publish(channel, data) {
      bayeux.publish(channel, data).catch((err: unknown) => console.error('publish failed', err));
    },
    // With the Redis engine: the whole cluster's sessions, not this process's.
    sessions: () => bayeux.sessionCount(),
  };
}
