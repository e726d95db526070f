/**
 * The timesync extension (server side of CometD's TimeSyncExtension): the real CometD
 * client computes its offset to the server clock and the network lag from our replies;
 * raw HTTP pins the reply fields `{ tc, ts, p, a }` on handshake and connect replies,
 * held connects included (`p` covers the hold).
 */
import { expect } from 'chai';
import { TimeSyncExtension } from 'cometd';
import { timesyncExtension, type Extension } from '../index.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { RawServer, replyOn, waitForHold } from './support/raw-client.js';

/** The TimeSyncExtension methods its typings leave out. */
interface TimeSync {
  getTimeOffset(): number;
  getNetworkLag(): number;
  getServerTime(): number;
}

interface TimesyncReply {
  tc: number;
  ts: number;
  p: number;
  a?: number;
}

describe('timesync extension', function () {
  let server: RawServer;

  afterEach(async function () {
    await closeAllCometDClients();
    await server?.close();
  });

  /** A CometD client with TimeSyncExtension, handshaken, after `connects` connect replies. */
  async function syncedClient(connects: number): Promise<{ client: CometDClient; timesync: TimeSync }> {
    const client = new CometDClient(server.url);
    const ext = new TimeSyncExtension();
    client.cometd.registerExtension('timesync', ext);
    await client.handshake();
    await client.connects.atLeast(connects, `${connects} connect replies`);
    return { client, timesync: ext as unknown as TimeSync };
  }

  describe('with the real CometD client', function () {
    // The client's estimate is off by at most the asymmetry of a round trip, which a loaded
    // machine can stretch to hundreds of ms: the bounds tell "follows our clock" from "5 s off".
    it('computes an offset near 0 on loopback (same clock), and a non-negative lag', async function () {
      // Short holds: several connects (the held ones included) in about a second.
      server = await RawServer.start({ timeout: 200 });
      server.bayeux.addExtension(timesyncExtension());
      const { client, timesync } = await syncedClient(5);
      const last = client.connects.items[4]!;
      expect((last.ext as { timesync?: unknown } | undefined)?.timesync, 'timesync on the connect reply').to.be.an('object');
      expect(Math.abs(timesync.getTimeOffset()), `offset ${timesync.getTimeOffset()} ms`).to.be.below(1000);
      expect(timesync.getNetworkLag(), `lag ${timesync.getNetworkLag()} ms`).to.be.within(0, 2000);
      expect(Math.abs(timesync.getServerTime() - Date.now())).to.be.below(1000);
    });

    it('follows a server clock that is ahead (proof the offset comes from our fields)', async function () {
      server = await RawServer.start({ timeout: 200 });
      // Registered first, so its outgoing hook runs after timesync's: it moves the server
      // times 5 s forward, as a server with a fast clock would report them.
      const skew: Extension = {
        outgoing(m) {
          const t = (m.ext as { timesync?: TimesyncReply } | undefined)?.timesync;
          if (t) t.ts += 5000;
        },
      };
      server.bayeux.addExtension(skew);
      server.bayeux.addExtension(timesyncExtension());
      const { timesync } = await syncedClient(4);
      expect(timesync.getTimeOffset(), 'offset follows the 5 s skew').to.be.within(4000, 6000);
      expect(timesync.getNetworkLag()).to.be.within(0, 2000);
    });

    it('without the server extension the client learns nothing (offset and lag stay 0)', async function () {
      server = await RawServer.start({ timeout: 200 });
      const { client, timesync } = await syncedClient(3);
      expect(client.connects.items.every((m) => (m.ext as { timesync?: unknown } | undefined)?.timesync === undefined)).to.equal(true);
      expect(timesync.getTimeOffset()).to.equal(0);
      expect(timesync.getNetworkLag()).to.equal(0);
    });
  });

  describe('reply fields on the wire', function () {
    beforeEach(async function () {
      server = await RawServer.start({ timeout: 300 });
      server.bayeux.addExtension(timesyncExtension());
    });

    function timesyncOf(reply: Record<string, unknown>): TimesyncReply {
      const t = (reply.ext as { timesync?: TimesyncReply } | undefined)?.timesync;
      if (!t) throw new Error(`no ext.timesync on ${JSON.stringify(reply)}`);
      return t;
    }

    it('handshake and immediate connect replies carry tc, ts, p and a', async function () {
      const c = server.client();
      const tc = Date.now() - 1000; // a client clock 1 s behind
      const before = Date.now();
      const hs = await c.handshake({ ext: { timesync: { tc, l: 3, o: 990 } } });
      const after = Date.now();
      const t = timesyncOf(hs);
      expect(t.tc).to.equal(tc);
      expect(t.ts).to.be.within(before, after);
      expect(t.p).to.be.within(0, after - before);
      // Accuracy of the client's estimate: where it thought the server clock was, minus ts.
      expect(t.a).to.equal(tc + 990 + 3 - t.ts);

      const tc2 = Date.now();
      const r = await c.connect({ ext: { timesync: { tc: tc2, l: 0, o: 0 } } });
      const after2 = Date.now();
      const t2 = timesyncOf(replyOn(r, '/meta/connect'));
      expect(t2.tc).to.equal(tc2);
      expect(t2.ts).to.be.within(tc2, after2);
      // Not held (the first connect): p is the processing time, inside the round trip.
      expect(t2.p).to.be.within(0, after2 - tc2);
      expect(t2.a).to.equal(tc2 - t2.ts);
    });

    it('leaves out a when the client sent no l and o, and adds nothing without timesync', async function () {
      const c = server.client();
      const hs = await c.handshake({ ext: { timesync: { tc: 42 } } });
      const t = timesyncOf(hs);
      expect(t.tc).to.equal(42);
      expect(t).to.not.have.property('a');
      const r = await c.connect();
      expect(replyOn(r, '/meta/connect')).to.not.have.property('ext');
    });

    it('keeps other ext fields of the reply', async function () {
      server.bayeux.addExtension({
        outgoing(m) {
          if (m.channel === '/meta/handshake') m.ext = { ...(m.ext ?? {}), other: 1 };
        },
      });
      const hs = await server.client().handshake({ ext: { timesync: { tc: Date.now(), l: 0, o: 0 } } });
      expect(hs.ext).to.have.property('other', 1);
      expect(hs.ext).to.have.property('timesync');
    });

    it('a connect held to the timeout reports the hold in p', async function () {
      const c = await server.connectedClient();
      const tc = Date.now();
      const r = await c.connect({ ext: { timesync: { tc, l: 0, o: 0 } } });
      const took = Date.now() - tc;
      const t = timesyncOf(replyOn(r, '/meta/connect'));
      expect(t.tc).to.equal(tc);
      // ts is taken when the request arrives, so it lies inside the round trip; p covers the
      // hold, which cannot end before the 300 ms timeout (less 2 ms: deadlines are whole milliseconds).
      expect(t.ts - tc).to.be.within(0, took);
      expect(t.p, `p=${t.p}, round trip ${took}`).to.be.within(298, took);
    });

    it('a held connect woken by mail reports the time it was held', async function () {
      const c = await server.connectedClient();
      await c.mustSubscribe('/wake');
      const tc = Date.now();
      const held = c.connect({ ext: { timesync: { tc, l: 0, o: 0 } } });
      await waitForHold(server, c.clientId);
      await new Promise((r) => setTimeout(r, 100));
      await server.bayeux.publish('/wake', 'now');
      const r = await held;
      const took = Date.now() - tc;
      const t = timesyncOf(replyOn(r, '/meta/connect'));
      expect(r[0]).to.deep.equal({ channel: '/wake', data: 'now' });
      // Held at least the 100 ms we waited, at most the round trip; woken by the message,
      // not by the 300 ms timeout, which the message being in the reply already shows.
      expect(t.p, `p=${t.p}, round trip ${took}`).to.be.within(98, took);
    });
  });
});
