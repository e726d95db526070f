/**
 * Target: bayeux-server (this repository) on the in-memory engine, mounted with
 * createHandler on plain node:http.
 */
import { BayeuxServer } from '../../index.js';
import { runTarget } from './host.js';
import { mountBayeux } from './mount-bayeux.js';

void runTarget((server, config) => mountBayeux(server, new BayeuxServer({ timeout: config.timeout, maxInterval: config.maxInterval }), config));
