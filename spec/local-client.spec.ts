/**
 * The in-process client: subscribe, publish, unsubscribe, disconnect, refusals surfacing as
 * exceptions, and traffic both ways with HTTP clients. It never expires.
 */
import { expect } from 'chai';
import { BayeuxErrorException, type Delivery, type LocalClient } from '../index.js';
import { RawServer, deliveries, nextEvent, waitForHold, type RawClient } from './support/raw-client.js';

/** Collects deliveries and lets a test wait for the next `n`. */
function inbox() {
  const got: Delivery[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const cb = (m: Delivery): void => {
    got.push(m);
    for (const w of waiters.slice()) if (got.length >= w.n) w.resolve();
  };
  const until = (n: number, limitMs = 2000): Promise<Delivery[]> =>
    new Promise((resolve, reject) => {
      if (got.length >= n) return resolve(got);
      const t = setTimeout(() => reject(new Error(`${got.length} of ${n} messages arrived within ${limitMs} ms`)), limitMs);
      waiters.push({ n, resolve: () => (clearTimeout(t), resolve(got)) });
    });
  return { got, cb, until };
}

async function rejection(p: Promise<unknown>): Promise<BayeuxErrorException> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(BayeuxErrorException);
    return err as BayeuxErrorException;
  }
  throw new Error('expected a rejection');
}

