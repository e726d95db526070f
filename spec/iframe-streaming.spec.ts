/**
 * iframe streaming on the wire: a GET with `transport=iframe` and the client's connect opens
 * an HTML document the server keeps writing to, one `<script>` per connect answer; the
 * document ends with a sign-off call at its maximum age or size or when a reply says so,
 * and mail published between two documents waits for the next one. Bad function names get
 * a plain-text 400; a client that goes away leaves nothing held.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import vm from 'node:vm';
import { expect } from 'chai';
import {
  ackExtension,
  callbackPolling,
  createHandler,
  iframeStreaming,
  longPolling,
  type BayeuxServerOptions,
  type IframeStreamingOptions,
  type IframeStreamingTransport,
  type Message,
} from '../index.js';
import { RawServer, deliveries, waitForHold, waitUntil, type RawClient, type RawResponse, type WireMessage } from './support/raw-client.js';
import { IframeDoc as Doc } from './support/iframe-document.js';
import { withTimeout } from './support/wait.js';

/** POSTs a connect for a ticket at `origin` (a RawServer, or another app's origin); returns the ticket. */
async function ticketFor(server: RawServer | string, connect: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify([connect]);
  const r =
    typeof server === 'string'
      ? await withTimeout(fetch(`${server}/cometd?transport=iframe`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } }), 'the ticket').then(async (res) => ({ status: res.status, text: await res.text(), headers: res.headers }))
      : await server.post(body, 'application/json', '/cometd?transport=iframe');
  expect(r.status, r.text).to.equal(200);
  expect(r.headers.get('cache-control')).to.include('no-store');
  const { ticket } = JSON.parse(r.text) as { ticket: unknown };
  expect(ticket).to.be.a('string');
  return ticket as string;
}

/** The query of a document opened with a ticket. */
function tunnelQuery(ticket: string, extra: Record<string, string> = {}): Record<string, string> {
  return { transport: 'iframe', ticket, callback: 'p.d', signoff: 'p.s', ...extra };
}

/** The connect reply (last message) of a connect answer. */
function connectReply(batch: WireMessage[]): WireMessage {
  const last = batch[batch.length - 1]!;
  expect(last.channel, JSON.stringify(batch)).to.equal('/meta/connect');
  return last;
}

function expectNoScript(r: RawResponse, name = ''): void {
  expect(r.status, r.text).to.equal(400);
  expect(r.headers.get('content-type')).to.match(/^text\/plain/);
  expect(r.headers.get('x-content-type-options')).to.equal('nosniff');
  expect(r.text).not.to.include('<script');
  if (name.length > 0) expect(r.text).not.to.include(name);
}

