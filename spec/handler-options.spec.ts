/**
 * The options of the handler, the adapters and the transports are checked when the object
 * is created, as the server's are: a wrong type, a broken rule or an unknown key throws a
 * `TypeError` with code `ERR_BAYEUX_INVALID_OPTION` whose message names the option — never
 * a `TypeError` on the first request (which ends a node:http process), nor a handler that
 * silently answers 404 to everything. Valid options still work over real HTTP.
 */
import http from 'node:http';
import { expect } from 'chai';
import Fastify from 'fastify';
import {
  attachToServer,
  BayeuxServer,
  callbackPolling,
  createHandler,
  fastifyPlugin,
  iframeStreaming,
  koaMiddleware,
  longPolling,
  type HandlerOptions,
} from '../index.js';
import { RawServer, expectBatch } from './support/raw-client.js';

/** The error `fn` throws; fails when it throws none. */
function thrown(fn: () => unknown): Error & { code?: unknown } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: unknown };
  }
  throw new Error('expected a throw');
}

/** `fn` throws a TypeError ERR_BAYEUX_INVALID_OPTION whose message contains `names`. */
function expectInvalid(fn: () => unknown, names: string, label = names): void {
  const err = thrown(fn);
  expect(err, `${label}: ${err.stack}`).to.be.instanceOf(TypeError);
  expect(err.code, `${label}: ${err.message}`).to.equal('ERR_BAYEUX_INVALID_OPTION');
  expect(err.message, label).to.include(names);
}

