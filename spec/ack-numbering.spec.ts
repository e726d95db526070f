/**
 * With the ack extension on, every successful `/meta/connect` reply of the session carries
 * `ext.ack`, as CometD's server numbers every connect reply: the first connect, a held
 * connect that times out, an older connect a newer one took over, a reply with the
 * `multiple-clients` advice — not only replies with mail. A reply without mail carries the
 * latest number handed out, so numbers never go back, and acknowledging it loses nothing
 * queued later (newer mail goes out under a higher number). On long-polling,
 * callback-polling and iframe streaming, with the memory engine and with Redis.
 */
import { expect } from 'chai';
import { ackExtension, callbackPolling, iframeStreaming, longPolling, type BayeuxServerOptions } from '../index.js';
import { redisEngine } from '../redis.js';
import { RawServer, deliveries, replyOn, waitForHold, type RawClient, type WireMessage } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { IframeDoc } from './support/iframe-document.js';
import { waitUntil } from './support/wait.js';

/** Server hold time: long enough to see a hold, short enough to time out within a spec. */
const HOLD_MS = 300;
const COOKIE = { Cookie: 'BAYEUX_BROWSER=abcdefghijklmnop' };

/** The `ext.ack` of a successful connect reply; fails when there is none. */
function ackOf(reply: WireMessage): number {
  expect(reply.channel, JSON.stringify(reply)).to.equal('/meta/connect');
  expect(reply.successful, JSON.stringify(reply)).to.equal(true);
  const ack = (reply.ext as { ack?: unknown } | undefined)?.ack;
  expect(ack, `ext.ack of ${JSON.stringify(reply)}`).to.be.a('number');
  return ack as number;
}

/** The numbers one client has seen, in order: they never go back. */
class Numbers {
  readonly all: number[] = [];
  see(reply: WireMessage): number {
    const n = ackOf(reply);
    const last = this.all[this.all.length - 1];
    if (last !== undefined) expect(n, `after ${JSON.stringify(this.all)}`).to.be.at.least(last);
    this.all.push(n);
    return n;
  }
}

const data = (messages: readonly WireMessage[]): unknown[] => deliveries(messages).map((m) => m.data);

/** Opens an iframe document for `connect`: a ticket first, then the document with only the ticket. */
async function openDoc(server: RawServer, connect: Record<string, unknown>): Promise<IframeDoc> {
  const t = await server.post(JSON.stringify([connect]), 'application/json', '/cometd?transport=iframe');
  expect(t.status, t.text).to.equal(200);
  const { ticket } = JSON.parse(t.text) as { ticket: string };
  const doc = await IframeDoc.open(server, { transport: 'iframe', ticket, callback: 'p.d', signoff: 'p.s' });
  expect(doc.status).to.equal(200);
  return doc;
}

/** The sign-off reason, which must be the call at `index`. */
async function signOffAt(doc: IframeDoc, index: number): Promise<string> {
  const c = await doc.call(index, 'the sign-off');
  expect(c.fn, JSON.stringify(c)).to.equal('p.s');
  return (c.arg as { reason: string }).reason;
}

/** The messages of a JSONP answer `/**\/cb([...]);`. */
async function jsonp(server: RawServer, messages: unknown[]): Promise<WireMessage[]> {
  const q = new URLSearchParams({ message: JSON.stringify(messages), jsonp: 'cb' });
  const r = await server.request(`/cometd?${q}`);
  expect(r.status, r.text).to.equal(200);
  expect(r.text.startsWith('/**/cb('), r.text).to.equal(true);
  return JSON.parse(r.text.slice('/**/cb('.length, r.text.lastIndexOf(');'))) as WireMessage[];
}

