/**
 * Races between the ways a held connect ends, with an engine that answers asynchronously
 * (as a networked one does): the hold's timeout must not split the queue with a take that
 * is still under way, or mail would go back behind newer mail.
 */
import { expect } from 'chai';
import type { Mail } from '../engine.js';
import { MemoryEngine } from '../lib/engines/memory/memory-engine.js';
import { RawServer, deliveries, replyOn, waitForHold } from './support/raw-client.js';

/** The memory engine, but `takeQueued` answers after `delayMs`, like a round trip. */
class SlowTakeEngine extends MemoryEngine {
  constructor(private readonly delayMs: number) {
    super();
  }
  override takeQueued(clientId: string, piggyback = false): Mail | null {
    const taken = super.takeQueued(clientId, piggyback);
    return new Promise<Mail | null>((resolve) => setTimeout(() => resolve(taken), this.delayMs)) as unknown as Mail | null;
  }
}

describe('held connect races with an asynchronous engine', function () {
  let server: RawServer;
  afterEach(async function () {
    await server.close();
  });

  it('a timeout during a take waits for it: the held connect carries the mail, once', async function () {
    server = await RawServer.start({ timeout: 150, engine: new SlowTakeEngine(300) });
    const c = await server.connectedClient();
    await c.mustSubscribe('/race/a');
    const held = c.connect();
    await waitForHold(server, c.clientId);
    await server.bayeux.publish('/race/a', 1);
    const started = Date.now();
    const r = await held;
    expect(Date.now() - started, 'answered when the take came back, not at the timeout alone').to.be.greaterThan(200);
    expect(deliveries(r).map((m) => m.data)).to.deep.equal([1]);
    expect(replyOn(r, '/meta/connect').successful).to.equal(true);
    await server.bayeux.publish('/race/a', 2);
    const next = await c.connect({ advice: { timeout: 0 } });
    expect(deliveries(next).map((m) => m.data), 'nothing sent twice, nothing out of order').to.deep.equal([2]);
  });

  it('a newer connect during a take waits for it: the older mail is not overtaken by newer mail', async function () {
    server = await RawServer.start({ timeout: 5000, engine: new SlowTakeEngine(300) });
    const c = await server.connectedClient();
    await c.mustSubscribe('/race/b');
    const held = c.connect();
    await waitForHold(server, c.clientId);
    await server.bayeux.publish('/race/b', 1);
    // The take for message 1 is under way (300 ms) when the client connects again and 2 is published.
    await new Promise((r) => setTimeout(r, 50));
    const newer = c.connect({ advice: { timeout: 1000 } });
    await new Promise((r) => setTimeout(r, 50));
    await server.bayeux.publish('/race/b', 2);
    const first = await held;
    const second = await newer;
    const third = await c.connect({ advice: { timeout: 0 } });
    const order = [first, second, third].flatMap((r) => deliveries(r).map((m) => m.data));
    expect(order, 'every message once, in publish order').to.deep.equal([1, 2]);
  });
});