describe('iframe streaming', function () {
  let server: RawServer;
  let iframe: IframeStreamingTransport;
  const docs: Doc[] = [];

  async function start(options: IframeStreamingOptions = {}, bayeux: BayeuxServerOptions = {}, order: 'iframe-last' | 'iframe-first' = 'iframe-last'): Promise<RawServer> {
    iframe = iframeStreaming({ padding: 16, initialPadding: 32, ...options });
    const transports = order === 'iframe-last' ? [longPolling(), callbackPolling(), iframe] : [longPolling(), iframe, callbackPolling()];
    server = await RawServer.start({ timeout: 5000, ...bayeux }, { path: '/cometd', transports });
    return server;
  }

  /** A handshaken client (long-polling for everything but the document). */
  async function client(extra: Record<string, unknown> = {}): Promise<RawClient> {
    const c = server.client();
    await c.handshake({ supportedConnectionTypes: ['iframe', 'long-polling'], ...extra });
    return c;
  }

  async function open(connect: Record<string, unknown>, extra: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Doc> {
    const doc = await Doc.open(server, tunnelQuery(await ticketFor(server, connect), extra), headers);
    docs.push(doc);
    return doc;
  }

  /** Opens the first document of a session with CometD's first connect (`advice.timeout: 0`). */
  function openFirst(c: RawClient, extra: Record<string, unknown> = {}): Promise<Doc> {
    return open({ id: 'c1', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe', advice: { timeout: 0 }, ...extra });
  }

  afterEach(async function () {
    for (const d of docs.splice(0)) d.abort();
    await server?.close();
  });

  it('opens an HTML document and writes the connect answer as a script calling the parent', async function () {
    await start();
    const c = await client();
    const doc = await openFirst(c);
    expect(doc.status).to.equal(200);
    expect(doc.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(doc.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(doc.headers.get('cache-control')).to.equal('no-cache, no-store');
    expect(doc.headers.get('content-length'), 'the document has no end known in advance').to.equal(null);
    const [reply] = await doc.batch(0);
    expect(reply).to.deep.equal({ id: 'c1', channel: '/meta/connect', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 5000 } });
    const [nonce] = [...doc.nonces];
    expect(doc.headers.get('content-security-policy')).to.equal(`default-src 'none'; script-src 'nonce-${nonce}'; frame-ancestors 'self'`);
    expect(doc.headers.get('x-frame-options')).to.equal('SAMEORIGIN');
    const head = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>bayeux</title></head><body>\n' + ' '.repeat(32) + '\n';
    expect(doc.text.startsWith(head + `<script nonce="${nonce}">window.parent.p.d([{"id":"c1",`), doc.text).to.equal(true);
    // The document stays open: the server holds the session's next connect itself.
    await waitForHold(server, c.clientId);
    expect(doc.open, doc.describe()).to.equal(true);
    expect(iframe.openDocuments).to.equal(1);
  });

  it('writes several deliveries into one open document, each answer its own script followed by the padding', async function () {
    await start();
    const c = await client();
    await c.mustSubscribe('/stream/a');
    const doc = await openFirst(c);
    await doc.batch(0);
    for (let n = 1; n <= 3; n++) {
      await waitForHold(server, c.clientId);
      await server.bayeux.publish('/stream/a', { n });
      const batch = await doc.batch(n);
      expect(deliveries(batch)).to.deep.equal([{ channel: '/stream/a', data: { n } }]);
      // The server's own connects carry no id; the client matches the answer to its pending connect.
      expect(connectReply(batch)).to.deep.equal({ channel: '/meta/connect', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 5000 } });
    }
    expect(doc.open, doc.describe()).to.equal(true);
    expect(iframe.documentsOpened).to.equal(1);
    // Between two scripts: exactly the padding.
    const gaps = doc.text.split('</script>').slice(1, -1).map((rest) => rest.slice(0, rest.indexOf('<script')));
    expect(gaps).to.have.length(3);
    for (const gap of gaps) expect(gap).to.equal(' '.repeat(16) + '\n');
  });

  it('ends the document at its maximum age with a sign-off call; the held connect is let go', async function () {
    await start({ maxAge: 400 });
    const c = await client();
    const started = Date.now();
    const doc = await openFirst(c);
    await doc.batch(0);
    expect(await doc.signOff()).to.equal('maxAge');
    expect(Date.now() - started).to.be.at.least(390);
    expect(doc.calls.length, 'the connect answer and the sign-off').to.equal(2);
    await waitUntil(() => server.bayeux.connects.size === 0 && iframe.openDocuments === 0, 'no held connect, no open document');
  });

  it('ends the document once it has written maxBytes, after the answer that crossed the limit', async function () {
    await start({ maxBytes: 1200, padding: 0, initialPadding: 0 });
    const c = await client();
    await c.mustSubscribe('/stream/big');
    const doc = await openFirst(c);
    await doc.batch(0);
    const text = 'x'.repeat(300);
    let n = 0;
    while (!doc.ended && n < 10) {
      await waitUntil(() => doc.ended || server.bayeux.connects.get(c.clientId!) !== undefined, 'a held connect or the end');
      if (doc.ended) break;
      await server.bayeux.publish('/stream/big', { n: ++n, text });
      await doc.calls.atLeast(n + 1, `answer ${n}`);
    }
    expect(await doc.signOff()).to.equal('maxBytes');
    const bytes = Buffer.byteLength(doc.text);
    const beforeLast = Buffer.byteLength(doc.text.slice(0, doc.text.lastIndexOf('">window.parent.p.d(')));
    expect(beforeLast, 'the last answer started below the limit').to.be.below(1200);
    const signOff = doc.text.slice(doc.text.lastIndexOf('<script'));
    expect(signOff).to.match(/^<script nonce="[^"]+">window\.parent\.p\.s\(\{"reason":"maxBytes"\}\);<\/script><\/body><\/html>\n$/);
    expect(bytes - Buffer.byteLength(signOff), 'the answers crossed the limit').to.be.at.least(1200);
    expect(n, 'several answers in one document').to.be.at.least(2);
  });

  it('keeps a message published between two documents for the next one, which gets it at once', async function () {
    await start({ maxAge: 300 });
    const c = await client();
    await c.mustSubscribe('/stream/recycle');
    const first = await openFirst(c);
    expect(await first.signOff()).to.equal('maxAge');
    expect(server.bayeux.connects.get(c.clientId!), 'nothing held between documents').to.equal(undefined);
    expect(await server.bayeux.publish('/stream/recycle', { during: 'recycling' })).to.equal(1);
    const second = await open({ id: 'c2', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe' });
    const batch = await second.batch(0);
    expect(deliveries(batch)).to.deep.equal([{ channel: '/stream/recycle', data: { during: 'recycling' } }]);
    expect(connectReply(batch).id).to.equal('c2');
  });

  it('loses nothing while documents recycle under a steady stream of messages', async function () {
    this.timeout(20_000);
    await start({ maxAge: 150, padding: 0, initialPadding: 0 });
    const c = await client();
    await c.mustSubscribe('/stream/steady');
    const got: number[] = [];
    const total = 60;
    let published = 0;
    const publisher = setInterval(() => {
      if (published < total) void server.bayeux.publish('/stream/steady', { n: ++published });
    }, 10);
    try {
      let id = 0;
      let advice: Record<string, unknown> | undefined = { timeout: 0 };
      // A client that opens the next document as soon as one signs off, as the CometD transport does.
      for (let round = 0; round < 100 && got.length < total; round++) {
        const doc = await open({ id: `c${++id}`, channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe', ...(advice ? { advice } : {}) });
        advice = undefined;
        await withTimeout(doc.done, 'a document to end', 3000);
        for (const call of doc.calls.items) {
          if (call.fn !== 'p.d') continue;
          for (const m of deliveries(call.arg as WireMessage[])) got.push((m.data as { n: number }).n);
        }
      }
    } finally {
      clearInterval(publisher);
    }
    expect(got, 'every message once, in order').to.deep.equal(Array.from({ length: total }, (_, i) => i + 1));
    expect(iframe.documentsOpened, 'several documents').to.be.at.least(3);
  });

  it('writes a heartbeat when nothing else was written for `heartbeat` ms', async function () {
    await start({ heartbeat: 100, padding: 0 });
    const c = await client();
    const doc = await openFirst(c);
    await doc.batch(0);
    const tailNewlines = (): number => (doc.text.slice(doc.text.lastIndexOf('</script>')).match(/\n/g) ?? []).length;
    await waitUntil(() => tailNewlines() >= 3, 'two heartbeats after the padding newline', 2000);
    expect(doc.text.slice(doc.text.lastIndexOf('</script>') + '</script>'.length)).to.match(/^\n\n\n+$/);
    expect(doc.open, doc.describe()).to.equal(true);
  });

  it('answers an unknown session with 402 in the document, then signs off', async function () {
    await start();
    const doc = await open({ id: '9', channel: '/meta/connect', clientId: 'f'.repeat(32), connectionType: 'iframe' });
    const [reply] = await doc.batch(0);
    expect(reply).to.deep.include({ id: '9', channel: '/meta/connect', successful: false, error: '402::session_unknown' });
    expect(reply!.advice).to.deep.include({ reconnect: 'handshake' });
    expect(await doc.signOff()).to.equal('advice');
    expect(iframe.openDocuments).to.equal(0);
  });

  it('signs off when the session ends (reconnect none) and when another connection takes the session over', async function () {
    await start();
    const c = await client();
    const doc = await openFirst(c);
    await doc.batch(0);
    await waitForHold(server, c.clientId);
    await server.bayeux.session(c.clientId!).disconnect();
    const batch = await doc.batch(1);
    expect(connectReply(batch).advice).to.deep.include({ reconnect: 'none' });
    expect(await doc.signOff()).to.equal('advice');

    const d = await client();
    await d.mustSubscribe('/stream/takeover');
    const tunnel = await openFirst(d);
    await tunnel.batch(0);
    await waitForHold(server, d.clientId);
    // The same session long-polls: the document gives the session up instead of taking it back.
    const poll = d.connect();
    expect(await tunnel.signOff()).to.equal('takeover');
    await waitForHold(server, d.clientId);
    await server.bayeux.publish('/stream/takeover', { to: 'the poll' });
    expect(deliveries(await poll)).to.deep.equal([{ channel: '/stream/takeover', data: { to: 'the poll' } }]);
  });

  it('signs off with `draining` when the server drains, after answering the held connect with its mail', async function () {
    await start();
    const c = await client();
    await c.mustSubscribe('/stream/drain');
    const doc = await openFirst(c);
    await doc.batch(0);
    await waitForHold(server, c.clientId);
    // Queued before the hold's wake is flushed: the drain's answer carries it.
    await server.bayeux.publish('/stream/drain', { n: 1 });
    const drained = server.bayeux.drain();
    const batch = await doc.batch(1);
    expect(deliveries(batch)).to.deep.equal([{ channel: '/stream/drain', data: { n: 1 } }]);
    expect(connectReply(batch)).to.deep.equal({ channel: '/meta/connect', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 5000 } });
    // Not resubmitted here (it would be answered at once, again and again): the next document goes elsewhere.
    expect(await doc.signOff()).to.equal('draining');
    expect(await withTimeout(drained, 'the drain to resolve')).to.equal(true);
    expect(iframe.openDocuments).to.equal(0);
    // A document opened while draining: one answer, then the sign-off, and its connection ends with it.
    const next = await openFirst(c);
    expect(next.headers.get('connection')).to.equal('close');
    expect(connectReply(await next.batch(0))).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 5000 } });
    expect(await next.signOff()).to.equal('draining');
  });

  it('stops when the client goes away: nothing held, mail kept for the next connect', async function () {
    await start();
    const c = await client();
    await c.mustSubscribe('/stream/gone');
    const doc = await openFirst(c);
    await doc.batch(0);
    await waitForHold(server, c.clientId);
    doc.abort();
    await waitUntil(() => server.bayeux.connects.size === 0 && iframe.openDocuments === 0, 'the held connect and the document released');
    await server.bayeux.publish('/stream/gone', { kept: true });
    const answer = await c.connect({ advice: { timeout: 0 } });
    expect(deliveries(answer)).to.deep.equal([{ channel: '/stream/gone', data: { kept: true } }]);
    expect(server.bayeux.connects.size).to.equal(0);
    expect(iframe.documentsOpened).to.equal(1);
  });

  it('keeps data inside its script: `<`, `</script>`, `<!--<script>` and U+2028 are escaped, values unchanged', async function () {
    await start();
    const c = await client();
    await c.mustSubscribe('/stream/x');
    const doc = await openFirst(c, {});
    await doc.batch(0);
    await waitForHold(server, c.clientId);
    const data = { a: '</script><script>alert(1)</script>', b: '<!--<script>', c: 'line\u2028sep\u2029', d: '<\\/' };
    await server.bayeux.publish('/stream/x', data);
    await doc.batch(1);
    const body = doc.text.slice(doc.text.indexOf('<body>'));
    expect(body.split('<script').length - 1, 'only our own script tags').to.equal(2);
    expect(body.split('</script>').length - 1).to.equal(2);
    expect(body).not.to.include('<!--');
    expect(body).not.to.include('\u2028');
    // Run the scripts as a browser would and look at what the parent receives.
    const calls: unknown[] = [];
    const sandbox = { window: { parent: { p: { d: (m: unknown) => calls.push(m), s: () => undefined } } } };
    for (const m of body.matchAll(/<script nonce="[^"]+">([\s\S]*?)<\/script>/g)) vm.runInNewContext(m[1]!, sandbox, { timeout: 1000 });
    expect(calls).to.have.length(2);
    expect(deliveries(calls[1] as WireMessage[])[0]!.data).to.deep.equal(data);
  });

  for (const [what, query] of [
    ['a callback that is a statement', { callback: 'alert(1);x' }],
    ['a callback that closes the script', { callback: '</script><script>alert(1)' }],
    ['a callback of 129 characters', { callback: 'a'.repeat(129) }],
    ['a sign-off with a space', { signoff: 'x y' }],
    ['two callback parameters', 'dup'],
  ] as const) {
    it(`refuses ${what} with a plain-text 400 and no script`, async function () {
      await start();
      const c = await client();
      const ticket = await ticketFor(server, { id: '1', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe' });
      let q: string;
      if (query === 'dup') q = `transport=iframe&ticket=${ticket}&callback=a&callback=b&signoff=s`;
      else {
        const params = new URLSearchParams({ transport: 'iframe', ticket, callback: 'p.d', signoff: 'p.s' });
        for (const [k, v] of Object.entries(query)) params.set(k, v);
        q = params.toString();
      }
      const r = await server.request(`/cometd?${q}`);
      expectNoScript(r, typeof query === 'string' ? '' : Object.values(query)[0]!);
      expect(server.bayeux.connects.size).to.equal(0);
      expect(iframe.documentsOpened).to.equal(0);
    });
  }

  it('refuses a document request without one ticket, or with the connect in its URL (the old form), with a 400', async function () {
    await start();
    const c = await client();
    const connect = encodeURIComponent(JSON.stringify({ id: '1', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe' }));
    const ticket = await ticketFor(server, { channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe' });
    const bad = ['transport=iframe&callback=p.d', `transport=iframe&connect=${connect}`, `transport=iframe&ticket=${ticket}&ticket=${ticket}`];
    for (const q of bad) expectNoScript(await server.request(`/cometd?${q}`));
    expect(iframe.documentsOpened).to.equal(0);
  });

  it('refuses a ticket request that is not one /meta/connect with a clientId (400), too large (413), or past maxTickets (503)', async function () {
    await start({ maxTickets: 2, maxTicketBytes: 1024 });
    const c = await client();
    const post = (body: string): Promise<RawResponse> => server.post(body, 'application/json', '/cometd?transport=iframe');
    for (const body of [
      '{not json',
      JSON.stringify([{ channel: '/meta/handshake', version: '1.0' }]),
      JSON.stringify([{ channel: '/meta/connect' }]),
      JSON.stringify([{ channel: '/meta/connect', clientId: c.clientId }, { channel: '/meta/connect', clientId: c.clientId }]),
    ]) {
      const r = await post(body);
      expect(r.status, body + ' → ' + r.text).to.equal(400);
    }
    expect((await post(JSON.stringify([{ channel: '/meta/connect', clientId: c.clientId, ext: { pad: 'x'.repeat(2000) } }]))).status).to.equal(413);
    const connect = { channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe' };
    await ticketFor(server, connect);
    await ticketFor(server, connect);
    const full = await post(JSON.stringify([connect]));
    expect(full.status, full.text).to.equal(503);
    // Long-polling still takes every other POST, one naming it included.
    expect((await server.send([{ channel: '/meta/connect', clientId: c.clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]))[0]).to.include({ successful: true });
    const named = await server.post(JSON.stringify([{ channel: '/meta/connect', clientId: c.clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]), 'application/json', '/cometd?transport=long-polling');
    expect(named.status, named.text).to.equal(200);
    expect((JSON.parse(named.text) as WireMessage[])[0]).to.include({ successful: true });
  });

  it('opens the document with a single-use ticket: no clientId or ext in its URL; a second use and an expired ticket get a 403', async function () {
    await start({ ticketTimeout: 300 });
    const c = await client();
    const urls: string[] = [];
    server.bayeux.addExtension({
      incoming(message, context) {
        if (message.channel === '/meta/connect') urls.push(context.request?.url ?? '');
      },
    });
    const connect = { id: 'c1', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe', advice: { timeout: 0 }, ext: { token: 's3cret' } };
    const ticket = await ticketFor(server, connect);
    const doc = await Doc.open(server, tunnelQuery(ticket));
    docs.push(doc);
    expect(doc.status).to.equal(200);
    expect(connectReply(await doc.batch(0))).to.include({ id: 'c1', successful: true });
    await waitForHold(server, c.clientId);
    expect(urls.length).to.be.at.least(2);
    for (const url of urls) {
      expect(url).to.include(`ticket=${ticket}`);
      expect(url).not.to.include(c.clientId);
      expect(url).not.to.include('s3cret');
      expect(url).not.to.include('connect=');
    }
    // Used once: refused, and nothing opened.
    const again = await server.request(`/cometd?${new URLSearchParams(tunnelQuery(ticket))}`);
    expect(again.status, again.text).to.equal(403);
    expect(again.text).not.to.include('<script');
    // Expired before use.
    const late = await ticketFor(server, connect);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const expired = await server.request(`/cometd?${new URLSearchParams(tunnelQuery(late))}`);
    expect(expired.status, expired.text).to.equal(403);
    // Never issued.
    expect((await server.request(`/cometd?${new URLSearchParams(tunnelQuery('x'.repeat(24)))}`)).status).to.equal(403);
    expect(iframe.documentsOpened).to.equal(1);
  });

  it('submits its own connects with the opening connect’s ext, without id, advice, ack or timesync', async function () {
    await start();
    const connects: Message[] = [];
    server.bayeux.addExtension({
      incoming(message) {
        if (message.channel === '/meta/connect') connects.push(structuredClone(message));
      },
    });
    const c = await client();
    const doc = await openFirst(c, { ext: { token: 't0k', timesync: { tc: 1, l: 0, o: 0 } } });
    await doc.batch(0);
    await waitForHold(server, c.clientId);
    expect(connects).to.have.length(2);
    expect(connects[1]).to.deep.equal({ channel: '/meta/connect', connectionType: 'iframe', clientId: c.clientId, ext: { token: 't0k' } });
  });

  it('with acknowledged delivery, ends the document after an answer with mail so the client’s own connect acknowledges it', async function () {
    await start();
    server.bayeux.addExtension(ackExtension());
    const c = await client({ ext: { ack: true } });
    await c.mustSubscribe('/stream/ack');
    const acks: unknown[] = [];
    server.bayeux.addExtension({
      incoming(message) {
        if (message.channel === '/meta/connect') acks.push(message.ext?.ack);
      },
    });
    // An answer without mail is numbered as the client acknowledged already: the document goes on.
    const first = await openFirst(c, { ext: { ack: 0 } });
    expect(connectReply(await first.batch(0)).ext).to.deep.equal({ ack: 0 });
    await waitForHold(server, c.clientId);
    await server.bayeux.publish('/stream/ack', { n: 1 });
    const answer1 = await first.batch(1);
    expect(deliveries(answer1)).to.deep.equal([{ channel: '/stream/ack', data: { n: 1 } }]);
    const batch = (connectReply(answer1).ext as { ack: number }).ack;
    expect(batch).to.be.a('number');
    expect(await first.signOff()).to.equal('ack');
    // The client's next connect, with its acknowledgement, opens the next document.
    const second = await open({ id: 'c2', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe', ext: { ack: batch } });
    await waitForHold(server, c.clientId);
    await server.bayeux.publish('/stream/ack', { n: 2 });
    const answer2 = await second.batch(0);
    expect(deliveries(answer2), 'the acknowledged message is not sent again').to.deep.equal([{ channel: '/stream/ack', data: { n: 2 } }]);
    expect(connectReply(answer2).ext).to.deep.equal({ ack: batch + 1 });
    expect(await second.signOff()).to.equal('ack');
    expect(acks, 'the opening connect, the server’s own (no ack), the client’s with its acknowledgement').to.deep.equal([0, undefined, batch]);
  });

  it('counts toward maxSessionsPerBrowser: a second tab’s document signs off with the multiple-clients advice', async function () {
    await start({}, { multiSessionInterval: 500 });
    const cookie = { Cookie: 'BAYEUX_BROWSER=abcdefghijklmnop' };
    const a = await client();
    const b = await client();
    const docA = await open({ id: 'a1', channel: '/meta/connect', clientId: a.clientId, connectionType: 'iframe', advice: { timeout: 0 } }, {}, cookie);
    await docA.batch(0);
    await waitForHold(server, a.clientId);
    const docB = await open({ id: 'b1', channel: '/meta/connect', clientId: b.clientId, connectionType: 'iframe', advice: { timeout: 0 } }, {}, cookie);
    await docB.batch(0);
    const batch = await docB.batch(1);
    expect(connectReply(batch).advice).to.deep.include({ 'multiple-clients': true, interval: 500 });
    expect(await docB.signOff()).to.equal('advice');
    expect(docA.open, docA.describe()).to.equal(true);
  });

  it('never takes a JSONP GET, even listed before callback-polling; and is found when listed after it', async function () {
    await start({}, {}, 'iframe-first');
    const q = new URLSearchParams({ message: JSON.stringify({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['callback-polling'] }), jsonp: 'cb' });
    const r = await server.request(`/cometd?${q}`);
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    expect(r.text.startsWith('/**/cb([')).to.equal(true);
    await server.close();
    await start(); // iframe last (as in the default list)
    const c = await client();
    const doc = await openFirst(c);
    expect(doc.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    await doc.batch(0);
  });

  it('serves the CometD client transport at <mount>/iframe-transport.js, cacheable, with ETag revalidation', async function () {
    await start();
    const r = await server.request('/cometd/iframe-transport.js');
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    expect(r.headers.get('cache-control')).to.equal('public, max-age=3600');
    expect(r.headers.get('x-content-type-options')).to.equal('nosniff');
    const etag = r.headers.get('etag');
    expect(etag).to.match(/^"[A-Za-z0-9_-]+"$/);
    expect(r.text).to.include('BayeuxIframe');
    expect(() => new vm.Script(r.text), 'valid JavaScript').not.to.throw();
    const again = await server.request('/cometd/iframe-transport.js', { headers: { 'If-None-Match': etag! } });
    expect(again.status).to.equal(304);
    expect(again.text).to.equal('');
    const head = await server.request('/cometd/iframe-transport.js', { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(Number(head.headers.get('content-length'))).to.equal(Buffer.byteLength(r.text));
    await server.close();
    await start({ serveClient: false });
    expect((await server.request('/cometd/iframe-transport.js')).status).to.equal(400);
  });

  it('replaces a site-wide CSP and X-Frame-Options on the document (they would block it), keeping other headers', async function () {
    await start();
    const c = await client();
    const handle = createHandler(server.bayeux, { path: '/cometd', transports: [longPolling(), iframeStreaming()] });
    // An app whose middleware sets a strict policy on every response.
    const app = http.createServer((req, res) => {
      res.setHeader('Content-Security-Policy', "script-src 'self'");
      res.setHeader('X-Frame-Options', 'DENY');
      res.setHeader('X-App', 'kept');
      handle(req, res);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const controller = new AbortController();
    try {
      const appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
      const q = new URLSearchParams(tunnelQuery(await ticketFor(appOrigin, { id: '1', channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe', advice: { timeout: 0 } })));
      const res = await withTimeout(fetch(`${appOrigin}/cometd?${q}`, { signal: controller.signal }), 'the document head');
      expect(res.headers.get('content-security-policy')).to.match(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]+'; frame-ancestors 'self'$/);
      expect(res.headers.get('x-frame-options')).to.equal('SAMEORIGIN');
      expect(res.headers.get('x-app')).to.equal('kept');
    } finally {
      controller.abort();
      app.closeAllConnections();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    }
  });

  it('checks its options', function () {
    expect(() => iframeStreaming({ maxAge: 50 })).to.throw(TypeError, /maxAge/);
    expect(() => iframeStreaming({ maxBytes: 0 })).to.throw(TypeError, /maxBytes/);
    expect(() => iframeStreaming({ padding: -1 })).to.throw(TypeError, /padding/);
    expect(() => iframeStreaming({ defaultCallback: 'a;b' })).to.throw(TypeError, /defaultCallback/);
    expect(() => iframeStreaming({ callbackParameter: 'x', signOffParameter: 'x' })).to.throw(TypeError, /differ/);
    expect(() => iframeStreaming({ callbackParameter: 'ticket' })).to.throw(TypeError, /callbackParameter/);
    expect(() => iframeStreaming({ ticketTimeout: 50 })).to.throw(TypeError, /ticketTimeout/);
    expect(() => iframeStreaming({ maxTickets: 0 })).to.throw(TypeError, /maxTickets/);
    expect(() => iframeStreaming({ maxTicketBytes: 1 })).to.throw(TypeError, /maxTicketBytes/);
  });
});
