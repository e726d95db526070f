/**
 * The HTTP publish endpoint (issue 15, transports/publish-endpoint.ts): a real node:http
 * server with the Bayeux handler at /cometd and the endpoint at /cometd/publish, real
 * CometD clients subscribed, and requests as other backends send them (fetch, and a raw
 * socket for bodies a refusal must not cut). Every refusal is a 4xx or 503 the caller can
 * read, with a JSON body; a refused batch publishes nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Message } from 'cometd';
import express from 'express';
import { BayeuxServer, createHandler, publishEndpoint, type BayeuxServerOptions, type PublishEndpointOptions } from '../index.js';
import { redisEngine } from '../redis.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { nextEvent, request, type RawResponse } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { pieces, socketExchange, type SocketResult } from './support/socket-exchange.js';
import { Inbox } from './support/wait.js';

const TOKEN = 'old-token-0123456789abcdef';
const ROTATED = 'new-token-fedcba9876543210';
const SERVER_OPTIONS: BayeuxServerOptions = { maxMessageBytes: 4096, timeout: 2000 };
const ENDPOINT_OPTIONS: Omit<PublishEndpointOptions, 'token'> = { maxMessages: 5, maxBodyBytes: 256 * 1024, bodyTimeout: 300 };
const TEN_MB = 10 * 1024 * 1024;
/** Bound for an exchange with a lingering close (LINGER_MS is 2000 in transports/linger.ts). */
const EXCHANGE_LIMIT_MS = 12_000;

/** A server with Bayeux at /cometd and the publish endpoint at /cometd/publish. */
interface App {
  readonly bayeux: BayeuxServer;
  readonly port: number;
  /** The Bayeux URL, `<origin>/cometd`. */
  readonly url: string;
  readonly publishUrl: string;
  /** Channels app code saw published (the server's `publish` event), in order. */
  readonly published: string[];
  close(): Promise<void>;
}

async function serve(bayeux: BayeuxServer, options: Omit<PublishEndpointOptions, 'token'> = ENDPOINT_OPTIONS): Promise<App> {
  const handle = createHandler(bayeux, { path: '/cometd' });
  const publish = publishEndpoint(bayeux, { token: [TOKEN, ROTATED], ...options });
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] === '/cometd/publish') publish(req, res);
    else handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return listening(bayeux, server);
}