function suite(name: string, engineOptions: () => BayeuxServerOptions): void {
  describe(`ack numbering, ${name}`, function () {
    this.timeout(20_000);
    let server: RawServer;
    const docs: IframeDoc[] = [];

    beforeEach(async function () {
      server = await RawServer.start(
        { timeout: HOLD_MS, ...engineOptions() },
        { path: '/cometd', transports: [longPolling(), callbackPolling(), iframeStreaming({ padding: 0, initialPadding: 0 })] },
      );
      server.bayeux.addExtension(ackExtension());
    });
    afterEach(async function () {
      for (const d of docs.splice(0)) d.abort();
      await server.close();
    });

    async function ackClient(types = ['long-polling']): Promise<RawClient> {
      const c = server.client();
      const hs = await c.handshake({ supportedConnectionTypes: types, ext: { ack: true } });
      expect(hs.ext).to.deep.equal({ ack: true });
      return c;
    }

    it('long-polling: the first connect and a timed-out hold are numbered; acknowledging an empty batch loses nothing queued later', async function () {
      const c = await ackClient();
      await c.mustSubscribe('/n/a');
      const seen = new Numbers();

      const first = await c.connect({ ext: { ack: 0 } });
      expect(first.map((m) => m.channel), 'the first connect carries no mail').to.deep.equal(['/meta/connect']);
      const n0 = seen.see(first[0]!);

      const timedOut = await c.connect({ ext: { ack: n0 } });
      expect(timedOut.map((m) => m.channel), 'a hold that timed out carries no mail').to.deep.equal(['/meta/connect']);
      const empty = seen.see(timedOut[0]!);

      // Queued after that empty reply: acknowledging the empty reply's number must not drop it.
      await server.bayeux.publish('/n/a', 'one');
      const got = await c.connect({ ext: { ack: empty } });
      expect(data(got)).to.deep.equal(['one']);
      const one = seen.see(replyOn(got, '/meta/connect'));
      expect(one, 'mail goes out under a newer number than an empty reply had').to.be.greaterThan(empty);

      // That response was lost: the client still has only the empty reply's number.
      const again = await c.connect({ ext: { ack: empty } });
      expect(data(again), 'sent again, as it was never acknowledged').to.deep.equal(['one']);
      seen.see(replyOn(again, '/meta/connect'));

      // Acknowledged now: nothing comes again, and the empty reply keeps the number.
      const done = await c.connect({ ext: { ack: one }, advice: { timeout: 0 } });
      expect(done.map((m) => m.channel)).to.deep.equal(['/meta/connect']);
      expect(seen.see(done[0]!)).to.equal(one);

      // Mail published while a hold is on: numbered above everything before it.
      const held = c.connect({ ext: { ack: one } });
      await waitForHold(server, c.clientId);
      await server.bayeux.publish('/n/a', 'two');
      const woken = await held;
      expect(data(woken)).to.deep.equal(['two']);
      expect(seen.see(replyOn(woken, '/meta/connect'))).to.be.greaterThan(one);
    });

    it('long-polling: an older connect a newer one takes over, and a multiple-clients answer, are numbered too', async function () {
      const c = await ackClient();
      await c.mustSubscribe('/n/b');
      const seen = new Numbers();
      await server.bayeux.session(c.clientId!).deliver('/n/direct', 'early');
      const first = await c.connect({ ext: { ack: 0 } });
      expect(data(first)).to.deep.equal(['early']);
      const b1 = seen.see(replyOn(first, '/meta/connect'));

      const older = c.connect({ id: 'older', ext: { ack: b1 } });
      await waitForHold(server, c.clientId);
      const newer = c.connect({ id: 'newer', ext: { ack: b1 } });
      const olderReply = await older;
      expect(olderReply.map((m) => m.channel), 'the older connect carries no mail').to.deep.equal(['/meta/connect']);
      expect(seen.see(olderReply[0]!), 'numbered as the batch the client has: acknowledging it drops nothing').to.equal(b1);
      await waitUntil(() => server.bayeux.connects.get(c.clientId!)?.replyId === 'newer', 'the newer connect to be held');
      await server.bayeux.publish('/n/b', 'late');
      const newerReply = await newer;
      expect(data(newerReply)).to.deep.equal(['late']);
      expect(seen.see(replyOn(newerReply, '/meta/connect'))).to.be.greaterThan(b1);

      // Two sessions of one browser: the second's connect polls instead of holding.
      const a = await ackClient();
      const b = await ackClient();
      await a.connect({ ext: { ack: 0 } }, { headers: COOKIE });
      await b.connect({ ext: { ack: 0 } }, { headers: COOKIE });
      const heldA = a.connect({ ext: { ack: 0 } }, { headers: COOKIE });
      await waitForHold(server, a.clientId);
      const polled = await b.connect({ ext: { ack: 0 } }, { headers: COOKIE });
      expect(polled[0]!.advice).to.deep.include({ 'multiple-clients': true });
      expect(ackOf(polled[0]!)).to.equal(0);
      expect(ackOf((await heldA)[0]!)).to.equal(0);
    });

    it('callback-polling: every connect reply is numbered', async function () {
      const [hs] = await jsonp(server, [
        { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['callback-polling'], id: '1', ext: { ack: true } },
      ]);
      expect(hs!.ext).to.deep.equal({ ack: true });
      const clientId = hs!.clientId as string;
      const connect = (ack: number, id: string) => jsonp(server, [{ channel: '/meta/connect', clientId, connectionType: 'callback-polling', id, ext: { ack } }]);
      const [sub] = await jsonp(server, [{ channel: '/meta/subscribe', clientId, subscription: '/n/c', id: '2' }]);
      expect(sub!.successful).to.equal(true);
      const seen = new Numbers();

      const n0 = seen.see((await connect(0, '3'))[0]!);
      const timedOut = await connect(n0, '4');
      expect(timedOut.map((m) => m.channel)).to.deep.equal(['/meta/connect']);
      const empty = seen.see(timedOut[0]!);
      await server.bayeux.publish('/n/c', 'one');
      const got = await connect(empty, '5');
      expect(data(got)).to.deep.equal(['one']);
      expect(seen.see(replyOn(got, '/meta/connect'))).to.be.greaterThan(empty);
    });

    it('iframe streaming: empty answers are numbered and the document goes on; mail ends it for the acknowledgement', async function () {
      const c = await ackClient(['iframe', 'long-polling']);
      await c.mustSubscribe('/n/d');
      const seen = new Numbers();
      const open = async (ack: number): Promise<IframeDoc> => {
        const doc = await openDoc(server, { channel: '/meta/connect', clientId: c.clientId, connectionType: 'iframe', advice: { timeout: 0 }, ext: { ack } });
        docs.push(doc);
        return doc;
      };

      const doc = await open(0);
      const first = await doc.batch(0);
      expect(first.map((m) => m.channel)).to.deep.equal(['/meta/connect']);
      const n0 = seen.see(first[0]!);
      // The document's own connect is held, times out, and is answered without mail: numbered
      // as the client acknowledged already, so the document goes on.
      const timedOut = await doc.batch(1);
      expect(timedOut.map((m) => m.channel)).to.deep.equal(['/meta/connect']);
      expect(seen.see(timedOut[0]!)).to.equal(n0);
      await waitForHold(server, c.clientId);
      await server.bayeux.publish('/n/d', 'one');
      const got = await doc.batch(2);
      expect(data(got)).to.deep.equal(['one']);
      const one = seen.see(replyOn(got, '/meta/connect'));
      expect(one).to.be.greaterThan(n0);
      expect(await signOffAt(doc, 3)).to.equal('ack');

      // The client's next document acknowledges it; an empty answer then keeps the number.
      const next = await open(one);
      const quiet = await next.batch(0);
      expect(quiet.map((m) => m.channel), 'acknowledged mail is not sent again').to.deep.equal(['/meta/connect']);
      expect(seen.see(quiet[0]!)).to.equal(one);
    });
  });
}

suite('memory engine', () => ({}));

describe('with Redis', function () {
  let redis: RedisServer;
  let prefixes = 0;
  before(async function () {
    this.timeout(20_000);
    redis = await RedisServer.start();
  });
  after(async function () {
    await stopAllRedisServers();
  });
  suite('redis engine', () => ({ engine: redisEngine({ url: redis.url, prefix: `ack${process.pid}x${++prefixes}` }) }));
});