describe('handler, adapter and transport options', function () {
  const servers: BayeuxServer[] = [];
  function bayeux(): BayeuxServer {
    const s = new BayeuxServer();
    servers.push(s);
    return s;
  }
  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
  });

  describe('createHandler refuses, naming the option', function () {
    const bad: [string, unknown, string][] = [
      // From the issue: a transport name instead of a transport, cors: true, a misspelt key, a path without its slash.
      ['a transport given by name', { transports: ['long-polling'] }, 'createHandler option transports[0]: must be a transport'],
      ['a transport factory not called', { transports: [longPolling] }, 'createHandler option transports[0]'],
      ['an object that is not a transport', { transports: [longPolling(), { connectionType: 'x', accepts: () => true }] }, 'createHandler option transports[1]'],
      ['a transport with a bad alias list', { transports: [{ ...longPolling(), accepts: () => true, handle: () => {}, aliases: 'x' }] }, 'transports[0]'],
      ['no transport at all', { transports: [] }, 'createHandler option transports: must list at least one transport'],
      ['transports that are not a list', { transports: longPolling() }, 'createHandler option transports'],
      ['cors: true', { cors: true }, 'createHandler option cors'],
      ['cors with origin instead of origins', { cors: { origin: 'https://app.example' } }, 'createHandler option cors.origin: unknown option'],
      ['cors origins as one string', { cors: { origins: 'https://app.example' } }, 'createHandler option cors.origins'],
      ['cors origin "*"', { cors: { origins: ['https://a.example', '*'] } }, 'createHandler option cors.origins[1]: cannot be "*"'],
      ['a cors origin that is a number', { cors: { origins: [42] } }, 'createHandler option cors.origins[0]'],
      ['cors maxAge not whole', { cors: { origins: [], maxAge: 1.5 } }, 'createHandler option cors.maxAge'],
      ['a cors header that cannot be written', { cors: { origins: [], allowedHeaders: ['X-Ok', 'X-Bad\r\nSet-Cookie: a=b'] } }, 'createHandler option cors.allowedHeaders[1]'],
      ['cors exposedHeaders as one string', { cors: { origins: [], exposedHeaders: 'X-Id' } }, 'createHandler option cors.exposedHeaders'],
      ['a path without its slash', { path: 'cometd' }, "createHandler option path: must start with '/'"],
      ['a path with a query', { path: '/cometd?x=1' }, 'createHandler option path'],
      ['a path that is not a string', { path: 5 }, 'createHandler option path'],
      ['a misspelt key', { pth: '/cometd' }, 'createHandler option pth: unknown option'],
      ['browserCookie: true', { browserCookie: true }, 'createHandler option browserCookie'],
      ['a cookie name with a blank', { browserCookie: { name: 'A B' } }, 'createHandler option browserCookie.name'],
      ['a cookie domain with a ;', { browserCookie: { domain: 'a.example; Secure' } }, 'createHandler option browserCookie.domain'],
      ['a cookie path beyond ASCII', { browserCookie: { path: '/caf\u20ac' } }, 'createHandler option browserCookie.path'],
      ['sameSite in lower case', { browserCookie: { sameSite: 'lax' } }, 'createHandler option browserCookie.sameSite'],
      ['secure as a string', { browserCookie: { secure: 'yes' } }, 'createHandler option browserCookie.secure'],
      ['a cookie maxAge not whole', { browserCookie: { maxAge: 0.5 } }, 'createHandler option browserCookie.maxAge'],
      ['a misspelt cookie key', { browserCookie: { maxage: 60 } }, 'createHandler option browserCookie.maxage: unknown option'],
      ['options that are a string', 'cometd', 'createHandler options'],
      ['options that are null', null, 'createHandler options'],
    ];
    for (const [what, options, names] of bad) {
      it(what, function () {
        expectInvalid(() => createHandler(bayeux(), options as HandlerOptions), names, what);
      });
    }
  });

  it('the adapters refuse bad options at once, under their own name', async function () {
    expectInvalid(() => koaMiddleware(bayeux(), { pth: '/cometd' } as HandlerOptions), 'koaMiddleware option pth: unknown option');
    expectInvalid(() => koaMiddleware(bayeux(), { cors: true } as unknown as HandlerOptions), 'koaMiddleware option cors');
    expectInvalid(() => fastifyPlugin(bayeux(), { transports: ['long-polling'] } as unknown as HandlerOptions), 'fastifyPlugin option transports[0]');
    expectInvalid(() => fastifyPlugin(bayeux(), { path: '/cometd' } as HandlerOptions), 'fastifyPlugin option path: goes to fastify.register');

    // attachToServer: refused before it takes the server's request listeners over.
    const httpServer = http.createServer((_req, res) => res.end('app'));
    expectInvalid(() => attachToServer(httpServer, bayeux(), { path: 'cometd' }), "attachToServer option path: must start with '/'");
    expect(httpServer.listenerCount('request')).to.equal(1);

    // The path given to fastify.register is checked when Fastify loads the plugin.
    const app = Fastify();
    try {
      app.register(fastifyPlugin(bayeux()), { path: 'cometd' } as never);
      const err = await app.ready().then(
        () => null,
        (e: unknown) => e as Error & { code?: unknown },
      );
      expect(err, 'fastify.ready() rejects').to.be.instanceOf(TypeError);
      expect(err!.code).to.equal('ERR_BAYEUX_INVALID_OPTION');
      expect(err!.message).to.include('fastifyPlugin (fastify.register) option path');
    } finally {
      await app.close().catch(() => {});
    }
  });

  it('the transports refuse bad and unknown options, naming them', function () {
    expectInvalid(() => longPolling({ piggyback: 'yes' } as never), 'longPolling option piggyback');
    expectInvalid(() => longPolling({ piggyBack: false } as never), 'longPolling option piggyBack: unknown option');
    expectInvalid(() => longPolling('fast' as never), 'longPolling options');
    expectInvalid(() => callbackPolling({ jsonp: 'cb' } as never), 'callbackPolling option jsonp: unknown option');
    expectInvalid(() => callbackPolling({ callbackParameter: 'message' }), 'callbackPolling option callbackParameter');
    expectInvalid(() => callbackPolling({ callbackParameter: 'a b' }), 'callbackPolling option callbackParameter');
    expectInvalid(() => callbackPolling({ maxCallbackLength: 0 }), 'callbackPolling option maxCallbackLength');
    expectInvalid(() => callbackPolling({ defaultCallback: 'alert(1)' }), 'callbackPolling option defaultCallback');
    expectInvalid(() => iframeStreaming({ maxage: 1000 } as never), 'iframeStreaming option maxage: unknown option');
    expectInvalid(() => iframeStreaming({ maxAge: 50 }), 'iframeStreaming option maxAge');
    expectInvalid(() => iframeStreaming({ heartbeat: 2 ** 31 }), 'iframeStreaming option heartbeat');
    expectInvalid(() => iframeStreaming({ padding: 1e9 }), 'iframeStreaming option padding');
    expectInvalid(() => iframeStreaming({ serveClient: 'no' } as never), 'iframeStreaming option serveClient');
    expectInvalid(() => iframeStreaming({ callbackParameter: 'connect' }), 'iframeStreaming option callbackParameter');
    expectInvalid(() => iframeStreaming({ signOffParameter: 'callback' }), 'iframeStreaming option signOffParameter: callbackParameter and signOffParameter must differ');
    expectInvalid(() => iframeStreaming({ defaultSignOff: 'a;b' }), 'iframeStreaming option defaultSignOff');
  });

  it('valid options are taken, and a handshake over real HTTP works with them', async function () {
    const handlerOptions: HandlerOptions = {
      path: '/cometd',
      transports: [longPolling({ piggyback: false }), callbackPolling({ callbackParameter: 'cb', maxCallbackLength: 64 }), iframeStreaming({ maxAge: 1000, heartbeat: 0 })],
      cors: { origins: ['https://app.example', /^https:\/\/[a-z]+\.example$/], maxAge: 60, allowedHeaders: ['Content-Type'], exposedHeaders: ['X-Id'] },
      browserCookie: { name: 'B', sameSite: 'Lax', maxAge: 3600, secure: 'auto', domain: undefined },
    };
    const server = await RawServer.start({}, handlerOptions);
    try {
      const r = await server.post(
        JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }]),
        'application/json',
        '/cometd/handshake',
        { headers: { Origin: 'https://app.example' } },
      );
      const [reply] = expectBatch(r);
      expect(reply).to.deep.include({ channel: '/meta/handshake', successful: true });
      expect(reply!.supportedConnectionTypes).to.include.members(['long-polling', 'cross-origin-long-polling', 'callback-polling', 'iframe']);
      expect(r.headers.get('access-control-allow-origin')).to.equal('https://app.example');
      expect(r.headers.get('access-control-expose-headers')).to.equal('X-Id');
      expect(r.headers.get('set-cookie')).to.match(/^B=[0-9a-z]{16}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
      const q = new URLSearchParams({ message: JSON.stringify({ channel: '/meta/connect', clientId: reply!.clientId, connectionType: 'callback-polling', advice: { timeout: 0 } }), cb: 'got' });
      const jsonp = await server.request(`/cometd?${q}`);
      expect(jsonp.status).to.equal(200);
      expect(jsonp.text.startsWith('/**/got(')).to.equal(true);
    } finally {
      await server.close();
    }
    // Defaults, and the forms that turn things off.
    for (const options of [undefined, {}, { browserCookie: false as const }, { path: '/', cors: { origins: (o: string) => o.endsWith('.example') } }]) {
      expect(() => createHandler(bayeux(), options), JSON.stringify(options)).not.to.throw();
    }
    expect(() => koaMiddleware(bayeux(), { path: '/cometd' })).not.to.throw();
    expect(() => attachToServer(http.createServer(), bayeux(), {})).not.to.throw();

    // Fastify hands the plugin options of its own besides the path: they are not refused.
    const app = Fastify();
    try {
      await app.register(fastifyPlugin(bayeux(), { browserCookie: false }), { path: '/bayeux' });
      const origin = await app.listen({ port: 0, host: '127.0.0.1' });
      const res = await fetch(`${origin}/bayeux`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]),
      });
      const [reply] = (await res.json()) as { successful?: boolean }[];
      expect(reply!.successful).to.equal(true);
      expect(res.headers.get('set-cookie'), 'browserCookie: false').to.equal(null);
    } finally {
      await app.close();
    }
  });
});
