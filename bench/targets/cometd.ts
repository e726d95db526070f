/**
 * Target: cometd-nodejs-server 1.2.1, `createCometDServer` with its `handle` as the
 * node:http request listener. App-code publishes go through `ServerChannel.publish`.
 */
import { createRequire } from 'node:module';
import { runTarget } from './host.js';

const require = createRequire(import.meta.url);
const cometd = require('cometd-nodejs-server') as typeof import('cometd-nodejs-server');

void runTarget((server, config) => {
  const cometdServer = cometd.createCometDServer({ timeout: config.timeout, maxInterval: config.maxInterval });
  server.on('request', (req, res) => cometdServer.handle(req, res));
  // The server keeps its sessions private; count them through its events.
  let sessions = 0;
  cometdServer.addListener('sessionAdded', () => void sessions++);
  cometdServer.addListener('sessionRemoved', () => void sessions--);
  return {
    publish(channel, data) {
      cometdServer.createServerChannel(channel).publish(null, data);
    },
    sessions: () => sessions,
  };
});
