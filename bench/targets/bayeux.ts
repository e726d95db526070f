/**
 * Target: bayeux-server (this repository), mounted with createHandler on plain node:http,
 * in-memory engine. App-code publishes go through BayeuxServer.publish.
 */
import { BayeuxServer, createHandler } from '../../lib/index.js';
import { runTarget } from './host.js';

void runTarget((server, config) => {
  const bayeux = new BayeuxServer({ timeout: config.timeout, maxInterval: config.maxInterval });
  bayeux.on('error', (err) => console.error('bayeux error', err));
  const handle = createHandler(bayeux, { path: config.path });
  server.on('request', (req, res) => handle(req, res));
  return {
    publish(channel, data) {
      bayeux.publish(channel, data).catch((err: unknown) => console.error('publish failed', err));
    },
    sessions: () => bayeux.sessionCount(),
  };
});
