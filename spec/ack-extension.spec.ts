/**
 * The ack extension with the real CometD client and its AckExtension: a relay drops the
 * responses of `/meta/connect`s that carried messages, while the server publishes 1,000
 * messages in bursts. With the extension every message arrives exactly once and in
 * order; without it, the same run loses messages — so the extension is what saves them.
 */
import { expect } from 'chai';
import { AckExtension } from 'cometd';
import { ackExtension } from '../index.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { DroppingRelay } from './support/dropping-relay.js';
import { RawServer } from './support/raw-client.js';
import { startServer, stopAllServers, type RunningServer } from './support/servers.js';
import { ACK_TOTAL, receiveBursts } from './support/ack-bursts.js';
import { waitUntil } from './support/wait.js';

const TOTAL = ACK_TOTAL;

function isConnectWithMail(requestBody: string, responseBody: string): boolean {
  if (!requestBody.includes('"/meta/connect"')) return false;
  try {
    const reply = JSON.parse(responseBody) as { channel: string; data?: unknown }[];
    return reply.some((m) => m.data !== undefined && !m.channel.startsWith('/meta/'));
  } catch {
    return false;
  }
}

/** Publishes TOTAL numbered messages in bursts while the client long-polls through the relay. */
async function run(server: RunningServer, relay: DroppingRelay, withAck: boolean): Promise<number[]> {
  const client = new CometDClient(relay.url(), { maxNetworkDelay: 2000 });
  if (withAck) client.cometd.registerExtension('ack', new AckExtension());
  await client.handshake();
  const received = await receiveBursts(server.bayeux, client, 20_000);
  await client.close();
  return received;
}

describe('ack extension with the CometD AckExtension', function () {
  this.timeout(60_000);
  let relay: DroppingRelay | null = null;

  afterEach(async function () {
    await closeAllCometDClients();
    await relay?.close();
    relay = null;
    await stopAllServers();
  });

  async function setUp(withAck: boolean): Promise<RunningServer> {
    const server = await startServer('node:http', { timeout: 2000 });
    if (withAck) server.bayeux.addExtension(ackExtension());
    let connectsWithMail = 0;
    // Drop every other response that carries messages, 40 times in all.
    relay = await DroppingRelay.start(server.port, ({ requestBody, responseBody }) => {
      if (!isConnectWithMail(requestBody, responseBody)) return false;
      connectsWithMail++;
      return connectsWithMail % 2 === 1 && connectsWithMail < 80;
    });
    return server;
  }

  it('delivers every message exactly once and in order despite dropped responses', async function () {
    const server = await setUp(true);
    const received = await run(server, relay!, true);
    expect(relay!.dropped, 'responses dropped by the relay').to.be.greaterThan(10);
    expect(received.length, 'messages received').to.equal(TOTAL);
    expect(received).to.deep.equal(Array.from({ length: TOTAL }, (_, i) => i));
  });

  it('without the extension the same drops lose messages', async function () {
    const server = await setUp(false);
    const received = await run(server, relay!, false);
    expect(relay!.dropped, 'responses dropped by the relay').to.be.greaterThan(10);
    expect(new Set(received).size, 'distinct messages received').to.be.lessThan(TOTAL);
  });
});

describe('ack extension on the wire', function () {
  let server: RawServer;
  before(async function () {
    server = await RawServer.start({ timeout: 500 });
    server.bayeux.addExtension(ackExtension());
  });
  after(async function () {
    await server.close();
  });

  it('agrees on the handshake, numbers connect batches and re-sends until acknowledged', async function () {
    const [hs] = await server.send([
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1', ext: { ack: true } },
    ]);
    expect(hs!.successful).to.equal(true);
    expect(hs!.ext).to.deep.equal({ ack: true });
    const clientId = hs!.clientId as string;
    const connect = (id: string, ack: number) =>
      server.send([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id, advice: { timeout: 0 }, ext: { ack } }]);
    await server.send([{ channel: '/meta/subscribe', clientId, subscription: '/w/a', id: '2' }]);
    await server.bayeux.publish('/w/a', 'one');
    const first = await connect('3', 0);
    expect(first.map((m) => m.data ?? m.channel)).to.deep.equal(['one', '/meta/connect']);
    const batch = (first[1]!.ext as { ack: number }).ack;
    expect(batch).to.be.a('number');

    // The client did not get that response: it acknowledges the previous batch only.
    await server.bayeux.publish('/w/a', 'two');
    const again = await connect('4', batch - 1);
    expect(again.map((m) => m.data ?? m.channel)).to.deep.equal(['one', 'two', '/meta/connect']);
    const next = (again[2]!.ext as { ack: number }).ack;
    expect(next).to.be.greaterThan(batch);

    // Acknowledged: nothing is sent again, and a publish ack carries no mail for this session.
    const done = await connect('5', next);
    expect(done.map((m) => m.channel)).to.deep.equal(['/meta/connect']);
    await server.bayeux.publish('/w/a', 'three');
    const pub = await server.send([{ channel: '/w/b', clientId, data: 1, id: '6' }]);
    expect(pub.map((m) => m.channel), 'mail of an ack session rides only on connect replies').to.deep.equal(['/w/b']);
    const last = await connect('7', next);
    expect(last.map((m) => m.data ?? m.channel)).to.deep.equal(['three', '/meta/connect']);
  });

  it('overlapping connects: the older is answered without mail, the newer carries the numbered batch', async function () {
    const [hs] = await server.send([
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1', ext: { ack: true } },
    ]);
    const clientId = hs!.clientId as string;
    // Mail queued before the first connect (during the handshake) goes out as batch 1.
    await server.bayeux.session(clientId).deliver('/w/direct', 'early');
    const first = await server.send([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '2', ext: { ack: 0 } }]);
    expect(first.map((m) => m.data ?? m.channel)).to.deep.equal(['early', '/meta/connect']);
    const b1 = (first[1]!.ext as { ack: number }).ack;
    await server.send([{ channel: '/meta/subscribe', clientId, subscription: '/w/o', id: '3' }]);

    const older = server.send([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '4', ext: { ack: b1 } }]);
    await waitUntil(() => server.bayeux.connects.get(clientId) !== undefined, 'the first connect to be held');
    const newer = server.send([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '5', ext: { ack: b1 } }]);
    const olderReply = await older;
    expect(olderReply.map((m) => m.channel), 'the older connect carries no mail').to.deep.equal(['/meta/connect']);
    expect(olderReply[0]!.ext, 'numbered as the batch the client has, so acknowledging it drops nothing').to.deep.equal({ ack: b1 });
    await waitUntil(() => server.bayeux.connects.get(clientId)?.replyId === '5', 'the newer connect to be held');
    await server.bayeux.publish('/w/o', 'late');
    const newerReply = await newer;
    expect(newerReply.map((m) => m.data ?? m.channel)).to.deep.equal(['late', '/meta/connect']);
    expect((newerReply[1]!.ext as { ack: number }).ack).to.be.greaterThan(b1);
  });

  it('a session that did not ask for acks gets none', async function () {
    const [hs] = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }]);
    expect(hs!.ext).to.equal(undefined);
    const clientId = hs!.clientId as string;
    const r = await server.send([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '2', advice: { timeout: 0 } }]);
    expect(r[0]!.ext).to.equal(undefined);
  });
});