function listening(bayeux: BayeuxServer, server: http.Server): App {
  const port = (server.address() as AddressInfo).port;
  const published: string[] = [];
  bayeux.on('publish', (_session, channel) => published.push(channel));
  return {
    bayeux,
    port,
    url: `http://127.0.0.1:${port}/cometd`,
    publishUrl: `http://127.0.0.1:${port}/cometd/publish`,
    published,
    async close() {
      await bayeux.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Call {
  token?: string | null;
  contentType?: string | null;
  method?: string;
  authorization?: string;
}

/** Sends `body` (JSON-encoded unless a string) to the endpoint as a backend would. */
function call(app: App, body: unknown, { token = TOKEN, contentType = 'application/json', method = 'POST', authorization }: Call = {}): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.Authorization = authorization;
  else if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (contentType !== null) headers['Content-Type'] = contentType;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  return request(app.publishUrl, init);
}

/** The JSON body of an answer, after checking its status and type. */
function json(r: RawResponse, status: number): Record<string, unknown> {
  expect(r.status, r.text).to.equal(status);
  expect(r.headers.get('content-type')).to.equal('application/json; charset=utf-8');
  return JSON.parse(r.text) as Record<string, unknown>;
}

/** A subscribed CometD client and what reached it on `channel`. */
async function subscriber(app: App, channel: string): Promise<{ client: CometDClient; got: Inbox<Message> }> {
  const client = new CometDClient(app.url);
  await client.handshake();
  const got = new Inbox<Message>();
  await client.subscribe(channel, got.push);
  return { client, got };
}

/** The refusal arrived whole, readable, with no socket error, and the server closed the connection. */
function expectReadableRefusal(r: SocketResult, status: number): Record<string, unknown> {
  const seen = `errors ${JSON.stringify(r.errors)}, got: ${r.raw.slice(0, 300)}`;
  expect(r.answered, `a whole answer (${seen})`).to.equal(true);
  expect(r.status, seen).to.equal(status);
  expect(r.headers.connection).to.equal('close');
  expect(r.errors, 'socket errors seen by the client').to.deep.equal([]);
  expect(r.timedOut, `the server closed the connection (${seen})`).to.equal(false);
  return JSON.parse(r.body) as Record<string, unknown>;
}

function head(headers: string, method = 'POST'): string {
  return `${method} /cometd/publish HTTP/1.1\r\nHost: x\r\n${headers}\r\n`;
}

describe('publish endpoint', function () {
  this.timeout(30_000);
  let app: App;
  const errors: unknown[] = [];

  before(async function () {
    const bayeux = new BayeuxServer(SERVER_OPTIONS);
    bayeux.on('error', (e) => errors.push(e));
    app = await serve(bayeux);
  });
  after(async function () {
    await app.close();
  });
  beforeEach(function () {
    app.published.length = 0;
  });
  afterEach(async function () {
    await closeAllCometDClients();
    expect(errors, 'server error events').to.deep.equal([]);
  });

  describe('the token', function () {
    it('none: 401 with the Bearer challenge, nothing published', async function () {
      const r = await call(app, { channel: '/news', data: 1 }, { token: null });
      expect(json(r, 401)).to.deep.equal({ error: 'bearer token required' });
      expect(r.headers.get('www-authenticate')).to.equal('Bearer realm="bayeux-publish"');
      expect(app.published).to.deep.equal([]);
    });

    it('a wrong one, another scheme, or a malformed header: 401 (invalid_token), nothing published', async function () {
      for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer', `Bearer ${TOKEN} ${TOKEN}`]) {
        const r = await call(app, { channel: '/news', data: 1 }, { authorization });
        expect(json(r, 401), authorization).to.deep.equal({ error: 'invalid token' });
        expect(r.headers.get('www-authenticate')).to.equal('Bearer realm="bayeux-publish", error="invalid_token"');
      }
      expect(app.published).to.deep.equal([]);
    });

    it('is checked before the body is read: a 10 MB body without a token gets a readable 401', async function () {
      const body = Buffer.alloc(TEN_MB, 0x20);
      const r = await socketExchange(app.port, {
        head: head(`Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`),
        parts: pieces(body, 64 * 1024),
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expect(expectReadableRefusal(r, 401)).to.deep.equal({ error: 'bearer token required' });
      expect(r.headers['www-authenticate']).to.equal('Bearer realm="bayeux-publish"');
    });

    it('the right one, and the second (rotated) one, publish to a subscriber; the scheme may be in any case', async function () {
      const { got } = await subscriber(app, '/news/tokens');
      const calls: [string, Call][] = [
        ['first', { token: TOKEN }],
        ['rotated', { token: ROTATED }],
        ['lower case', { authorization: `bearer ${TOKEN}` }],
      ];
      for (const [which, how] of calls) {
        const r = await call(app, { channel: '/news/tokens', data: which }, how);
        expect(json(r, 200)).to.deep.equal({ results: [{ channel: '/news/tokens', sessions: 1 }] });
      }
      const messages = await got.atLeast(3, 'three messages at the subscriber');
      expect(messages.map((m) => m.data)).to.deep.equal(['first', 'rotated', 'lower case']);
    });
  });

  describe('publishing', function () {
    it('a single object: the results array, and the subscriber gets data and ext', async function () {
      const { got } = await subscriber(app, '/news/one');
      const r = await call(app, { channel: '/news/one', data: { text: 'hello', n: 1 }, ext: { source: 'cron' }, id: 'job-1' });
      expect(json(r, 200)).to.deep.equal({ results: [{ channel: '/news/one', sessions: 1, id: 'job-1' }] });
      const m = await got.nth(0, 'the message at the subscriber');
      expect(m.data).to.deep.equal({ text: 'hello', n: 1 });
      expect(m.ext).to.deep.include({ source: 'cron' });
    });

    it('null data is data; a channel nobody subscribed to reaches 0 sessions', async function () {
      const r = await call(app, { channel: '/news/nobody', data: null });
      expect(json(r, 200)).to.deep.equal({ results: [{ channel: '/news/nobody', sessions: 0 }] });
    });

    it('an array: one result per message, in order, and the subscriber gets them in that order', async function () {
      const { got } = await subscriber(app, '/news/many/*');
      const { got: other } = await subscriber(app, '/news/many/a');
      const batch = [0, 1, 2, 3, 4].map((n) => ({ channel: n % 2 === 0 ? '/news/many/a' : '/news/many/b', data: n, id: n }));
      const body = json(await call(app, batch), 200);
      expect(body).to.deep.equal({
        results: batch.map((m) => ({ channel: m.channel, sessions: m.channel === '/news/many/a' ? 2 : 1, id: m.id })),
      });
      const messages = await got.atLeast(5, 'the five messages at the wildcard subscriber');
      expect(messages.map((m) => m.data)).to.deep.equal([0, 1, 2, 3, 4]);
      expect((await other.atLeast(3, 'the three on /news/many/a')).map((m) => m.data)).to.deep.equal([0, 2, 4]);
      expect(app.published).to.deep.equal(batch.map((m) => m.channel));
    });

    it('clientId: delivered to that one session, on a /service/ channel; other subscribers get nothing', async function () {
      const a = await subscriber(app, '/news/marker');
      const b = await subscriber(app, '/news/marker');
      const r = await call(app, [
        { channel: '/service/private', data: { to: 'a' }, clientId: a.client.clientId },
        // After it, to both: had the private message reached b, it would come before this.
        { channel: '/news/marker', data: 'marker' },
      ]);
      expect(json(r, 200)).to.deep.equal({
        results: [
          { channel: '/service/private', sessions: 1 },
          { channel: '/news/marker', sessions: 2 },
        ],
      });
      await a.client.wire.atLeast(2, 'the private message and the marker at a');
      expect(a.client.wireOn('/service/private').map((m) => m.data)).to.deep.equal([{ to: 'a' }]);
      await b.got.nth(0, 'the marker at b');
      expect(b.client.wire.items.map((m) => m.channel), 'what reached b').to.deep.equal(['/news/marker']);
    });

    it('clientId on a broadcast channel: only that session, though others subscribed', async function () {
      const a = await subscriber(app, '/news/direct');
      const b = await subscriber(app, '/news/direct');
      const r = await call(app, [
        { channel: '/news/direct', data: 'for b', clientId: b.client.clientId },
        { channel: '/news/direct', data: 'for all' },
      ]);
      expect(json(r, 200)).to.deep.equal({ results: [{ channel: '/news/direct', sessions: 1 }, { channel: '/news/direct', sessions: 2 }] });
      expect((await b.got.atLeast(2, 'both at b')).map((m) => m.data)).to.deep.equal(['for b', 'for all']);
      expect((await a.got.nth(0, 'the broadcast at a')).data).to.equal('for all');
      expect(a.client.wire.items.map((m) => m.data), 'what reached a').to.deep.equal(['for all']);
    });

    it('an unknown clientId: 200 with sessions 0', async function () {
      const r = await call(app, { channel: '/service/private', data: 1, clientId: 'no-such-session', id: 7 });
      expect(json(r, 200)).to.deep.equal({ results: [{ channel: '/service/private', sessions: 0, id: 7 }] });
    });

    it('when mounted in Express behind express.json(), the pre-parsed body is published', async function () {
      const bayeux = new BayeuxServer(SERVER_OPTIONS);
      const ex = express();
      ex.use(express.json());
      ex.all('/cometd/publish', publishEndpoint(bayeux, { token: TOKEN }));
      ex.use(createHandler(bayeux, { path: '/cometd' }));
      const server = http.createServer(ex);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const other = listening(bayeux, server);
      try {
        const { got } = await subscriber(other, '/news/express');
        const r = await call(other, [{ channel: '/news/express', data: 'via express' }]);
        expect(json(r, 200)).to.deep.equal({ results: [{ channel: '/news/express', sessions: 1 }] });
        expect((await got.nth(0, 'the message at the subscriber')).data).to.equal('via express');
        const get = await request(other.publishUrl);
        expect(json(get, 405)).to.deep.equal({ error: 'method GET not allowed' });
        expect(get.headers.get('allow')).to.equal('POST');
      } finally {
        await closeAllCometDClients();
        await other.close();
      }
    });
  });

  describe('refusals (nothing is published)', function () {
    afterEach(function () {
      expect(app.published, 'published by a refused request').to.deep.equal([]);
    });

    it('GET, PUT, OPTIONS, DELETE: 405 with Allow: POST', async function () {
      for (const method of ['GET', 'PUT', 'OPTIONS', 'DELETE']) {
        const r = await call(app, method === 'GET' ? undefined : { channel: '/news', data: 1 }, { method });
        expect(json(r, 405), method).to.deep.equal({ error: `method ${method} not allowed` });
        expect(r.headers.get('allow')).to.equal('POST');
      }
    });

    it('a PUT with a 10 MB body: a readable 405', async function () {
      const body = Buffer.alloc(TEN_MB, 0x20);
      const r = await socketExchange(app.port, {
        head: head(`Authorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\n`, 'PUT'),
        parts: pieces(body, 64 * 1024),
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 405);
      expect(r.headers.allow).to.equal('POST');
    });

    it('bad JSON, an empty body, a body that is not an object or array: 400', async function () {
      for (const [body, error] of [
        ['{"channel": "/news", "data": ', 'body is not valid JSON'],
        ['', 'body is not valid JSON'],
        ['42', 'body must be a message object or an array of them'],
        ['"text"', 'body must be a message object or an array of them'],
        ['[]', 'body must not be an empty array'],
      ]) {
        expect(json(await call(app, body), 400), JSON.stringify(body)).to.deep.equal({ error });
      }
    });

    it('a content type other than application/json (UTF-8): 415', async function () {
      const body = { channel: '/news', data: 1 };
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=iso-8859-1', null]) {
        const r = await call(app, body, { contentType });
        expect(r.status, String(contentType)).to.equal(415);
        expect(JSON.parse(r.text)).to.have.property('error').that.is.a('string');
      }
      for (const contentType of ['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"']) {
        expect(json(await call(app, { channel: '/news/ok', data: 1 }, { contentType }), 200), contentType).to.have.property('results');
        app.published.length = 0;
      }
    });

    it('unknown keys: 400 naming the message, and the valid one before it is not published', async function () {
      const r = await call(app, [
        { channel: '/news/a', data: 1 },
        { channel: '/news/b', data: 2, successful: true },
      ]);
      expect(json(r, 400)).to.deep.equal({ error: '405::successful_unknown', index: 1 });
    });

    it('fields of the wrong type: 400 with the core wording', async function () {
      const cases: [unknown, string][] = [
        ['not an object', '405::message_invalid'],
        [{ channel: 5, data: 1 }, '405::channel_invalid'],
        [{ channel: '/news', data: 1, ext: [] }, '405::ext_invalid'],
        [{ channel: '/news', data: 1, clientId: '' }, '405::clientId_invalid'],
        [{ channel: '/news', data: 1, id: { a: 1 } }, '405::id_invalid'],
      ];
      for (const [message, error] of cases) {
        expect(json(await call(app, [{ channel: '/news/ok', data: 0 }, message]), 400), JSON.stringify(message)).to.deep.equal({ error, index: 1 });
      }
    });

    it('wildcard, meta, invalid channels, and /service/ without clientId: 400 with the Bayeux error', async function () {
      const cases: [string, string][] = [
        ['/news/*', '405:/news/*:wildcard_publish_denied'],
        ['/news/**', '405:/news/**:wildcard_publish_denied'],
        ['/meta/connect', '403:/meta/connect:publish_denied'],
        ['/meta/x', '403:/meta/x:publish_denied'],
        ['/meta/**', '405:/meta/**:wildcard_publish_denied'],
        ['news', '405:news:channel_invalid'],
        ['/news//x', '405:/news//x:channel_invalid'],
        ['/service/private', '401::client_id_missing'],
      ];
      for (const [channel, error] of cases) {
        expect(json(await call(app, { channel, data: 1 }), 400), channel).to.deep.equal({ error, index: 0 });
      }
    });

    it('missing data: 400::data_missing', async function () {
      expect(json(await call(app, { channel: '/news' }), 400)).to.deep.equal({ error: '400::data_missing', index: 0 });
    });

    it('more than maxMessages messages: 400', async function () {
      const batch = Array.from({ length: 6 }, (_, n) => ({ channel: '/news/many', data: n }));
      expect(json(await call(app, batch), 400)).to.deep.equal({ error: 'more than 5 messages in one request' });
    });

    it('a message larger than maxMessageBytes, or nested too deep to write back: 400 naming it', async function () {
      const large = { channel: '/news/large', data: 'x'.repeat(5000) };
      expect(json(await call(app, [{ channel: '/news/ok', data: 1 }, large]), 400)).to.deep.equal({ error: '413:4096:message_too_large', index: 1 });
      const depth = 100_000;
      const deep = `{"channel":"/news/deep","data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      expect(json(await call(app, deep), 400)).to.deep.equal({ error: '405::message_too_deep', index: 0 });
    });

    it('a body larger than maxBodyBytes: fetch reads the 413', async function () {
      const r = await request(app.publishUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: new Uint8Array(TEN_MB).fill(0x20),
      });
      expect(json(r, 413)).to.deep.equal({ error: `body larger than ${256 * 1024} bytes` });
    });

    it('a chunked body past maxBodyBytes: a readable 413 (no ECONNRESET), then the connection closes', async function () {
      const body = Buffer.alloc(TEN_MB, 0x20);
      const chunks: Buffer[] = [];
      for (const piece of pieces(body, 64 * 1024)) chunks.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
      chunks.push(Buffer.from('0\r\n\r\n'));
      const r = await socketExchange(app.port, {
        head: head(`Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n`),
        parts: chunks,
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expect(expectReadableRefusal(r, 413)).to.have.property('error');
    });

    it('a body that stalls: 408 after bodyTimeout', async function () {
      const r = await socketExchange(app.port, {
        head: head(`Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n`),
        parts: ['{"channel":'],
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expect(expectReadableRefusal(r, 408)).to.have.property('error');
    });
  });

  describe('options', function () {
    const bayeux = new BayeuxServer();
    after(async function () {
      await bayeux.close();
    });

    function refused(options: unknown, option: RegExp): void {
      const make = (): unknown => publishEndpoint(bayeux, options as PublishEndpointOptions);
      expect(make, JSON.stringify(options)).to.throw(TypeError, option).with.property('code', 'ERR_BAYEUX_INVALID_OPTION');
    }

    it('a missing, empty or malformed token, or an empty list: TypeError naming the option', function () {
      refused(undefined, /publishEndpoint options/);
      refused({}, /publishEndpoint option token: is required/);
      refused({ token: '' }, /publishEndpoint option token: must not be empty/);
      refused({ token: 'has blank' }, /publishEndpoint option token: must be an RFC 6750 token/);
      refused({ token: 42 }, /publishEndpoint option token: is required/);
      refused({ token: [] }, /publishEndpoint option token: must list at least one token/);
      refused({ token: [TOKEN, ''] }, /publishEndpoint option token\[1\]: must not be empty/);
    });

    it('bad limits and unknown options: TypeError naming the option', function () {
      refused({ token: TOKEN, maxBodyBytes: 10 }, /option maxBodyBytes:/);
      refused({ token: TOKEN, bodyTimeout: 'slow' }, /option bodyTimeout:/);
      refused({ token: TOKEN, maxMessages: 0 }, /option maxMessages:/);
      refused({ token: TOKEN, tokens: [TOKEN] }, /option tokens: unknown option/);
    });

    it('a first argument that is not a server: TypeError', function () {
      expect(() => publishEndpoint({} as BayeuxServer, { token: TOKEN }))
        .to.throw(TypeError, /needs a BayeuxServer/)
        .with.property('code', 'ERR_BAYEUX_INVALID_ARGUMENT');
    });
  });

  describe('a server that cannot publish now: 503', function () {
    it('closed', async function () {
      const other = await serve(new BayeuxServer());
      try {
        await other.bayeux.close();
        expect(json(await call(other, { channel: '/news', data: 1 }), 503)).to.deep.equal({ error: 'server closed' });
      } finally {
        await other.close();
      }
    });

    it('draining, with Retry-After', async function () {
      const other = await serve(new BayeuxServer());
      try {
        await other.bayeux.drain({ timeout: 1000 });
        const r = await call(other, { channel: '/news', data: 1 });
        expect(json(r, 503)).to.deep.equal({ error: '503::server_draining' });
        expect(r.headers.get('retry-after')).to.equal('1');
      } finally {
        await other.close();
      }
    });

    describe('with the Redis engine', function () {
      let redis: RedisServer;
      before(async function () {
        redis = await RedisServer.start();
      });
      after(async function () {
        await closeAllProxies();
        await stopAllRedisServers();
      });

      it('while Redis is unreachable: 503 with Retry-After; once it is back, 200', async function () {
        const link = await OutageProxy.start(redis.port);
        link.cut();
        const engine = redisEngine({ url: `redis://127.0.0.1:${link.port}`, prefix: `pub${process.pid}`, commandTimeoutMs: 300, retryMs: 2500 });
        const bayeux = new BayeuxServer({ engine });
        bayeux.on('error', () => {});
        const other = await serve(bayeux);
        try {
          await bayeux.ready();
          expect(bayeux.engineStatus).to.equal('down');
          const r = await call(other, [{ channel: '/news/redis', data: 1 }]);
          expect(json(r, 503)).to.deep.equal({ error: '503::engine_unavailable' });
          expect(r.headers.get('retry-after')).to.equal('3');

          const up = nextEvent(bayeux, 'engineUp', 15_000);
          link.restore();
          await up;
          expect(json(await call(other, [{ channel: '/news/redis', data: 2 }]), 200)).to.deep.equal({
            results: [{ channel: '/news/redis', sessions: 0 }],
          });
        } finally {
          await other.close();
        }
      });
    });
  });
});
