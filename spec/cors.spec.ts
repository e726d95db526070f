/**
 * CORS on the wire: preflights are answered on every sub-path, an allowed origin is echoed
 * with credentials allowed (never `*`), a disallowed one gets no CORS headers at all.
 */
import { expect } from 'chai';
import { createHandler, BayeuxServer } from '../index.js';
import { RawServer, expectBatch, type RawResponse } from './support/raw-client.js';

const ALLOWED = 'http://app.example';
const PATTERN = /^http:\/\/[a-z]+\.apps\.example$/;

function corsHeaders(r: RawResponse): Record<string, string> {
  const out: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    if (k.startsWith('access-control-')) out[k] = v;
  });
  return out;
}

function preflight(server: RawServer, path: string, origin: string, headers = 'content-type'): Promise<RawResponse> {
  return server.request(path, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': headers },
  });
}

const HANDSHAKE = JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }]);

describe('CORS', function () {
  let server: RawServer;
  afterEach(async function () {
    await server?.close();
  });

  describe('with an allow-list', function () {
    beforeEach(async function () {
      server = await RawServer.start({}, { path: '/cometd', cors: { origins: [ALLOWED, PATTERN] } });
    });

    for (const path of ['/cometd', '/cometd/', '/cometd/handshake', '/cometd/connect', '/cometd/a/b?x=1']) {
      it(`answers a preflight on ${path} for an allowed origin`, async function () {
        const r = await preflight(server, path, ALLOWED);
        expect(r.status).to.equal(204);
        expect(r.text).to.equal('');
        expect(corsHeaders(r)).to.deep.equal({
          'access-control-allow-origin': ALLOWED,
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'GET, POST, OPTIONS',
          'access-control-allow-headers': 'Accept, Authorization, Content-Type, Pragma, X-Requested-With',
          'access-control-max-age': '86400',
        });
        expect(r.headers.get('vary')).to.equal('Origin');
      });
    }

    it('advertises cross-origin-long-polling (the name Faye uses for CORS XHR) after long-polling', async function () {
      const [reply] = expectBatch(await server.post(HANDSHAKE));
      expect(reply!.supportedConnectionTypes).to.deep.equal(['websocket', 'long-polling', 'cross-origin-long-polling', 'callback-polling', 'iframe', 'eventsource']);
    });

    it('echoes the origin with credentials on a POST, never *', async function () {
      const r = await server.post(HANDSHAKE, 'application/json', '/cometd/handshake', { headers: { Origin: ALLOWED } });
      expect(expectBatch(r)[0]).to.include({ successful: true });
      expect(corsHeaders(r)).to.deep.equal({ 'access-control-allow-origin': ALLOWED, 'access-control-allow-credentials': 'true' });
      expect(r.headers.get('vary')).to.equal('Origin');
    });

    it('admits an origin that a pattern matches whole', async function () {
      const r = await preflight(server, '/cometd', 'http://tenant.apps.example');
      expect(r.headers.get('access-control-allow-origin')).to.equal('http://tenant.apps.example');
    });

    for (const origin of [
      'http://evil.example',
      'http://app.example.evil.net',
      'http://tenant.apps.example.evil.net',
      'https://app.example',
      'http://app.example:8080',
      'null',
    ]) {
      it(`gives ${origin} no CORS headers, on a preflight and on a POST`, async function () {
        const p = await preflight(server, '/cometd/handshake', origin);
        expect(p.status).to.equal(204);
        expect(corsHeaders(p)).to.deep.equal({});
        const r = await server.post(HANDSHAKE, 'application/json', '/cometd/handshake', { headers: { Origin: origin } });
        expect(r.status).to.equal(200);
        expect(corsHeaders(r)).to.deep.equal({});
        expect(r.headers.get('vary'), 'caches must still key on Origin').to.equal('Origin');
      });
    }

    it('adds nothing to same-origin requests without an Origin header', async function () {
      const r = await server.post(HANDSHAKE);
      expect(corsHeaders(r)).to.deep.equal({});
      expect(r.headers.get('vary')).to.equal(null);
    });

    it('echoes the origin on JSONP and error answers too (the page may read them)', async function () {
      const r = await server.request('/cometd?jsonp=cb&message=' + encodeURIComponent(HANDSHAKE), { headers: { Origin: ALLOWED } });
      expect(r.status).to.equal(200);
      expect(r.headers.get('access-control-allow-origin')).to.equal(ALLOWED);
      const bad = await server.post('{', 'application/json', '/cometd', { headers: { Origin: ALLOWED } });
      expect(bad.status).to.equal(400);
      expect(bad.headers.get('access-control-allow-origin')).to.equal(ALLOWED);
    });

    it('leaves requests outside the mount path alone', async function () {
      const r = await server.request('/elsewhere', { method: 'OPTIONS', headers: { Origin: ALLOWED } });
      expect(r.status).to.equal(404);
      expect(corsHeaders(r)).to.deep.equal({});
    });
  });

  it('takes custom allowed headers, max age, exposed headers and a function deciding origins', async function () {
    server = await RawServer.start(
      {},
      {
        path: '/cometd',
        cors: { origins: (o) => o.endsWith('.trusted.example'), allowedHeaders: ['Content-Type', 'X-Token'], maxAge: 600, exposedHeaders: ['X-Trace'] },
      },
    );
    const r = await preflight(server, '/cometd/connect', 'http://a.trusted.example', 'content-type, x-token');
    expect(corsHeaders(r)).to.deep.equal({
      'access-control-allow-origin': 'http://a.trusted.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'Content-Type, X-Token',
      'access-control-max-age': '600',
      'access-control-expose-headers': 'X-Trace',
    });
    expect(corsHeaders(await preflight(server, '/cometd', 'http://a.untrusted.example'))).to.deep.equal({});
  });

  it('without cors options, preflights get a 204 with no CORS headers', async function () {
    server = await RawServer.start();
    const r = await preflight(server, '/cometd/handshake', ALLOWED);
    expect(r.status).to.equal(204);
    expect(r.headers.get('allow')).to.equal('GET, POST, OPTIONS');
    expect(corsHeaders(r)).to.deep.equal({});
    const post = await server.post(HANDSHAKE, 'application/json', '/cometd', { headers: { Origin: ALLOWED } });
    expect(corsHeaders(post)).to.deep.equal({});
  });

  it('refuses "*" as an origin and a fractional max age when the handler is created', function () {
    const bayeux = new BayeuxServer();
    try {
      expect(() => createHandler(bayeux, { cors: { origins: ['*'] } })).to.throw(/cannot be "\*"/);
      expect(() => createHandler(bayeux, { cors: { origins: [ALLOWED], maxAge: 1.5 } })).to.throw(/maxAge/);
    } finally {
      void bayeux.close();
    }
  });
});
