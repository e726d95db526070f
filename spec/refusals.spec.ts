/**
 * Refusals the client can read, and bodies that never finish (issue 13, items 2 and 3).
 *
 * A refusal written before the body was read (413 on an oversize body, 404 or 405 on a
 * POST, 408) closes the connection, but only after a lingering drain: a client still
 * sending its body reads the answer instead of hitting EPIPE or ECONNRESET. A body that
 * does not arrive within `bodyTimeout` (a stalled upload, a trickle) gets 408; a held
 * `/meta/connect` is not cut by it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { BayeuxServer, createHandler } from '../index.js';
import { RawServer, expectBatch, replyOn, waitForHold } from './support/raw-client.js';
import { startServer, stopAllServers } from './support/servers.js';
import { chunked, pieces, socketExchange, type SocketResult } from './support/socket-exchange.js';

const LIMITS = { maxBodyBytes: 8192, bodyTimeout: 300, timeout: 1500, maxInterval: 60_000 };
/** How long a refused request's body is drained at most (`LINGER_MS` in transports/linger.ts). */
const LINGER_MS = 2000;
/** Generous bound for an exchange that involves the body timeout and a lingering close. */
const EXCHANGE_LIMIT_MS = LIMITS.bodyTimeout + LINGER_MS + 8000;
const TEN_MB = 10 * 1024 * 1024;
const HANDSHAKE = [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'h' }];

