/**
 * Property-based requests over real sockets: random JSON-ish, oversize, truncated
 * (declared length above what is sent) and trickled bodies, whole or chunked, to paths in
 * and outside the mount, with several methods. Every request gets a whole answer below
 * 500, within a bound, before its connection closes, and the client sees no socket error
 * while it sends its body (issue 13).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { RawServer, replyOn } from './support/raw-client.js';
import { chunked, pieces, socketExchange } from './support/socket-exchange.js';

const LIMITS = { maxBodyBytes: 4096, bodyTimeout: 300, timeout: 200, maxInterval: 60_000 };
/** Bound on one case: a generous multiple of what the slowest case needs (bodyTimeout, then the answer). */
const CASE_LIMIT_MS = 8000;

/** How the body is framed and sent. */
const framing = fc.constantFrom('exact', 'chunked', 'truncated', 'chunked-unfinished');

const handshake = fc.constant(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]));
const messages = fc
  .array(
    fc.record(
      {
        channel: fc.oneof(fc.constantFrom('/meta/handshake', '/meta/connect', '/meta/subscribe', '/a/b', '/service/x'), fc.string({ maxLength: 10 })),
        clientId: fc.string({ maxLength: 32 }),
        data: fc.jsonValue({ maxDepth: 2 }),
        id: fc.string({ maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
    { maxLength: 4 },
  )
  .map((batch) => JSON.stringify(batch));

const bodyText = fc.oneof(
  { weight: 2, arbitrary: messages },
  { weight: 1, arbitrary: handshake },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((s) => 'message=' + encodeURIComponent(s)) },
);
const body = fc.oneof(
  { weight: 4, arbitrary: bodyText.map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)) },
  // Oversize: past maxBodyBytes, up to several times it.
  { weight: 2, arbitrary: fc.integer({ min: LIMITS.maxBodyBytes + 1, max: LIMITS.maxBodyBytes * 5 }).map((n) => Buffer.alloc(n, 0x61)) },
);

const request = fc.record({
  method: fc.oneof({ weight: 3, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'GET') }),
  path: fc.constantFrom('/cometd', '/cometd/connect', '/elsewhere'),
  contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', null),
  body,
  framing,
  /** Piece size and gap: a burst (gap 0) or a trickle. */
  piece: fc.integer({ min: 1, max: 2048 }),
  gapMs: fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 20, max: 120 }) }),
  /** For 'truncated': how many more bytes are declared than sent. */
  missing: fc.integer({ min: 1, max: 5000 }),
});

type Case = typeof request extends fc.Arbitrary<infer T> ? T : never;

function build(c: Case): { head: string; parts: Buffer[] } {
  let head = `${c.method} ${c.path} HTTP/1.1\r\nHost: x\r\n`;
  if (c.contentType !== null) head += `Content-Type: ${c.contentType}\r\n`;
  // A trickle sends at most 12 pieces, so each case stays short.
  const size = c.gapMs > 0 ? Math.max(c.piece, Math.ceil(c.body.length / 12)) : c.piece;
  switch (c.framing) {
    case 'exact':
      return { head: head + `Content-Length: ${c.body.length}\r\n\r\n`, parts: pieces(c.body, size) };
    case 'truncated':
      return { head: head + `Content-Length: ${c.body.length + c.missing}\r\n\r\n`, parts: pieces(c.body, size) };
    case 'chunked':
      return { head: head + 'Transfer-Encoding: chunked\r\n\r\n', parts: chunked(c.body, size) };
    case 'chunked-unfinished':
      return { head: head + 'Transfer-Encoding: chunked\r\n\r\n', parts: chunked(c.body, size, false) };
  }
}

describe('HTTP fuzz: oversize, truncated and trickled bodies', function () {
  let server: RawServer;
  const errors: unknown[] = [];

  before(async function () {
    server = await RawServer.start(LIMITS);
    server.bayeux.on('error', (e) => errors.push(e));
  });
  after(async function () {
    await server.close();
  });

  it('every request gets a whole answer below 500, in time, before its connection closes, with no socket error', async function () {
    this.timeout(60_000);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (c) => {
        const { head, parts } = build(c);
        const r = await socketExchange(server.port, {
          head,
          parts,
          gapMs: c.gapMs,
          // A trickling client gives up once answered; one sending at full speed finishes its body.
          stopWhenAnswered: c.gapMs > 0,
          closeWhenAnswered: true,
          limitMs: CASE_LIMIT_MS,
        });
        const what = `${head.split('\r\n')[0]} (${c.framing}, ${c.body.length} bytes): errors ${JSON.stringify(r.errors)}, got ${JSON.stringify(r.raw.slice(0, 200))}`;
        expect(r.timedOut, `no answer within ${CASE_LIMIT_MS} ms: ${what}`).to.equal(false);
        expect(r.answered, `a whole answer before the connection closed: ${what}`).to.equal(true);
        expect(r.status, what).to.be.a('number').and.be.below(500);
        expect(r.errors, `socket errors: ${what}`).to.deep.equal([]);
        statuses.set(r.status!, (statuses.get(r.status!) ?? 0) + 1);
      }),
      { numRuns: 60, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: false, endOnFailure: true },
    );
    expect(errors, 'server error events').to.deep.equal([]);
    // Not a property, but a sign the cases reached the paths they are meant for.
    expect([...statuses.keys()].some((s) => s === 408 || s === 413), `statuses seen: ${JSON.stringify([...statuses])}`).to.equal(true);

    // The server still works for a client that behaves.
    const c = server.client();
    await c.handshake();
    expect(replyOn(await c.connect(), '/meta/connect').successful).to.equal(true);
    await c.disconnect();
  });
});
