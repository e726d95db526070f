/**
 * Several clients in one browser, told apart by the BAYEUX_BROWSER cookie: the server holds
 * at most `maxSessionsPerBrowser` connects per browser and tells the others to poll, with
 * advice `multiple-clients`. Requests without the cookie are never limited.
 */
import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { BrowserCookie } from '../transports/browser-cookie.js';
import { RawServer, deliveries, replyOn, waitForHold, type RawClient, type WireMessage } from './support/raw-client.js';
import { withTimeout } from './support/wait.js';

const COOKIE_VALUE = /^BAYEUX_BROWSER=([0-9a-z]{16})$/;

/** Handshakes without a cookie; returns the client and the cookie the server set. */
async function handshakeForCookie(server: RawServer): Promise<{ client: RawClient; cookie: string; setCookie: string }> {
  const client = server.client();
  const r = await server.post(JSON.stringify([client.fill({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] })]));
  const setCookies = r.headers.getSetCookie();
  expect(setCookies, 'one Set-Cookie on the handshake').to.have.length(1);
  const setCookie = setCookies[0]!;
  const pair = setCookie.split(';')[0]!;
  expect(pair).to.match(COOKIE_VALUE);
  client.clientId = (JSON.parse(r.text) as WireMessage[])[0]!.clientId as string;
  return { client, cookie: pair, setCookie };
}

/** A client (a tab) that handshakes and makes its first connect, sending `cookie` (or none). */
async function tab(server: RawServer, cookie: string | null): Promise<RawClient> {
  const c = server.client();
  await c.handshake();
  await connectWith(c, cookie);
  return c;
}

function connectWith(c: RawClient, cookie: string | null): Promise<WireMessage[]> {
  return c.connect({}, cookie === null ? {} : { headers: { Cookie: cookie } });
}

const MULTI = { 'multiple-clients': true, reconnect: 'retry', interval: 2000, timeout: 2000 };

