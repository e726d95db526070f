/**
 * The request bodies and URLs real Bayeux clients use are all accepted: JSON under its
 * several content types, a single object, form-encoded `message=` fields (also under
 * text/plain, as Faye's cross-origin XHR sends them), and any path under the mount point.
 */
import { expect } from 'chai';
import { RawServer, deliveries, expectBatch, rawTcp, replyOn, type RawClient, type WireMessage } from './support/raw-client.js';

const HANDSHAKE = { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'h' };

function expectHandshakeOk(messages: WireMessage[]): void {
  const reply = replyOn(messages, '/meta/handshake');
  expect(reply.successful, JSON.stringify(reply)).to.equal(true);
  expect(reply.clientId).to.match(/^[0-9a-f]{32}$/);
  expect(reply.id).to.equal('h');
}

describe('body formats', function () {
  let server: RawServer;
  let client: RawClient;

  before(async function () {
    server = await RawServer.start({ timeout: 2000 });
  });
  after(async function () {
    await server.close();
  });
  beforeEach(async function () {
    client = await server.connectedClient();
    await client.mustSubscribe('/fmt');
  });
  afterEach(async function () {
    await client.disconnect();
  });

  describe('content types', function () {
    const jsonTypes = [
      'application/json',
      'text/json',
      'application/json;charset=UTF-8',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
    ];
    for (const type of jsonTypes) {
      it(`a JSON array sent as ${type} is accepted`, async function () {
        expectHandshakeOk(expectBatch(await server.post(JSON.stringify([HANDSHAKE]), type)));
      });
    }

    it('a JSON array without any Content-Type is accepted', async function () {
      const r = await server.post(new TextEncoder().encode(JSON.stringify([HANDSHAKE])), null);
      expectHandshakeOk(expectBatch(r));
    });

    it('a single object (not in an array) is a batch of one; the answer is still an array', async function () {
      expectHandshakeOk(expectBatch(await server.post(JSON.stringify(HANDSHAKE))));
    });

    it('leading whitespace before the JSON is fine', async function () {
      expectHandshakeOk(expectBatch(await server.post('\r\n  ' + JSON.stringify([HANDSHAKE]), 'text/plain')));
    });

    it('the answer is JSON, UTF-8, and not cacheable', async function () {
      const r = await server.post(JSON.stringify([HANDSHAKE]));
      expect(r.headers.get('content-type')).to.match(/^application\/json;\s*charset=utf-8$/i);
      expect(r.headers.get('cache-control')).to.include('no-cache');
      expect(Number(r.headers.get('content-length'))).to.equal(Buffer.byteLength(r.text));
    });
  });

  describe('form-encoded message= fields', function () {
    function form(...values: unknown[]): string {
      return values.map((v) => 'message=' + encodeURIComponent(JSON.stringify(v))).join('&');
    }

    it('one message= field with an array', async function () {
      expectHandshakeOk(expectBatch(await server.post(form([HANDSHAKE]), 'application/x-www-form-urlencoded')));
    });

    it('one message= field with a single object', async function () {
      expectHandshakeOk(expectBatch(await server.post(form(HANDSHAKE), 'application/x-www-form-urlencoded; charset=UTF-8')));
    });

    it('message= under text/plain (Faye cross-origin XHR)', async function () {
      expectHandshakeOk(expectBatch(await server.post(form([HANDSHAKE]), 'text/plain;charset=UTF-8')));
    });

    it('message= without a Content-Type', async function () {
      expectHandshakeOk(expectBatch(await server.post(new TextEncoder().encode(form([HANDSHAKE])), null)));
    });

    it('repeated message= fields are one batch, processed and answered in order', async function () {
      const a = client.fill({ channel: '/fmt', data: 'a', id: 'a' });
      const b = client.fill({ channel: '/fmt', data: 'b', id: 'b' });
      const c = client.fill({ channel: '/fmt', data: 'c', id: 'c' });
      const r = expectBatch(await server.post(form([a, b], c), 'application/x-www-form-urlencoded'));
      expect(r.filter((m) => 'successful' in m).map((m) => [m.id, m.successful])).to.deep.equal([
        ['a', true],
        ['b', true],
        ['c', true],
      ]);
      // The sender is subscribed: its deliveries ride on the response, in publish order, ahead of the replies.
      expect(deliveries(r).map((m) => m.data)).to.deep.equal(['a', 'b', 'c']);
      expect(r.findIndex((m) => 'successful' in m)).to.equal(3);
    });

    it('other form fields around message= are ignored', async function () {
      const body = 'jsonp=cb&' + form([HANDSHAKE]) + '&x=1';
      expectHandshakeOk(expectBatch(await server.post(body, 'application/x-www-form-urlencoded')));
    });

    it('non-ASCII data survives form encoding and JSON alike', async function () {
      const data = { text: 'héllo wörld ✓ 😀 \u2028 "quoted" &=+' };
      const viaForm = expectBatch(
        await server.post(form([client.fill({ channel: '/fmt', data })]), 'application/x-www-form-urlencoded'),
      );
      expect(deliveries(viaForm)).to.deep.equal([{ channel: '/fmt', data }]);
      const viaJson = expectBatch(await server.post(JSON.stringify([client.fill({ channel: '/fmt', data })]), 'application/json'));
      expect(deliveries(viaJson)).to.deep.equal([{ channel: '/fmt', data }]);
    });

    it('form-encoded `+` is a space and %2B a plus', async function () {
      const json = JSON.stringify([client.fill({ channel: '/fmt', data: 'a b+c' })]);
      const body = 'message=' + encodeURIComponent(json).replace(/%20/g, '+');
      const r = expectBatch(await server.post(body, 'application/x-www-form-urlencoded'));
      expect(deliveries(r)).to.deep.equal([{ channel: '/fmt', data: 'a b+c' }]);
    });
  });

  describe('URLs', function () {
    // CometD-JS appends /handshake, /connect, /disconnect or / to the configured URL.
    const paths = [
      '/cometd',
      '/cometd/',
      '/cometd/handshake',
      '/cometd/connect',
      '/cometd/disconnect',
      '/cometd/anything/deeper',
      '/cometd?x=1',
      '/cometd/?jsessionid=abc',
      '/cometd/handshake?a=b&c=d',
    ];
    for (const path of paths) {
      it(`POST ${path} is served`, async function () {
        expectHandshakeOk(expectBatch(await server.post(JSON.stringify([HANDSHAKE]), 'application/json', path)));
      });
    }

    it('the path suffix does not matter for the message: a publish POSTed to /cometd/handshake is a publish', async function () {
      const r = expectBatch(
        await server.post(JSON.stringify([client.fill({ channel: '/fmt', data: 1 })]), 'application/json', '/cometd/handshake'),
      );
      expect(replyOn(r, '/fmt').successful).to.equal(true);
    });

    for (const path of ['/cometdx', '/cometd-other', '/comet', '/', '/other/cometd', '/COMETD']) {
      it(`POST ${path} is outside the mount path: passed on to the next handler`, async function () {
        const r = await server.post(JSON.stringify([HANDSHAKE]), 'application/json', path);
        expect(r.status).to.equal(404);
        expect(r.headers.get('x-fallback')).to.equal('next');
      });
    }

    it('without a next handler, requests outside the mount path get 404 from the handler', async function () {
      const { createHandler, BayeuxServer } = await import('../index.js');
      const http = await import('node:http');
      const bayeux = new BayeuxServer();
      const handle = createHandler(bayeux, { path: '/cometd' });
      const plain = http.createServer((req, res) => handle(req, res));
      await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
      try {
        const port = (plain.address() as { port: number }).port;
        const r = await rawTcp(port, ['POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]']);
        expect(r.status, r.text).to.equal(404);
      } finally {
        await bayeux.close();
        plain.closeAllConnections();
        await new Promise<void>((r) => plain.close(() => r()));
      }
    });

    it('a handler without a path serves every URL', async function () {
      const open = await RawServer.start({}, {});
      try {
        for (const path of ['/', '/anything', '/cometd/handshake']) {
          expectHandshakeOk(expectBatch(await open.post(JSON.stringify([HANDSHAKE]), 'application/json', path)));
        }
      } finally {
        await open.close();
      }
    });

    it('a mount path given with a trailing slash matches the same URLs', async function () {
      const slash = await RawServer.start({}, { path: '/cometd/' });
      try {
        for (const path of ['/cometd', '/cometd/', '/cometd/connect']) {
          expectHandshakeOk(expectBatch(await slash.post(JSON.stringify([HANDSHAKE]), 'application/json', path)));
        }
        expect((await slash.post('[]', 'application/json', '/cometdx')).status).to.equal(404);
      } finally {
        await slash.close();
      }
    });
  });
});
