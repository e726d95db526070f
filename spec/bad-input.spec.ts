/**
 * Every bad input gets a clear answer — an HTTP 4xx when the request cannot be read as
 * Bayeux, a Bayeux error reply on the offending message otherwise — and never a 5xx, a
 * crash or a hang. After each one, clients that behave still work and lose nothing.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_CHANNEL_LENGTH } from '../lib/channel-name.js';
import {
  RawServer,
  deliveries,
  rawTcp,
  replyOn,
  type RawClient,
  type RawResponse,
  type WireMessage,
} from './support/raw-client.js';

const LIMITS = { maxBodyBytes: 8192, maxMessageBytes: 2048, maxBatchMessages: 10 };
const HANDSHAKE_ADVICE = { reconnect: 'handshake', interval: 0 };
const UNKNOWN_ID = '0123456789abcdef0123456789abcdef';

function expectHttpError(r: RawResponse, status: number): void {
  expect(r.status, `HTTP status (body: ${r.text.trim()})`).to.equal(status);
  expect(r.headers.get('content-type')).to.match(/^text\/plain/);
  expect(r.text).to.match(new RegExp(`^${status} \\S`));
}

function expectFailure(reply: WireMessage | undefined, error: string | RegExp): WireMessage {
  expect(reply, 'a reply').to.be.an('object');
  expect(reply!.successful, JSON.stringify(reply)).to.equal(false);
  if (typeof error === 'string') expect(reply!.error).to.equal(error);
  else expect(reply!.error).to.match(error);
  return reply!;
}

describe('bad input', function () {
  let server: RawServer;
  /** A well-behaved client subscribed to /healthy/** that must see every health-check message. */
  let watcher: RawClient;
  let checks = 0;
  const errors: unknown[] = [];

  before(async function () {
    server = await RawServer.start({ ...LIMITS, timeout: 2000, maxInterval: 60_000 });
    server.bayeux.on('error', (e) => errors.push(e));
    watcher = await server.connectedClient();
    await watcher.mustSubscribe('/healthy/**');
  });

  after(async function () {
    await server.close();
  });

  /**
   * A fresh client handshakes, subscribes and publishes; the watcher gets exactly the
   * message of this check and nothing went to the server's error event.
   */
  async function stillHealthy(): Promise<void> {
    const n = ++checks;
    const fresh = await server.connectedClient();
    await fresh.mustSubscribe('/healthy/fresh');
    const own = await fresh.publish('/healthy/fresh', { n });
    expect(replyOn(own, '/healthy/fresh').successful).to.equal(true);
    expect(deliveries(own), 'fresh client gets its own message piggy-backed').to.deep.equal([{ channel: '/healthy/fresh', data: { n } }]);
    const got = await watcher.connect();
    expect(deliveries(got), 'the watcher lost or gained messages').to.deep.equal([{ channel: '/healthy/fresh', data: { n } }]);
    expect(replyOn(got, '/meta/connect').successful).to.equal(true);
    await fresh.disconnect();
    expect(errors, 'server error events').to.deep.equal([]);
  }

  /** A test followed by the health check. */
  function bad(title: string, fn: () => Promise<void>): void {
    it(title, async function () {
      await fn();
      await stillHealthy();
    });
  }

  describe('requests that cannot be read as Bayeux get HTTP 400', function () {
    const cases: [string, string][] = [
      ['malformed JSON', '[{"channel":"/meta/handshake"'],
      ['JSON with trailing garbage', '[{"channel":"/a"}] x'],
      ['a JSON string', '"hello"'],
      ['a JSON number', '42'],
      ['JSON null', 'null'],
      ['JSON true', 'true'],
      ['an empty body', ''],
      ['a body of whitespace', ' \r\n\t '],
      ['an empty array', '[]'],
      ['an array with a number', '[1]'],
      ['an array with a string', '["/meta/handshake"]'],
      ['an array with null', '[null]'],
      ['an array with an array', '[[{"channel":"/meta/handshake"}]]'],
      ['a message without channel', '[{"id":"1","version":"1.0"}]'],
      ['a message whose channel is a number', '[{"channel":5}]'],
      ['a message whose channel is null', '[{"channel":null}]'],
      ['a message whose channel is an array', '[{"channel":["/meta/handshake"]}]'],
      ['a good message followed by a non-object', '[{"channel":"/meta/handshake","version":"1.0"},7]'],
      ['a handshake batched with a connect', '[{"channel":"/meta/handshake","version":"1.0"},{"channel":"/meta/connect","clientId":"x"}]'],
      ['two handshakes in one batch', '[{"channel":"/meta/handshake","version":"1.0"},{"channel":"/meta/handshake","version":"1.0"}]'],
    ];
    for (const [what, body] of cases) {
      bad(what, async function () {
        const before = await server.bayeux.sessionCount();
        expectHttpError(await server.post(body), 400);
        expect(await server.bayeux.sessionCount(), 'no session was created').to.equal(before);
      });
    }

    bad('a handshake batched with a publish: the publish is not processed either', async function () {
      const spy = await server.connectedClient();
      await spy.mustSubscribe('/spied');
      const r = await server.post(
        JSON.stringify([
          { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] },
          { channel: '/spied', clientId: spy.clientId, data: 'leak' },
        ]),
      );
      expectHttpError(r, 400);
      const got = await spy.connect({ advice: { timeout: 0 } });
      expect(deliveries(got)).to.deep.equal([]);
      await spy.disconnect();
    });

    bad('a message that is not an object, after a valid publish: nothing of the batch is processed', async function () {
      const spy = await server.connectedClient();
      await spy.mustSubscribe('/spied');
      const r = await server.post(JSON.stringify([{ channel: '/spied', clientId: spy.clientId, data: 1 }, 'oops']));
      expectHttpError(r, 400);
      expect(deliveries(await spy.connect({ advice: { timeout: 0 } }))).to.deep.equal([]);
      await spy.disconnect();
    });

    bad('a form body without a message parameter', async function () {
      expectHttpError(await server.post('msg=%5B%5D', 'application/x-www-form-urlencoded'), 400);
    });

    bad('a form message parameter that is not JSON', async function () {
      expectHttpError(await server.post('message=%5B%7B', 'application/x-www-form-urlencoded'), 400);
    });

    bad('more than maxBatchMessages messages', async function () {
      const c = await server.connectedClient();
      const batch = Array.from({ length: LIMITS.maxBatchMessages + 1 }, (_, i) => c.fill({ channel: '/healthy/x', data: i }));
      expectHttpError(await server.post(JSON.stringify(batch)), 400);
      // Exactly the limit is fine.
      const ok = await c.send(batch.slice(1));
      expect(ok.filter((m) => m.successful === true)).to.have.length(LIMITS.maxBatchMessages);
      // The watcher is subscribed to /healthy/**: it drains these before the health check.
      const drained = await watcher.connect();
      expect(deliveries(drained)).to.have.length(LIMITS.maxBatchMessages);
      await c.disconnect();
    });
  });

  describe('size limits', function () {
    const big = JSON.stringify([{ channel: '/healthy/x', data: 'x'.repeat(LIMITS.maxBodyBytes) }]);

    bad('a body over maxBodyBytes gets 413', async function () {
      expectHttpError(await server.post(big), 413);
    });

    bad('a form-encoded body over maxBodyBytes gets 413', async function () {
      expectHttpError(await server.post('message=' + encodeURIComponent(big), 'application/x-www-form-urlencoded'), 413);
    });

    bad('a declared Content-Length over the limit gets 413 at once, without waiting for the body', async function () {
      const r = await rawTcp(server.port, [
        'POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n[',
      ]);
      expect(r.status, r.text).to.equal(413);
      expect(r.ended).to.not.equal('timeout');
    });

    bad('a chunked body (no Content-Length) over the limit gets 413', async function () {
      const chunk = 'x'.repeat(1500);
      const head = 'POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
      const piece = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
      // Six pieces exceed 8192 bytes; the terminating chunk is never sent.
      const r = await rawTcp(server.port, [head, piece, piece, piece, piece, piece, piece]);
      expect(r.status, r.text).to.equal(413);
      expect(r.ended).to.not.equal('timeout');
    });

    bad('a chunked body under the limit is read in full', async function () {
      const c = await server.connectedClient();
      const body = JSON.stringify([c.fill({ channel: '/healthy/x', data: 'é'.repeat(500) })]);
      const bytes = Buffer.from(body);
      // Split inside a two-byte character to check the decoder joins chunks before decoding.
      const cut = bytes.indexOf(Buffer.from('é')) + 1;
      const part = (b: Buffer): Buffer => Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n')]);
      const r = await rawTcp(server.port, [
        'POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
        part(bytes.subarray(0, cut)),
        part(bytes.subarray(cut)),
        '0\r\n\r\n',
      ]);
      expect(r.status, r.text).to.equal(200);
      const drained = await watcher.connect();
      expect(deliveries(drained)).to.deep.equal([{ channel: '/healthy/x', data: 'é'.repeat(500) }]);
      await c.disconnect();
    });

    bad('a Content-Length shorter than the body: the truncated body gets 400, the rest does not hang', async function () {
      const body = JSON.stringify([{ channel: '/meta/handshake', version: '1.0' }]);
      const r = await rawTcp(server.port, [
        `POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n${body}`,
      ]);
      expect(r.status, r.text).to.equal(400);
      expect(r.ended).to.not.equal('timeout');
    });

    bad('a message over maxMessageBytes gets an error; the other messages of the batch are processed', async function () {
      const sender = await server.connectedClient();
      const r = await sender.send([
        { channel: '/healthy/a', data: 'small 1', id: 'm1' },
        { channel: '/healthy/a', data: 'x'.repeat(LIMITS.maxMessageBytes), id: 'm2' },
        { channel: '/healthy/a', data: 'small 2', id: 'm3' },
      ]);
      const replies = r.filter((m) => 'successful' in m);
      expect(replies.map((m) => m.successful)).to.deep.equal([true, false, true]);
      expect(replies[1]!.error).to.equal(`413:${LIMITS.maxMessageBytes}:message_too_large`);
      expect(replies.map((m) => m.id)).to.deep.equal(['m1', 'm2', 'm3']);
      const drained = await watcher.connect();
      expect(deliveries(drained).map((m) => m.data)).to.deep.equal(['small 1', 'small 2']);
      await sender.disconnect();
    });
  });

  describe('requests no transport accepts', function () {
    bad('unsupported content type gets 415', async function () {
      expectHttpError(await server.post('<message channel="/meta/handshake"/>', 'application/xml'), 415);
    });

    bad('multipart/form-data gets 415', async function () {
      const body = '--b\r\nContent-Disposition: form-data; name="message"\r\n\r\n[]\r\n--b--\r\n';
      expectHttpError(await server.post(body, 'multipart/form-data; boundary=b'), 415);
    });

    bad('GET without parameters gets 400', async function () {
      expectHttpError(await server.request('/cometd'), 400);
    });

    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      bad(`${method} gets 405 with an Allow header`, async function () {
        const r = await server.request('/cometd', { method, body: '[]', headers: { 'Content-Type': 'application/json' } });
        expectHttpError(r, 405);
        expect(r.headers.get('allow')).to.include('POST');
      });
    }
  });

  describe('channel names', function () {
    const invalid = [
      '/',
      '//a',
      '/a//b',
      '/a/',
      '/a/*/b',
      '/a/**/b',
      '/a/***',
      '/a/b*',
      'foo',
      'a/b',
      '',
      '/' + 'a'.repeat(MAX_CHANNEL_LENGTH),
      '/a?b',
      '/a%20b',
      '/a,b',
      '/a\\b',
      '/a"b',
      '/a\nb',
      '/a\u0000b',
      '/caf\u00e9',
      '/\u{1F600}',
    ];

    bad('publishing to an invalid channel name gets 405::channel_invalid', async function () {
      const c = await server.connectedClient();
      for (const name of invalid) {
        const r = await c.publish(name, 'x', { id: 'p' });
        expect(r, `publish to ${JSON.stringify(name)}`).to.have.length(1);
        const reply = expectFailure(r[0], /^405:/);
        expect(reply.id).to.equal('p');
      }
      await c.disconnect();
    });

    bad('subscribing to an invalid channel name gets 405', async function () {
      const c = await server.connectedClient();
      for (const name of invalid) {
        const r = await c.subscribe(name);
        const reply = expectFailure(replyOn(r, '/meta/subscribe'), /^405:/);
        expect(reply.subscription).to.equal(name);
      }
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
      await c.disconnect();
    });

    bad('an invalid name in a subscription array refuses the whole subscribe', async function () {
      const c = await server.connectedClient();
      const r = await c.subscribe(['/ok', '/a//b']);
      expectFailure(replyOn(r, '/meta/subscribe'), /^405:/);
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
      await c.disconnect();
    });

    bad('publishing to a wildcard channel gets 405', async function () {
      const c = await server.connectedClient();
      for (const name of ['/healthy/*', '/healthy/**', '/*', '/**']) {
        expectFailure((await c.publish(name, 'x'))[0], /^405:/);
      }
      await c.disconnect();
    });

    bad('publishing to /meta channels gets 403', async function () {
      const c = await server.connectedClient();
      for (const name of ['/meta/**', '/meta/*', '/meta/foo', '/meta/connect/x', '/meta/handshake/extra']) {
        expectFailure((await c.publish(name, 'x'))[0], /^403:/);
      }
      await c.disconnect();
    });

    bad('subscribing to /meta channels gets 403', async function () {
      const c = await server.connectedClient();
      for (const name of ['/meta/**', '/meta/*', '/meta/connect', '/meta/subscribe', '/meta/foo']) {
        const reply = expectFailure(replyOn(await c.subscribe(name), '/meta/subscribe'), /^403:/);
        expect(reply.subscription).to.equal(name);
      }
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
      await c.disconnect();
    });

    bad('an unknown /meta channel gets 403 even without a session', async function () {
      const [reply] = await server.send([{ channel: '/meta/ping', id: '1' }]);
      expectFailure(reply, '403:/meta/ping:channel_create_denied');
    });
  });

  describe('fields of the wrong type get an error reply on that message', function () {
    let c: RawClient;
    beforeEach(async function () {
      c = await server.connectedClient();
    });
    afterEach(async function () {
      await c.disconnect();
    });

    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['id that is an object', { channel: '/healthy/t', data: 1, id: { a: 1 } }, /^405::id_invalid$/],
      ['id that is an array', { channel: '/healthy/t', data: 1, id: ['1'] }, /^405::id_invalid$/],
      ['id that is a boolean', { channel: '/healthy/t', data: 1, id: true }, /^405::id_invalid$/],
      ['clientId that is a number', { channel: '/meta/connect', connectionType: 'long-polling', clientId: 12 }, /^405::clientId_invalid$/],
      ['advice that is a string', { channel: '/meta/connect', connectionType: 'long-polling', advice: 'now' }, /^405::advice_invalid$/],
      ['advice.timeout that is negative', { channel: '/meta/connect', connectionType: 'long-polling', advice: { timeout: -1 } }, /^405::advice\.timeout_invalid$/],
      ['advice.timeout that is a string', { channel: '/meta/connect', connectionType: 'long-polling', advice: { timeout: '0' } }, /^405::advice\.timeout_invalid$/],
      ['advice.reconnect that is a number', { channel: '/meta/connect', connectionType: 'long-polling', advice: { reconnect: 7 } }, /^405::advice\.reconnect_invalid$/],
      ['connectionType that is a number', { channel: '/meta/connect', connectionType: 1 }, /^405::connectionType_invalid$/],
      ['ext that is a string', { channel: '/healthy/t', data: 1, ext: 'x' }, /^405::ext_invalid$/],
      ['ext that is an array', { channel: '/healthy/t', data: 1, ext: [] }, /^405::ext_invalid$/],
      ['subscription that is a number', { channel: '/meta/subscribe', subscription: 5 }, /^403::subscription_invalid$/],
      ['subscription that is an empty array', { channel: '/meta/subscribe', subscription: [] }, /^403::subscription_invalid$/],
      ['subscription array with a non-string', { channel: '/meta/subscribe', subscription: ['/a', 5] }, /^403::subscription_invalid$/],
      ['subscription that is an object', { channel: '/meta/subscribe', subscription: { '/a': true } }, /^403::subscription_invalid$/],
      ['subscription missing', { channel: '/meta/subscribe' }, /^403::subscription_missing$/],
      ['unsubscribe with a number', { channel: '/meta/unsubscribe', subscription: 5 }, /^403::subscription_invalid$/],
      ['unsubscribe with subscription missing', { channel: '/meta/unsubscribe' }, /^403::subscription_missing$/],
    ];
    for (const [what, message, error] of cases) {
      bad(what, async function () {
        const r = await c.send(message);
        expect(r, JSON.stringify(r)).to.have.length(1);
        const reply = expectFailure(r[0], error);
        expect(reply.channel).to.equal(message.channel);
        // An id that could be echoed is echoed; one of a wrong type is left out.
        if (typeof message.id === 'object' || typeof message.id === 'boolean') expect(reply).to.not.have.property('id');
        else expect(reply.id).to.be.a('string');
      });
    }

    bad('client advice is a hint: an unknown reconnect value (the old drafts had "recover") is accepted', async function () {
      const r = await c.send({ channel: '/meta/connect', connectionType: 'long-polling', advice: { reconnect: 'recover', timeout: 0 } });
      expect(replyOn(r, '/meta/connect').successful, JSON.stringify(r)).to.equal(true);
    });

    bad('a bad message in a batch fails alone; the others are processed in order', async function () {
      const r = await c.send([
        { channel: '/healthy/t', data: 1, id: 'a' },
        { channel: '/healthy/t', data: 2, id: { no: 1 } },
        { channel: '/healthy/t', data: 3, id: 'c' },
      ]);
      expect(r.map((m) => [m.id, m.successful])).to.deep.equal([
        ['a', true],
        [undefined, false],
        ['c', true],
      ]);
      const drained = await watcher.connect();
      expect(deliveries(drained).map((m) => m.data)).to.deep.equal([1, 3]);
    });

    bad('a __proto__ field cannot smuggle in other fields', async function () {
      const body = `[{"channel":"/meta/connect","id":"7","connectionType":"long-polling","__proto__":{"clientId":"${c.clientId}","advice":{"timeout":0}}}]`;
      const [reply] = expectBatchOf(await server.post(body));
      expectFailure(reply, '401::client_id_missing');
    });

    bad('handshake with version "2.0" gets 300', async function () {
      const before = await server.bayeux.sessionCount();
      const [reply] = await server.send([{ channel: '/meta/handshake', version: '2.0', supportedConnectionTypes: ['long-polling'], id: '1' }]);
      expectFailure(reply, /^300:2\.0:/);
      expect(reply!.advice).to.deep.include({ reconnect: 'none' });
      expect(reply).to.not.have.property('clientId');
      expect(await server.bayeux.sessionCount()).to.equal(before);
    });

    bad('handshake with version "0.9" gets 300', async function () {
      const [reply] = await server.send([{ channel: '/meta/handshake', version: '0.9', supportedConnectionTypes: ['long-polling'], id: '1' }]);
      expectFailure(reply, /^300:0\.9:/);
    });

    bad('handshake with version 0.1 (a number, dojo 0.4) gets 300', async function () {
      const [reply] = await server.send([{ channel: '/meta/handshake', version: 0.1, supportedConnectionTypes: ['long-polling'], id: '1' }]);
      expectFailure(reply, /^300:/);
    });

    bad('handshake whose connection types share nothing with ours gets 301 listing ours', async function () {
      const before = await server.bayeux.sessionCount();
      for (const offered of [['flash', 'java-applet'], []]) {
        const [reply] = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: offered, id: '1' }]);
        expectFailure(reply, /^301:/);
        expect(reply!.supportedConnectionTypes).to.deep.equal(['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource']);
        expect(reply!.advice).to.deep.include({ reconnect: 'none' });
      }
      expect(await server.bayeux.sessionCount()).to.equal(before);
    });

    bad('connect with an unknown connectionType gets 301', async function () {
      const [reply] = await c.send({ channel: '/meta/connect', connectionType: 'flash' });
      expectFailure(reply, /^301:flash:/);
      expect(await server.bayeux.session(c.clientId!).exists(), 'the session stays').to.equal(true);
    });
  });

  describe('sessions', function () {
    const needSession: [string, Record<string, unknown>][] = [
      ['connect', { channel: '/meta/connect', connectionType: 'long-polling' }],
      ['subscribe', { channel: '/meta/subscribe', subscription: '/healthy/x' }],
      ['unsubscribe', { channel: '/meta/unsubscribe', subscription: '/healthy/x' }],
      ['publish', { channel: '/healthy/x', data: 'intruder' }],
      ['service publish', { channel: '/service/x', data: 'intruder' }],
      ['disconnect', { channel: '/meta/disconnect' }],
    ];
    for (const [what, message] of needSession) {
      bad(`${what} with an unknown clientId gets 402 and advice to handshake`, async function () {
        const [reply] = await server.send([{ ...message, clientId: UNKNOWN_ID, id: '42' }]);
        expectFailure(reply, '402::session_unknown');
        expect(reply!.advice).to.deep.equal(HANDSHAKE_ADVICE);
        expect(reply!.id).to.equal('42');
        if ('subscription' in message) expect(reply!.subscription).to.equal(message.subscription);
      });

      bad(`${what} without clientId gets 401 and advice to handshake`, async function () {
        const [reply] = await server.send([{ ...message, id: '43' }]);
        expectFailure(reply, '401::client_id_missing');
        expect(reply!.advice).to.deep.equal(HANDSHAKE_ADVICE);
      });
    }

    bad('a disconnected clientId is unknown afterwards', async function () {
      const c = await server.connectedClient();
      expect(replyOn(await c.disconnect(), '/meta/disconnect').successful).to.equal(true);
      expectFailure((await c.publish('/healthy/x', 1))[0], '402::session_unknown');
      expectFailure((await c.connect())[0], '402::session_unknown');
      expectFailure((await c.disconnect())[0], '402::session_unknown');
    });

    bad('publish without data gets 400::data_missing and reaches no subscriber', async function () {
      const c = await server.connectedClient();
      const [reply] = await c.send({ channel: '/healthy/x' });
      expectFailure(reply, '400::data_missing');
      await c.disconnect();
    });

    bad('publish with data null is a real publish', async function () {
      const c = await server.connectedClient();
      const [reply] = await c.publish('/healthy/x', null);
      expect(reply!.successful).to.equal(true);
      const drained = await watcher.connect();
      expect(deliveries(drained)).to.deep.equal([{ channel: '/healthy/x', data: null }]);
      await c.disconnect();
    });
  });

  // With default limits a deep message reaches the handlers; with a small maxMessageBytes the size check meets it first.
  for (const [label, options] of [
    ['default limits', {}],
    ['a small maxMessageBytes', { maxMessageBytes: 4096 }],
  ] as const) describe(`data nested too deeply to serialize (${label})`, function () {
    let deepServer: RawServer;
    const deepErrors: unknown[] = [];
    before(async function () {
      deepServer = await RawServer.start(options);
      deepServer.bayeux.on('error', (e) => deepErrors.push(e));
    });
    after(async function () {
      await deepServer.close();
    });
    afterEach(function () {
      // A client's bad input is not a server error: nothing for the operator's error log.
      expect(deepErrors.splice(0)).to.deep.equal([]);
    });

    /** Posts `batch` (JSON text) and checks the answer is a 4xx; returns the replies when HTTP 200. */
    async function expect4xx(body: string): Promise<WireMessage[] | null> {
      const r = await deepServer.post(body);
      if (r.status !== 200) {
        expectHttpError(r, 400);
        return null;
      }
      const replies = expectBatchOf(r);
      for (const m of replies) if (m.successful === false) expect(m.error, JSON.stringify(m)).to.match(/^4\d\d:/);
      return replies;
    }

    for (const depth of [8_000, 100_000]) {
      it(`publish with data nested ${depth} deep gets a 4xx (a Bayeux error or HTTP 400), never 500`, async function () {
        const c = await deepServer.connectedClient();
        await c.mustSubscribe('/deep');
        const deep = '['.repeat(depth) + ']'.repeat(depth);
        const replies = await expect4xx(`[{"channel":"/deep","id":"d","clientId":"${c.clientId}","data":${deep}}]`);
        if (replies) expectFailure(replyOn(replies, '/deep'), /^4\d\d:/);
        // Nothing was queued for the subscriber, and it still works.
        const after = await c.publish('/deep', [[1]]);
        expect(deliveries(after)).to.deep.equal([{ channel: '/deep', data: [[1]] }]);
        await c.disconnect();
      });

      it(`subscribe with a subscription nested ${depth} deep gets a 4xx`, async function () {
        const c = await deepServer.connectedClient();
        const deep = '['.repeat(depth) + ']'.repeat(depth);
        const replies = await expect4xx(`[{"channel":"/meta/subscribe","id":"s","clientId":"${c.clientId}","subscription":${deep}}]`);
        if (replies) expectFailure(replyOn(replies, '/meta/subscribe'), /^4\d\d:/);
        expect(await c.server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
        await c.disconnect();
      });

      it(`a batch with a good publish and a message nested ${depth} deep: the good one is applied only if answered`, async function () {
        const c = await deepServer.connectedClient();
        await c.mustSubscribe('/deep');
        const deep = '['.repeat(depth) + ']'.repeat(depth);
        const good = JSON.stringify({ channel: '/deep', id: 'g', clientId: c.clientId, data: 'good' });
        const replies = await expect4xx(`[${good},{"channel":"/deep","id":"d","clientId":"${c.clientId}","ext":{"x":${deep}},"data":1}]`);
        const got = deliveries(replies ?? []).concat(deliveries(await c.connect({ advice: { timeout: 0 } })));
        if (replies) {
          expect(replies.find((m) => m.id === 'g')?.successful).to.equal(true);
          expect(replies.find((m) => m.id === 'd')?.successful).to.equal(false);
          expect(got).to.deep.equal([{ channel: '/deep', data: 'good' }]);
        } else {
          expect(got, 'refused as a whole, yet partly applied').to.deep.equal([]);
        }
        await c.disconnect();
      });
    }
  });

  describe('properties', function () {
    // A server of its own: held connects end fast, and nothing here disturbs the watcher.
    let fuzz: RawServer;
    let fuzzErrors: unknown[];
    let known: string[];
    before(async function () {
      fuzz = await RawServer.start({ ...LIMITS, timeout: 30 });
      fuzzErrors = [];
      fuzz.bayeux.on('error', (e) => fuzzErrors.push(e));
      known = [];
      for (let i = 0; i < 3; i++) known.push((await fuzz.connectedClient()).clientId!);
    });
    after(async function () {
      await fuzz.close();
    });

    it('arbitrary bytes under any content type get 200, 400, 413 or 415, never a 5xx or a hang', async function () {
      this.timeout(30_000);
      const types = fc.constantFrom(
        null,
        'application/json',
        'text/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
        'application/json; charset=latin1',
      );
      const bodies = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
        fc.json({ maxDepth: 4 }).map((s) => new TextEncoder().encode(s)),
        fc.string({ maxLength: 100 }).map((s) => new TextEncoder().encode('message=' + s)),
        fc.uint8Array({ minLength: LIMITS.maxBodyBytes + 1, maxLength: LIMITS.maxBodyBytes + 500 }),
      );
      await fc.assert(
        fc.asyncProperty(bodies, types, async (body, type) => {
          const r = await fuzz.post(body, type);
          expect([200, 400, 413, 415]).to.include(r.status);
          if (r.status === 200) checkReplies(expectBatchOf(r));
        }),
        { numRuns: 150 },
      );
      expect(fuzzErrors).to.deep.equal([]);
    });

    it('arbitrary message-like objects get one well-formed reply each, or HTTP 400', async function () {
      this.timeout(30_000);
      const channel = fc.oneof(
        fc.constantFrom('/meta/handshake', '/meta/connect', '/meta/subscribe', '/meta/unsubscribe', '/meta/disconnect', '/meta/x'),
        fc.constantFrom('/a', '/a/b', '/a/*', '/a/**', '/service/s', '/', '//', 'x'),
        fc.string({ maxLength: 12 }),
        fc.jsonValue({ maxDepth: 1 }),
      );
      const anything = fc.jsonValue({ maxDepth: 3 });
      const message = fc.record(
        {
          channel,
          id: fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), anything),
          clientId: fc.oneof(fc.constantFrom(...known, UNKNOWN_ID), anything),
          data: anything,
          subscription: fc.oneof(fc.constantFrom('/a', '/a/*', ['/a', '/b/**'], '/service/x', '/meta/x'), anything),
          advice: fc.oneof(fc.record({ timeout: fc.oneof(fc.nat(50), anything) }, { requiredKeys: [] }), anything),
          connectionType: fc.oneof(fc.constant('long-polling'), anything),
          supportedConnectionTypes: fc.oneof(fc.constant(['long-polling']), anything),
          version: fc.oneof(fc.constantFrom('1.0', '1', 1, '2.0'), anything),
          ext: anything,
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 4 }), async (batch) => {
          const r = await fuzz.post(JSON.stringify(batch));
          expect([200, 400], r.text).to.include(r.status);
          if (r.status !== 200) return;
          const replies = checkReplies(expectBatchOf(r));
          // A server-initiated notice aside, every message got exactly one reply.
          expect(replies.length, r.text).to.equal(batch.length);
        }),
        { numRuns: 300 },
      );
      expect(fuzzErrors).to.deep.equal([]);
      // The server still serves a well-behaved client.
      const c = await fuzz.connectedClient();
      await c.mustSubscribe('/z');
      expect(deliveries(await c.publish('/z', 'ok'))).to.deep.equal([{ channel: '/z', data: 'ok' }]);
    });
  });
});

function expectBatchOf(r: RawResponse): WireMessage[] {
  expect(r.status, r.text).to.equal(200);
  expect(r.headers.get('content-type')).to.match(/^application\/json/);
  const v: unknown = JSON.parse(r.text);
  expect(v).to.be.an('array').that.is.not.empty;
  return v as WireMessage[];
}

/** Checks the shape of every message of a 200 answer and returns the replies. */
function checkReplies(messages: WireMessage[]): WireMessage[] {
  const replies: WireMessage[] = [];
  for (const m of messages) {
    expect(m.channel, JSON.stringify(m)).to.be.a('string');
    if ('successful' in m && !('data' in m)) {
      replies.push(m);
      expect(m.successful).to.be.a('boolean');
      if (m.successful === false) {
        expect(m.error, JSON.stringify(m)).to.be.a('string').and.match(/^[34]\d\d:/);
      }
      if ('id' in m) expect(m.id).to.be.a('string');
    } else {
      expect(m, 'a delivery').to.have.property('data');
      expect(m).to.not.have.property('clientId');
    }
  }
  return replies;
}