describe('multiple clients in one browser (BAYEUX_BROWSER)', function () {
  let server: RawServer;
  afterEach(async function () {
    await server?.close();
  });

  describe('the cookie', function () {
    it('is set on a handshake without it: 16 base-36 characters, Path=/, HttpOnly, not Secure over plain HTTP', async function () {
      server = await RawServer.start();
      const { setCookie } = await handshakeForCookie(server);
      expect(setCookie).to.match(/^BAYEUX_BROWSER=[0-9a-z]{16}; Path=\/; HttpOnly$/);
    });

    it('is not set again when the handshake carries it, nor on other requests', async function () {
      server = await RawServer.start();
      const { client, cookie } = await handshakeForCookie(server);
      const again = await server.post(JSON.stringify([server.client().fill({ channel: '/meta/handshake', version: '1.0' })]), 'application/json', '/cometd', {
        headers: { Cookie: `other=1; ${cookie}` },
      });
      expect(again.headers.getSetCookie()).to.deep.equal([]);
      const r = await server.post(JSON.stringify([client.fill({ channel: '/meta/connect', connectionType: 'long-polling' })]));
      expect(r.headers.getSetCookie()).to.deep.equal([]);
    });

    it('a malformed cookie value is ignored and replaced on the next handshake', async function () {
      server = await RawServer.start();
      const r = await server.post(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', id: '1' }]), 'application/json', '/cometd', {
        headers: { Cookie: 'BAYEUX_BROWSER=<script>' },
      });
      expect(r.headers.getSetCookie()[0]).to.match(/^BAYEUX_BROWSER=[0-9a-z]{16};/);
    });

    it('takes its name and attributes from the handler options', async function () {
      server = await RawServer.start(
        {},
        { path: '/cometd', browserCookie: { name: 'TABS', path: '/cometd', sameSite: 'None', secure: true, partitioned: true, maxAge: 3600, httpOnly: false } },
      );
      const r = await server.post(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', id: '1' }]));
      expect(r.headers.getSetCookie()[0]).to.match(/^TABS=[0-9a-z]{16}; Path=\/cometd; Max-Age=3600; SameSite=None; Partitioned; Secure$/);
    });

    it('is found only as a whole cookie name, wherever it sits in the Cookie header', function () {
      const jar = new BrowserCookie();
      const id = 'abcdefghij012345';
      const read = (cookie: string | undefined): string | undefined => jar.read({ rawHeaders: cookie === undefined ? ['Host', 'x'] : ['Host', 'x', 'Cookie', cookie] } as IncomingMessage);
      expect(read(undefined)).to.equal(undefined);
      expect(read(`BAYEUX_BROWSER=${id}`)).to.equal(id);
      expect(read(`a=1; BAYEUX_BROWSER=${id}; b=2`)).to.equal(id);
      expect(read(`a=1;BAYEUX_BROWSER = ${id} `)).to.equal(id);
      expect(read(`XBAYEUX_BROWSER=${id}`), 'a longer name ending in it').to.equal(undefined);
      expect(read(`BAYEUX_BROWSER_OLD=${id}`), 'a longer name starting with it').to.equal(undefined);
      expect(read(`a=BAYEUX_BROWSER=${id}`), 'inside another value').to.equal(undefined);
      expect(read(`BAYEUX_BROWSER=<script>; BAYEUX_BROWSER=${id}`), 'a malformed value, then a good one').to.equal(id);
      expect(read('BAYEUX_BROWSER=; x=1')).to.equal(undefined);
      expect(read('BAYEUX_BROWSER')).to.equal(undefined);
    });

    it('is not sent at all with browserCookie: false', async function () {
      server = await RawServer.start({}, { path: '/cometd', browserCookie: false });
      const r = await server.post(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', id: '1' }]));
      expect(r.headers.getSetCookie()).to.deep.equal([]);
    });
  });

  describe('the limit', function () {
    it('holds the first tab; a second tab of the same browser is answered at once with multiple-clients advice', async function () {
      server = await RawServer.start({ timeout: 2000 });
      const { client: first, cookie } = await handshakeForCookie(server);
      await connectWith(first, cookie);
      await first.mustSubscribe('/tabs');
      const held = connectWith(first, cookie);
      await waitForHold(server, first.clientId);

      const second = await tab(server, cookie);
      await second.mustSubscribe('/tabs');
      const started = Date.now();
      const answer = await connectWith(second, cookie);
      expect(Date.now() - started, 'answered at once').to.be.below(1000);
      expect(replyOn(answer, '/meta/connect')).to.deep.include({ successful: true, advice: MULTI });
      expect(server.bayeux.connects.get(first.clientId!), 'the first tab is still held').to.not.equal(undefined);
      expect(server.bayeux.connects.get(second.clientId!)).to.equal(undefined);

      // Both still receive: the first through its held connect, the second on its next poll.
      await server.bayeux.publish('/tabs', 'to both');
      expect(deliveries(await held)).to.deep.equal([{ channel: '/tabs', data: 'to both' }]);
      const polled = await connectWith(second, cookie);
      expect(deliveries(polled)).to.deep.equal([{ channel: '/tabs', data: 'to both' }]);
    });

    it('frees the slot when the held connect ends, so another tab can hold', async function () {
      server = await RawServer.start({ timeout: 2000 });
      const { client: first, cookie } = await handshakeForCookie(server);
      await connectWith(first, cookie);
      const second = await tab(server, cookie);
      const held = connectWith(first, cookie);
      await waitForHold(server, first.clientId);
      expect(replyOn(await connectWith(second, cookie), '/meta/connect').advice).to.deep.equal(MULTI);
      // The first tab disconnects: its held connect is answered and the slot is free.
      await first.disconnect();
      await withTimeout(held, 'the held connect of the disconnected tab');
      const secondHeld = connectWith(second, cookie);
      await waitForHold(server, second.clientId);
      await server.bayeux.session(second.clientId!).deliver('/x', 1);
      expect(replyOn(await secondHeld, '/meta/connect').advice).to.not.have.property('multiple-clients');
    });

    it('frees the slot when the held tab goes away without an answer', async function () {
      server = await RawServer.start({ timeout: 5000 });
      const { client: first, cookie } = await handshakeForCookie(server);
      await connectWith(first, cookie);
      const abort = new AbortController();
      const gone = first.connect({}, { headers: { Cookie: cookie }, signal: abort.signal }).catch(() => 'aborted');
      await waitForHold(server, first.clientId);
      abort.abort();
      expect(await gone).to.equal('aborted');
      const second = await tab(server, cookie);
      const secondHeld = connectWith(second, cookie);
      await waitForHold(server, second.clientId);
      await server.bayeux.session(second.clientId!).deliver('/x', 1);
      expect(replyOn(await secondHeld, '/meta/connect').advice).to.not.have.property('multiple-clients');
    });

    it('a browser that reconnects its held tab is not counted twice', async function () {
      server = await RawServer.start({ timeout: 2000 });
      const { client: first, cookie } = await handshakeForCookie(server);
      await connectWith(first, cookie);
      const older = connectWith(first, cookie);
      await waitForHold(server, first.clientId);
      const newer = connectWith(first, cookie);
      // The newer connect supersedes the older one and is held itself (no multiple-clients advice).
      expect(replyOn(await older, '/meta/connect').advice).to.not.have.property('multiple-clients');
      await waitForHold(server, first.clientId);
      await server.bayeux.session(first.clientId!).deliver('/x', 1);
      expect(replyOn(await newer, '/meta/connect').advice).to.not.have.property('multiple-clients');
    });

    it('does not limit different browsers, nor requests without the cookie', async function () {
      server = await RawServer.start({ timeout: 2000 });
      const a = await handshakeForCookie(server);
      const b = await handshakeForCookie(server);
      expect(a.cookie).to.not.equal(b.cookie);
      await connectWith(a.client, a.cookie);
      await connectWith(b.client, b.cookie);
      const plain1 = await tab(server, null);
      const plain2 = await tab(server, null);
      const all = [connectWith(a.client, a.cookie), connectWith(b.client, b.cookie), connectWith(plain1, null), connectWith(plain2, null)];
      for (const c of [a.client, b.client, plain1, plain2]) await waitForHold(server, c.clientId);
      await server.bayeux.close();
      for (const r of await Promise.all(all)) expect(replyOn(r, '/meta/connect').advice).to.not.have.property('multiple-clients');
    });

    it('follows maxSessionsPerBrowser and multiSessionInterval', async function () {
      server = await RawServer.start({ timeout: 2000, maxSessionsPerBrowser: 2, multiSessionInterval: 750 });
      const { client: t1, cookie } = await handshakeForCookie(server);
      await connectWith(t1, cookie);
      const t2 = await tab(server, cookie);
      const t3 = await tab(server, cookie);
      const h1 = connectWith(t1, cookie);
      const h2 = connectWith(t2, cookie);
      await waitForHold(server, t1.clientId);
      await waitForHold(server, t2.clientId);
      const third = await connectWith(t3, cookie);
      expect(replyOn(third, '/meta/connect').advice).to.deep.equal({ ...MULTI, interval: 750 });
      await server.bayeux.close();
      await Promise.all([h1, h2]);
    });

    it('maxSessionsPerBrowser -1 lifts the limit; browserCookie false turns it off', async function () {
      for (const [options, handler] of [
        [{ maxSessionsPerBrowser: -1 }, { path: '/cometd' }],
        [{}, { path: '/cometd', browserCookie: false as const }],
      ] as const) {
        server = await RawServer.start({ timeout: 2000, ...options }, handler);
        const cookie = 'BAYEUX_BROWSER=0123456789abcdef';
        const t1 = await tab(server, cookie);
        const t2 = await tab(server, cookie);
        const both = [connectWith(t1, cookie), connectWith(t2, cookie)];
        await waitForHold(server, t1.clientId);
        await waitForHold(server, t2.clientId);
        await server.close();
        for (const r of await Promise.all(both)) expect(replyOn(r, '/meta/connect').advice).to.not.have.property('multiple-clients');
      }
    });
  });
});