function post(path: string, headers: string): string {
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n`;
}

/** The answer arrived whole, with no socket error on the way, and closes the connection. */
function expectReadableRefusal(r: SocketResult, status: number): void {
  const seen = `errors ${JSON.stringify(r.errors)}, got: ${r.raw.slice(0, 300)}`;
  expect(r.answered, `a whole answer (${seen})`).to.equal(true);
  expect(r.status, seen).to.equal(status);
  expect(r.body).to.match(new RegExp(`^${status} \\S`));
  expect(r.headers.connection, 'Connection header').to.equal('close');
  expect(r.errors, 'socket errors seen by the client').to.deep.equal([]);
  expect(r.timedOut, `the server closed the connection (${seen})`).to.equal(false);
  expect(r.closedByServer).to.equal(true);
}

describe('refusals', function () {
  this.timeout(30_000);
  let server: RawServer;
  const errors: unknown[] = [];

  before(async function () {
    server = await RawServer.start(LIMITS);
    server.bayeux.on('error', (e) => errors.push(e));
  });
  after(async function () {
    await server.close();
  });
  afterEach(function () {
    expect(errors, 'server error events').to.deep.equal([]);
  });

  describe('an oversize body', function () {
    it('with a declared Content-Length of 10 MB: a client that keeps sending reads the 413, then the connection closes', async function () {
      const body = Buffer.alloc(TEN_MB, 0x20);
      const r = await socketExchange(server.port, {
        head: post('/cometd', `Content-Length: ${body.length}\r\n`),
        parts: pieces(body, 64 * 1024),
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 413);
      expect(r.sentAll, 'the client sent its whole body').to.equal(true);
    });

    it('chunked, 10 MB: a client that keeps sending reads the 413, then the connection closes', async function () {
      const r = await socketExchange(server.port, {
        head: post('/cometd', 'Transfer-Encoding: chunked\r\n'),
        parts: chunked(Buffer.alloc(TEN_MB, 0x20), 64 * 1024),
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 413);
      expect(r.sentAll, 'the client sent its whole body').to.equal(true);
    });

    it('fetch (undici) reads the 413 of a 10 MB body, with a Content-Length and chunked', async function () {
      const bytes = new Uint8Array(TEN_MB).fill(0x20);
      const declared = await fetch(server.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bytes });
      expect(declared.status).to.equal(413);
      expect(await declared.text()).to.match(/^413 /);

      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
          controller.close();
        },
      });
      const streamed = await fetch(server.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      expect(streamed.status).to.equal(413);
      expect(await streamed.text()).to.match(/^413 /);
    });

    it('a client that never stops sending after the 413 is cut off after the lingering close', async function () {
      // Declares far more than it sends, in a slow trickle that outlasts the linger time.
      const r = await socketExchange(server.port, {
        head: post('/cometd', 'Content-Length: 100000000\r\n'),
        parts: Array.from({ length: 1000 }, () => 'x'.repeat(100)),
        gapMs: 20,
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expect(r.answered, r.raw).to.equal(true);
      expect(r.status).to.equal(413);
      expect(r.headers.connection).to.equal('close');
      expect(r.timedOut, 'the server closed the connection').to.equal(false);
      expect(r.sentAll, 'cut off before the end').to.equal(false);
    });
  });

  describe('other refusals before the body is read', function () {
    it('405 for a PUT with a 10 MB body: readable, then the connection closes', async function () {
      const body = Buffer.alloc(TEN_MB, 0x20);
      const r = await socketExchange(server.port, {
        head: `PUT /cometd HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`,
        parts: pieces(body, 64 * 1024),
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 405);
      expect(r.headers.allow).to.equal('GET, POST, OPTIONS');
    });

    it('405 with a body that never ends: readable, and the connection is closed after the lingering close', async function () {
      const r = await socketExchange(server.port, {
        head: `PUT /cometd HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`,
        parts: ['x'.repeat(10)],
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 405);
    });

    it('404 outside the mount path (no next handler), with a 10 MB body and with one that never ends', async function () {
      const bayeux = new BayeuxServer();
      const handle = createHandler(bayeux, { path: '/cometd' });
      const plain = http.createServer((req, res) => handle(req, res));
      await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
      try {
        const port = (plain.address() as AddressInfo).port;
        const body = Buffer.alloc(TEN_MB, 0x20);
        const big = await socketExchange(port, {
          head: post('/elsewhere', `Content-Length: ${body.length}\r\n`),
          parts: pieces(body, 64 * 1024),
          limitMs: EXCHANGE_LIMIT_MS,
        });
        expectReadableRefusal(big, 404);
        const stalled = await socketExchange(port, {
          head: post('/elsewhere', 'Content-Length: 1000\r\n'),
          parts: ['[{'],
          limitMs: EXCHANGE_LIMIT_MS,
        });
        expectReadableRefusal(stalled, 404);
      } finally {
        await bayeux.close();
        plain.closeAllConnections();
        await new Promise<void>((r) => plain.close(() => r()));
      }
    });

    it('a refusal of a request whose body was read keeps the connection open', async function () {
      const body = '{"not":"a batch"';
      const r = await socketExchange(server.port, {
        head: post('/cometd', `Content-Length: ${Buffer.byteLength(body)}\r\n`),
        parts: [body],
        closeWhenAnswered: true,
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expect(r.status, r.raw).to.equal(400);
      expect(r.headers.connection).to.not.equal('close');
      expect(r.closedByServer).to.equal(false);
    });
  });

  describe('bodyTimeout', function () {
    it('a Content-Length larger than what is sent gets 408, then the connection closes', async function () {
      const r = await socketExchange(server.port, {
        head: post('/cometd', 'Content-Length: 100\r\n'),
        parts: ['[{"channel":'],
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 408);
      expect(r.body).to.contain(`${LIMITS.bodyTimeout} ms`);
    });

    it('a trickle of one byte every 100 ms gets 408', async function () {
      const body = JSON.stringify(HANDSHAKE);
      const r = await socketExchange(server.port, {
        head: post('/cometd', `Content-Length: ${body.length}\r\n`),
        parts: [...body],
        gapMs: 100,
        stopWhenAnswered: true,
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 408);
      expect(r.sentAll, 'the answer came before the body was complete').to.equal(false);
    });

    it('a chunked body whose last chunk never comes gets 408', async function () {
      const r = await socketExchange(server.port, {
        head: post('/cometd', 'Transfer-Encoding: chunked\r\n'),
        parts: chunked(Buffer.from(JSON.stringify(HANDSHAKE)), 16, false),
        limitMs: EXCHANGE_LIMIT_MS,
      });
      expectReadableRefusal(r, 408);
    });

    it('a normal request right after, on a new connection, works', async function () {
      const c = server.client();
      await c.handshake();
      const r = await c.connect();
      expect(replyOn(r, '/meta/connect').successful).to.equal(true);
      await c.disconnect();
    });

    it('a held /meta/connect is not cut by bodyTimeout', async function () {
      const c = await server.connectedClient();
      const held = c.connect();
      await waitForHold(server, c.clientId);
      // Held for `timeout` (1500 ms), five times bodyTimeout.
      const r = await held;
      const reply = replyOn(r, '/meta/connect');
      expect(reply.successful, JSON.stringify(reply)).to.equal(true);
      await c.disconnect();
    });
  });

  describe('bodies parsed by middleware', function () {
    afterEach(stopAllServers);

    it('a body express.json() already read is used, whatever bodyTimeout', async function () {
      const s = await startServer('express+parsers', { bodyTimeout: 100 });
      const res = await fetch(s.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(HANDSHAKE) });
      const text = await res.text();
      const reply = replyOn(expectBatch({ status: res.status, headers: res.headers, text }), '/meta/handshake');
      expect(reply.successful).to.equal(true);
      expect(s.stats.preParsedBodies).to.equal(1);
    });
  });

  describe('the bodyTimeout option', function () {
    it('defaults to 10000 ms and is checked at construction', async function () {
      const b = new BayeuxServer();
      expect(b.options.bodyTimeout).to.equal(10_000);
      await b.close();
      for (const bad of [0, 99, 1.5, -1, '1000', 10 * 60_000 + 1]) {
        expect(() => new BayeuxServer({ bodyTimeout: bad as number }), String(bad))
          .to.throw(TypeError, /bodyTimeout/)
          .with.property('code', 'ERR_BAYEUX_INVALID_OPTION');
      }
    });
  });
});
