/**
 * callback-polling (JSONP) on the wire: a GET with `message` and `jsonp` gets a script
 * calling the named callback with the reply array; callback names are checked, and a bad
 * one gets a plain-text 400 with nothing of the name in it. Connects hold and release as
 * with long-polling.
 */
import vm from 'node:vm';
import { expect } from 'chai';
import { RawServer, deliveries, replyOn, waitForHold, type RawClient, type RawResponse, type WireMessage } from './support/raw-client.js';

/** GETs `path?message=<json>&jsonp=<cb>` (each `message` value its own parameter). */
function jsonpGet(server: RawServer, messages: unknown[], callback: string | null = 'cb', extra: [string, string][] = [], path = '/cometd'): Promise<RawResponse> {
  const q = new URLSearchParams();
  for (const m of messages) q.append('message', JSON.stringify(m));
  if (callback !== null) q.append('jsonp', callback);
  for (const [k, v] of extra) q.append(k, v);
  return server.request(`${path}?${q.toString()}`);
}

/** Checks the script shape and runs it, returning what the callback was called with. */
function runScript(r: RawResponse, callback: string): WireMessage[] {
  expect(r.status, r.text).to.equal(200);
  expect(r.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
  expect(r.headers.get('x-content-type-options')).to.equal('nosniff');
  expect(r.headers.get('cache-control')).to.equal('no-cache, no-store');
  expect(r.text.startsWith(`/**/${callback}(`), r.text).to.equal(true);
  expect(r.text.endsWith(');')).to.equal(true);
  const calls: unknown[][] = [];
  // Build the object path the callback names (dotted names are members of members).
  const sandbox: Record<string, unknown> = {};
  const parts = callback.split('.');
  let at = sandbox;
  for (const p of parts.slice(0, -1)) at = (at[p] = {}) as Record<string, unknown>;
  at[parts[parts.length - 1]!] = (...args: unknown[]) => calls.push(args);
  vm.runInNewContext(r.text, sandbox, { timeout: 1000 });
  expect(calls, 'the callback is called once').to.have.length(1);
  expect(calls[0], 'with one argument').to.have.length(1);
  expect(calls[0]![0]).to.be.an('array');
  return calls[0]![0] as WireMessage[];
}

function expectNoScript(r: RawResponse, name: string): void {
  expect(r.status, r.text).to.equal(400);
  expect(r.headers.get('content-type')).to.match(/^text\/plain/);
  expect(r.headers.get('x-content-type-options')).to.equal('nosniff');
  if (name.length > 0) expect(r.text).not.to.include(name);
  expect(r.text, 'no call with a reply array').not.to.match(/\(\s*\[/);
}

const HANDSHAKE = { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['callback-polling'], id: '1' };

describe('callback-polling (JSONP)', function () {
  let server: RawServer;

  beforeEach(async function () {
    server = await RawServer.start({ timeout: 2000 });
  });
  afterEach(async function () {
    await server.close();
  });

  async function jsonpHandshake(callback = 'cb'): Promise<string> {
    const [reply] = runScript(await jsonpGet(server, [HANDSHAKE], callback), callback);
    expect(reply).to.include({ channel: '/meta/handshake', successful: true, id: '1' });
    return reply!.clientId as string;
  }

  it('handshakes over JSONP; the handshake advertises long-polling and callback-polling', async function () {
    const [reply] = runScript(await jsonpGet(server, [HANDSHAKE], '_cometd_jsonp_1'), '_cometd_jsonp_1');
    expect(reply).to.deep.include({ successful: true, supportedConnectionTypes: ['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource'] });
  });

  it('uses jsonpcallback when no jsonp parameter is given', async function () {
    const [reply] = runScript(await jsonpGet(server, [HANDSHAKE], null), 'jsonpcallback');
    expect(reply).to.include({ successful: true });
  });

  it('accepts the names real clients generate: CometD, Faye and dotted Dojo names', async function () {
    for (const name of ['_cometd_jsonp_12', '__jsonp3__', 'dojo.io.script.jsonp_dojoIoScript3._jsonpCallback', '$', 'a1.$b_2']) {
      await jsonpHandshake(name);
    }
  });

  it('answers on the sub-paths the CometD client appends', async function () {
    for (const path of ['/cometd/handshake', '/cometd/']) {
      const [reply] = runScript(await jsonpGet(server, [HANDSHAKE], 'cb', [], path), 'cb');
      expect(reply).to.include({ successful: true });
    }
  });

  const badNames = [
    'alert(1);x',
    '</script>',
    'a'.repeat(129),
    '1abc',
    '.a',
    'a.',
    'a..b',
    'a b',
    'a-b',
    'x=1',
    'cb\u2028',
    'cb//',
    '',
  ];
  for (const name of badNames) {
    it(`refuses the callback name ${JSON.stringify(name.length > 20 ? name.slice(0, 8) + `…(${name.length})` : name)} with a 400 and no script`, async function () {
      const before = await server.bayeux.sessionCount();
      expectNoScript(await jsonpGet(server, [HANDSHAKE], name), name);
      expect(await server.bayeux.sessionCount(), 'nothing was processed').to.equal(before);
    });
  }

  it('accepts a name of exactly 128 characters', async function () {
    await jsonpHandshake('a'.repeat(128));
  });

  it('refuses two jsonp parameters', async function () {
    const r = await jsonpGet(server, [HANDSHAKE], 'cb', [['jsonp', 'other']]);
    expectNoScript(r, 'other');
  });

  it('refuses a message parameter that is not JSON, or not an object or array, with no script', async function () {
    for (const bad of ['{', '42', '"x"', 'null']) {
      const r = await server.request(`/cometd?jsonp=cb&message=${encodeURIComponent(bad)}`);
      expectNoScript(r, 'cb(');
    }
  });

  it('takes one object, an array, or several message parameters as one batch', async function () {
    const clientId = await jsonpHandshake();
    const one = runScript(
      await server.request(`/cometd?jsonp=cb&message=${encodeURIComponent(JSON.stringify({ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id: '2' }))}`),
      'cb',
    );
    expect(replyOn(one, '/meta/connect')).to.include({ successful: true, id: '2' });
    const several = runScript(
      await jsonpGet(server, [
        { channel: '/meta/subscribe', clientId, subscription: '/a', id: '3' },
        [{ channel: '/meta/subscribe', clientId, subscription: '/b', id: '4' }],
      ]),
      'cb',
    );
    expect(several.map((m) => [m.id, m.successful])).to.deep.equal([
      ['3', true],
      ['4', true],
    ]);
    expect(await server.bayeux.session(clientId).subscriptions()).to.have.members(['/a', '/b']);
  });

  it('escapes U+2028 and U+2029 in the script; the callback gets the data unchanged', async function () {
    const clientId = await jsonpHandshake();
    runScript(await jsonpGet(server, [{ channel: '/meta/subscribe', clientId, subscription: '/sep', id: '2' }]), 'cb');
    const data = { text: 'line\u2028sep\u2029para "q" </script>' };
    await server.bayeux.publish('/sep', data);
    const r = await jsonpGet(server, [{ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id: '3' }]);
    expect(r.text).not.to.match(/[\u2028\u2029]/);
    expect(r.text).to.include('\\u2028').and.to.include('\\u2029');
    const got = runScript(r, 'cb');
    expect(deliveries(got)).to.deep.equal([{ channel: '/sep', data }]);
  });

  it('holds a connect until mail arrives, then answers it with the deliveries first', async function () {
    const clientId = await jsonpHandshake();
    const connect = (id: string) => jsonpGet(server, [{ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id }]);
    runScript(await connect('2'), 'cb'); // the first connect is answered at once
    runScript(await jsonpGet(server, [{ channel: '/meta/subscribe', clientId, subscription: '/held', id: '3' }]), 'cb');
    const held = connect('4');
    await waitForHold(server, clientId);
    await server.bayeux.publish('/held', 'hello');
    const got = runScript(await held, 'cb');
    expect(got.map((m) => m.channel)).to.deep.equal(['/held', '/meta/connect']);
    expect(got[0]).to.deep.equal({ channel: '/held', data: 'hello' });
    expect(got[1]).to.include({ id: '4', successful: true });
  });

  it('answers a held connect at its timeout', async function () {
    await server.close();
    server = await RawServer.start({ timeout: 300 });
    const clientId = await jsonpHandshake();
    runScript(await jsonpGet(server, [{ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id: '2' }]), 'cb');
    const started = Date.now();
    const got = runScript(await jsonpGet(server, [{ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id: '3' }]), 'cb');
    expect(Date.now() - started).to.be.at.least(250);
    expect(replyOn(got, '/meta/connect')).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 300 } });
  });

  it('does not piggy-back deliveries on replies other than /meta/connect', async function () {
    const clientId = await jsonpHandshake();
    runScript(await jsonpGet(server, [{ channel: '/meta/subscribe', clientId, subscription: '/pb', id: '2' }]), 'cb');
    await server.bayeux.publish('/pb', 1);
    const publishReply = runScript(await jsonpGet(server, [{ channel: '/other', clientId, data: 2, id: '3' }]), 'cb');
    expect(deliveries(publishReply)).to.deep.equal([]);
    const connect = runScript(await jsonpGet(server, [{ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id: '4' }]), 'cb');
    expect(deliveries(connect)).to.deep.equal([{ channel: '/pb', data: 1 }]);
  });

  it('a long-polling client and a JSONP client exchange messages', async function () {
    const lp: RawClient = await server.connectedClient();
    await lp.mustSubscribe('/mixed');
    const clientId = await jsonpHandshake();
    const ack = runScript(await jsonpGet(server, [{ channel: '/mixed', clientId, data: { from: 'jsonp' }, id: '2' }]), 'cb');
    expect(ack[0]).to.include({ channel: '/mixed', successful: true, id: '2' });
    const got = await lp.connect({ advice: { timeout: 0 } });
    expect(deliveries(got)).to.deep.equal([{ channel: '/mixed', data: { from: 'jsonp' } }]);
  });

  it('a GET without message is still refused with 400', async function () {
    const r = await server.request('/cometd?jsonp=cb');
    expectNoScript(r, 'cb(');
  });
});
