/**
 * The framework adapters with real clients: Fastify (plugin), Connect (middleware) and
 * Express with `express.json()` and `express.urlencoded()` in front (bodies arrive
 * pre-parsed). Each carries a CometD and a Faye round trip; in every mount, requests
 * outside the mount path still reach the app's own routes.
 */
import { expect } from 'chai';
import type { Message } from 'cometd';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { FayeClient, closeAllFayeClients, type Delivered } from './support/faye-client.js';
import { APP_ROUTE, INTEROP_MOUNTS, httpGet, startServer, stopAllServers, type Mount } from './support/servers.js';
import { Inbox } from './support/wait.js';

const ADAPTER_MOUNTS = ['fastify', 'connect', 'express+parsers'] as const satisfies readonly Mount[];

describe('framework adapters', function () {
  afterEach(async function () {
    await closeAllCometDClients();
    await closeAllFayeClients();
    await stopAllServers();
  });

  for (const mount of ADAPTER_MOUNTS) {
    describe(`mounted in ${mount}`, function () {
      it('carries a CometD handshake, subscribe and publish', async function () {
        const server = await startServer(mount, { timeout: 2000 });
        const a = new CometDClient(server.url);
        const b = new CometDClient(server.url);
        await a.handshake();
        await b.handshake();
        const got = new Inbox<Message>();
        await b.subscribe('/chat/room', got.push);
        await a.publish('/chat/room', { text: 'hi from a', n: 1 });
        const m = await got.nth(0, 'the message at b');
        expect(m.channel).to.equal('/chat/room');
        expect(m.data).to.deep.equal({ text: 'hi from a', n: 1 });
        await a.connects.atLeast(1, 'a connect reply');
        if (mount === 'express+parsers') expect(server.stats.preParsedBodies, 'requests with a pre-parsed body').to.be.greaterThan(0);
      });

      it('carries a Faye handshake, subscribe and publish', async function () {
        const server = await startServer(mount, { timeout: 2000 });
        const a = new FayeClient(server.url);
        const b = new FayeClient(server.url);
        await a.connect();
        await b.connect();
        const got = new Inbox<Delivered>();
        await b.subscribe('/chat/room', got.push);
        await a.publish('/chat/room', { text: 'hi from a', n: 1 });
        expect(await got.nth(0, 'the message at b')).to.deep.equal({ channel: '/chat/room', data: { text: 'hi from a', n: 1 } });
        if (mount === 'express+parsers') expect(server.stats.preParsedBodies, 'requests with a pre-parsed body').to.be.greaterThan(0);
      });
    });
  }

  it('reads a form-encoded message= body that express.urlencoded() parsed first', async function () {
    const server = await startServer('express+parsers', { timeout: 2000 });
    const message = JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }]);
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ message }).toString(),
    });
    expect(res.status).to.equal(200);
    const [reply] = (await res.json()) as Message[];
    expect(reply).to.include({ channel: '/meta/handshake', successful: true, id: '1' });
    expect(server.stats.preParsedBodies).to.equal(1);
  });

  for (const mount of [...INTEROP_MOUNTS, ...ADAPTER_MOUNTS]) {
    it(`leaves requests outside the mount path to the app (${mount})`, async function () {
      const server = await startServer(mount);
      expect(await httpGet(server.origin, APP_ROUTE)).to.deep.equal({ status: 200, body: `pong from ${mount}` });
      expect((await httpGet(server.origin, '/cometdx')).status, 'a path that only starts like the mount').to.equal(404);
      expect((await httpGet(server.origin, '/nothing/here')).status).to.equal(404);
      // ...while the mount path itself is Bayeux's (a GET without message= is refused there).
      expect((await httpGet(server.origin, '/cometd')).status).to.equal(400);
    });
  }
});
