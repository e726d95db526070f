/**
 * The token-auth example (examples/auth) with the real CometD client: a good token in the
 * handshake `ext` connects and publishes as its user; a bad or missing token is refused
 * and the client stops (one handshake attempt, no retry loop).
 */
import { expect } from 'chai';
import type { Message } from 'cometd';
import { startAuthExample, type AuthExample } from '../examples/auth/server.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { WAIT_MS, deferred, waitUntil, withTimeout } from './support/wait.js';

describe('example: token auth', function () {
  let example: AuthExample;
  let handshakes: number;

  beforeEach(async function () {
    example = await startAuthExample(0, { timeout: 2000 });
    handshakes = 0;
    example.bayeux.addExtension({
      incoming(m) {
        if (m.channel === '/meta/handshake') handshakes++;
      },
    });
  });

  afterEach(async function () {
    await closeAllCometDClients();
    await example.close();
  });

  /** Handshakes with `ext`; resolves with the reply, successful or not. */
  function handshake(c: CometDClient, ext: Record<string, unknown> | undefined): Promise<Message> {
    const d = deferred<Message>();
    c.cometd.handshake(ext === undefined ? {} : { ext }, (reply: Message) => d.resolve(reply));
    return withTimeout(d.promise, 'the handshake reply', WAIT_MS);
  }

  it('a good token connects; the reply names the user', async function () {
    const c = new CometDClient(example.url);
    const reply = await handshake(c, { auth: { token: 'token-alice' } });
    expect(reply.successful).to.equal(true);
    expect(reply.ext).to.deep.equal({ auth: { user: 'alice' } });
    await c.connects.atLeast(1, 'the first connect');
    expect(example.auth.userOf(c.clientId!)).to.equal('alice');
  });

  it('messages are stamped with the sender, whatever the client claims', async function () {
    const alice = new CometDClient(example.url);
    const bob = new CometDClient(example.url);
    await handshake(alice, { auth: { token: 'token-alice' } });
    await handshake(bob, { auth: { token: 'token-bob' } });
    await bob.subscribe('/chat', () => undefined);
    // CometD's publish(channel, data, props) puts props on the message: a forged user.
    const acked = deferred<Message>();
    alice.cometd.publish('/chat', { text: 'hi' }, { ext: { auth: { user: 'bob' } } }, (r: Message) => acked.resolve(r));
    expect((await withTimeout(acked.promise, 'the publish reply')).successful).to.equal(true);
    const got = await bob.wire.until((m) => m.channel === '/chat', 'the chat message at bob');
    expect(got.data).to.deep.equal({ text: 'hi' });
    expect(got.ext).to.deep.equal({ auth: { user: 'alice' } });
  });

  for (const [what, ext] of [
    ['a bad token', { auth: { token: 'stolen' } }],
    ['no token', undefined],
  ] as const) {
    it(`${what} is refused and the client stops`, async function () {
      const c = new CometDClient(example.url);
      const reply = await handshake(c, ext);
      expect(reply.successful).to.equal(false);
      expect(reply.error).to.equal('403::handshake_denied');
      expect(reply.advice).to.deep.include({ reconnect: 'none' });
      await waitUntil(() => c.status === 'disconnected', 'the client to stop', 2000);
      // Bounded window: the client's back-off would retry within ~100 ms.
      await new Promise((r) => setTimeout(r, 1000));
      expect(handshakes).to.equal(1);
      expect(await example.bayeux.sessionCount()).to.equal(0);
    });
  }

  it('a re-handshake (session lost on the server) sends the token again and signs in as the same user', async function () {
    await example.close();
    example = await startAuthExample(0, { timeout: 300 });
    const c = new CometDClient(example.url);
    const first = await handshake(c, { auth: { token: 'token-alice' } });
    await c.connects.atLeast(1, 'the first connect');
    // The session vanishes as if it had expired: the next connect gets 402 and advice handshake.
    await example.bayeux.engine.destroySession(first.clientId!, 'timeout');
    const again = await c.handshakes.nth(1, 'the re-handshake', 5000);
    expect(again.clientId).to.not.equal(first.clientId);
    expect(again.ext).to.deep.equal({ auth: { user: 'alice' } });
    expect(example.auth.userOf(again.clientId!)).to.equal('alice');
  });

  it('the user is forgotten when the session ends', async function () {
    const c = new CometDClient(example.url);
    await handshake(c, { auth: { token: 'token-bob' } });
    const id = c.clientId!;
    expect(example.auth.userOf(id)).to.equal('bob');
    await c.disconnect();
    expect(example.auth.userOf(id)).to.equal(undefined);
  });
});