describe('local client', function () {
  let server: RawServer;
  let local: LocalClient;
  let http: RawClient;

  beforeEach(async function () {
    server = await RawServer.start({ timeout: 500 });
    local = await server.bayeux.localClient();
    http = await server.connectedClient();
  });
  afterEach(async function () {
    await server.close();
  });

  it('is a real session with a client id', async function () {
    expect(local.id).to.match(/^[0-9a-f]{32}$/);
    expect(await server.bayeux.session(local.id).exists()).to.equal(true);
  });

  it('receives what another local client publishes, through a wildcard', async function () {
    const other = await server.bayeux.localClient();
    const box = inbox();
    await local.subscribe('/chat/*', box.cb);
    await other.publish('/chat/room', { text: 'hi' });
    await other.publish('/chat/room/deeper', 'not for /chat/*');
    expect(await box.until(1)).to.deep.equal([{ channel: '/chat/room', data: { text: 'hi' } }]);
    await other.publish('/chat/again', 2);
    await box.until(2);
    expect(box.got.map((m) => m.data)).to.deep.equal([{ text: 'hi' }, 2]);
  });

  it('receives what an HTTP client publishes', async function () {
    const box = inbox();
    await local.subscribe('/from-http', box.cb);
    await http.publish('/from-http', 'over the wire', { ext: { k: 1 } });
    expect(await box.until(1)).to.deep.equal([{ channel: '/from-http', data: 'over the wire', ext: { k: 1 } }]);
  });

  it('what it publishes reaches an HTTP client holding a connect', async function () {
    await http.mustSubscribe('/to-http');
    const held = http.connect();
    await waitForHold(server, http.clientId);
    await local.publish('/to-http', { n: 1 });
    expect(deliveries(await held)).to.deep.equal([{ channel: '/to-http', data: { n: 1 } }]);
  });

  it('receives its own publishes when subscribed, like any client', async function () {
    const box = inbox();
    await local.subscribe('/self', box.cb);
    await local.publish('/self', 'echo');
    expect(await box.until(1)).to.deep.equal([{ channel: '/self', data: 'echo' }]);
  });

  it('several callbacks on one channel each get the message; unsubscribing one keeps the others', async function () {
    const a = inbox();
    const b = inbox();
    await local.subscribe('/multi', a.cb);
    await local.subscribe('/multi', b.cb);
    expect(await server.bayeux.session(local.id).subscriptions()).to.deep.equal(['/multi']);
    await http.publish('/multi', 1);
    await a.until(1);
    await b.until(1);
    await local.unsubscribe('/multi', a.cb);
    expect(await server.bayeux.session(local.id).subscriptions()).to.deep.equal(['/multi']);
    await http.publish('/multi', 2);
    await b.until(2);
    expect(a.got.map((m) => m.data)).to.deep.equal([1]);
    await local.unsubscribe('/multi');
    expect(await server.bayeux.session(local.id).subscriptions()).to.deep.equal([]);
    await http.publish('/multi', 3);
    // A marker on another channel proves later messages were processed before we look.
    const marker = inbox();
    await local.subscribe('/marker', marker.cb);
    await http.publish('/marker', 'm');
    await marker.until(1);
    expect(b.got.map((m) => m.data)).to.deep.equal([1, 2]);
  });

  it('the message event sees every delivery, direct ones included', async function () {
    const all: Delivery[] = [];
    local.on('message', (m) => all.push(m));
    const arrived = new Promise<void>((resolve) => local.once('message', () => resolve()));
    await server.bayeux.session(local.id).deliver('/service/reply', { ok: true }, { id: '9' });
    await arrived;
    expect(all).to.deep.equal([{ channel: '/service/reply', data: { ok: true }, id: '9' }]);
  });

  it('publishes run channel listeners; a veto surfaces as a rejection', async function () {
    const seen: [string, unknown][] = [];
    server.bayeux.channel('/guarded').onMessage((message, session) => {
      seen.push([session.id, message.data]);
      return message.data !== 'forbidden';
    });
    await local.publish('/guarded', 'fine');
    const err = await rejection(local.publish('/guarded', 'forbidden'));
    expect(err.bayeux.error).to.equal('404::message_deleted');
    expect(seen).to.deep.equal([
      [local.id, 'fine'],
      [local.id, 'forbidden'],
    ]);
  });

  it('refusals surface as rejections: invalid channel, wildcard, meta subscribe', async function () {
    expect((await rejection(local.publish('/a//b', 1))).bayeux.code).to.equal(405);
    expect((await rejection(local.publish('/a/*', 1))).bayeux.code).to.equal(405);
    expect((await rejection(local.subscribe('/meta/connect', () => undefined))).bayeux.code).to.equal(403);
  });

  it('disconnect ends the session; later calls are refused', async function () {
    const removed = nextEvent(server.bayeux, 'sessionRemoved');
    await local.disconnect();
    expect(await removed).to.deep.equal([local.id, 'disconnect']);
    expect(await server.bayeux.session(local.id).exists()).to.equal(false);
    const err = await rejection(local.publish('/x', 1));
    expect(err.bayeux.error).to.equal('402::session_unknown');
  });

  it('never expires, while an HTTP session that stops connecting does', async function () {
    // maxInterval wide enough that an HTTP client's connect right after its handshake is in
    // time on a loaded machine; expiry is then waited for as an event.
    const s = await RawServer.start({ timeout: 100, maxInterval: 500, sweepInterval: 10 });
    try {
      const l = await s.bayeux.localClient();
      const box = inbox();
      await l.subscribe('/alive', box.cb);
      const c = await s.connectedClient();
      const [gone] = await nextEvent(s.bayeux, 'sessionRemoved', 10_000);
      expect(gone).to.equal(c.clientId);
      // Several sweeps later the local client is still there and still receives.
      const d = await s.connectedClient();
      expect((await nextEvent(s.bayeux, 'sessionRemoved', 10_000))[0]).to.equal(d.clientId);
      expect(await s.bayeux.session(l.id).exists()).to.equal(true);
      await s.bayeux.publish('/alive', 'yes');
      expect((await box.until(1))[0]!.data).to.equal('yes');
    } finally {
      await s.close();
    }
  });

  it('a local client created after mail was queued for nobody starts clean', async function () {
    await server.bayeux.publish('/nobody', 1);
    const fresh = await server.bayeux.localClient();
    const all: Delivery[] = [];
    fresh.on('message', (m) => all.push(m));
    await fresh.subscribe('/nobody', () => undefined);
    const arrived = new Promise<void>((resolve) => fresh.once('message', () => resolve()));
    await fresh.publish('/nobody', 2);
    await arrived;
    expect(all.map((m) => m.data)).to.deep.equal([2]);
  });
});
