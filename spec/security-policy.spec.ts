/**
 * Authorization: the SecurityPolicy methods (allow, deny, async), `canCreate` only for
 * channels app code has not declared, per-channel authorizers and how their answers
 * combine, the advice sent with a refused handshake (and what the real CometD and Faye
 * clients do with it), and `broadcastToPublisher` at server and channel level.
 *
 * Negative delivery checks use a sentinel published after the message that must not
 * arrive: a session's deliveries keep their order.
 */
import { expect } from 'chai';
import {
  BayeuxErrorException,
  Errors,
  type Authorizer,
  type AuthorizerResult,
  type BayeuxServerOptions,
  type Message,
  type PolicyContext,
  type SecurityPolicy,
  type ServerSession,
} from '../index.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { FayeClient, closeAllFayeClients } from './support/faye-client.js';
import { RawServer, deliveries, replyOn, type RawClient, type WireMessage } from './support/raw-client.js';
import { waitUntil } from './support/wait.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('security policy', function () {
  let server: RawServer;

  async function start(options: BayeuxServerOptions = {}): Promise<RawServer> {
    server = await RawServer.start({ timeout: 2000, ...options });
    return server;
  }

  afterEach(async function () {
    await closeAllCometDClients();
    await closeAllFayeClients();
    await server?.close();
  });

  async function subscriber(...channels: string[]): Promise<RawClient> {
    const c = await server.connectedClient();
    if (channels.length > 0) await c.mustSubscribe(channels);
    return c;
  }

  async function subscribeReply(c: RawClient, channel: string): Promise<WireMessage> {
    return replyOn(await c.subscribe(channel), '/meta/subscribe');
  }

  async function publishReply(c: RawClient, channel: string, data: unknown): Promise<WireMessage> {
    return replyOn(await c.publish(channel, data), channel);
  }

  /** Deliveries of the next connect (the session must have mail waiting). */
  async function mail(c: RawClient): Promise<WireMessage[]> {
    return deliveries(await c.connect());
  }

  describe('canHandshake', function () {
    it('allows a handshake when it resolves true, seeing ext and the request', async function () {
      const seen: { ext: unknown; header: unknown }[] = [];
      await start({
        policy: {
          async canHandshake(message: Message, ctx: PolicyContext) {
            await tick(5);
            seen.push({ ext: message.ext, header: ctx.request.headers['x-app'] });
            return true;
          },
        },
      });
      const c = server.client();
      const [reply] = await c.send(
        { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ext: { token: 't' } },
        { headers: { 'X-App': 'spec' } },
      );
      expect(reply).to.include({ successful: true });
      expect(seen).to.deep.equal([{ ext: { token: 't' }, header: 'spec' }]);
    });

    it('refuses a handshake when it resolves false: 403::handshake_denied, advice none, no session', async function () {
      await start({ policy: { canHandshake: async () => false } });
      let handshakes = 0;
      server.bayeux.on('handshake', () => handshakes++);
      const [reply] = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'h1' }]);
      expect(reply).to.deep.equal({
        id: 'h1',
        channel: '/meta/handshake',
        successful: false,
        error: '403::handshake_denied',
        advice: { reconnect: 'none', interval: 0 },
      });
      expect(handshakes).to.equal(0);
      expect(await server.bayeux.sessionCount()).to.equal(0);
    });

    it('in-process clients are marked local, so a token policy can let them through', async function () {
      await start({ policy: { canHandshake: (m: Message, ctx: PolicyContext) => ctx.request.local === true || m.ext?.token === 'ok' } });
      const local = await server.bayeux.localClient();
      expect(local.id).to.match(/^[0-9a-f]{32}$/);
      const [remote] = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
      expect(remote).to.include({ successful: false, error: '403::handshake_denied' });
      await local.disconnect();
    });

    it('sends the configured advice with a refused handshake', async function () {
      await start({ policy: { canHandshake: () => false }, deniedHandshakeAdvice: { reconnect: 'handshake', interval: 1000 } });
      const [reply] = await server.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
      expect(reply).to.include({ successful: false, error: '403::handshake_denied' });
      expect(reply!.advice).to.deep.equal({ reconnect: 'handshake', interval: 1000 });
    });

    it('a policy may be a class instance: methods run with it as `this`', async function () {
      class Allowlist implements SecurityPolicy {
        constructor(private readonly names: Set<string>) {}
        canHandshake(message: Message): boolean {
          return this.names.has(String(message.ext?.user));
        }
        canSubscribe(_s: ServerSession, channel: string): boolean {
          return this.names.has(channel.slice(1));
        }
        canPublish(_s: ServerSession, channel: string): boolean {
          return this.names.has(channel.slice(1));
        }
      }
      await start({ policy: new Allowlist(new Set(['ada'])) });
      const c = server.client();
      await c.handshake({ ext: { user: 'ada' } });
      expect(await subscribeReply(c, '/ada')).to.include({ successful: true });
      expect(await publishReply(c, '/ada', 1)).to.include({ successful: true });
      expect(await subscribeReply(c, '/bob')).to.include({ successful: false });
      await expectRefused(server.client().handshake({ ext: { user: 'bob' } }));
    });
  });

  describe('canSubscribe and canPublish', function () {
    it('canSubscribe: allow and deny, async, with session, channel and message', async function () {
      const asked: { session: string; channel: string; id: unknown }[] = [];
      await start({
        policy: {
          async canSubscribe(session, channel, message) {
            asked.push({ session: session.id, channel, id: message.id });
            await tick(2);
            return !channel.startsWith('/private/');
          },
        },
      });
      const c = await subscriber();
      expect(await subscribeReply(c, '/public/a')).to.include({ successful: true, subscription: '/public/a' });
      expect(await subscribeReply(c, '/private/a')).to.include({
        successful: false,
        error: '403:denied_by_security_policy:subscribe_denied',
        subscription: '/private/a',
      });
      // A wildcard pattern is asked about as it is.
      expect(await subscribeReply(c, '/private/*')).to.include({ successful: false });
      expect(asked.map((a) => a.channel)).to.deep.equal(['/public/a', '/private/a', '/private/*']);
      expect(asked.every((a) => a.session === c.clientId && typeof a.id === 'string')).to.equal(true);
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal(['/public/a']);
    });

    it('canSubscribe is asked for each channel of a multi-channel subscribe; one denial refuses all', async function () {
      await start({ policy: { canSubscribe: (_s, channel) => channel !== '/no' } });
      const c = await subscriber();
      const reply = replyOn(await c.subscribe(['/yes', '/no']), '/meta/subscribe');
      expect(reply).to.include({ successful: false, error: '403:denied_by_security_policy:subscribe_denied' });
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
    });

    it('canPublish: allow and deny, async; a denied message is not broadcast', async function () {
      await start({
        policy: {
          async canPublish(session, channel, message) {
            await tick(2);
            return channel !== '/readonly' && session.id !== '' && message.data !== 'forbidden';
          },
        },
      });
      const sub = await subscriber('/readonly', '/open');
      const pub = await subscriber();
      expect(await publishReply(pub, '/readonly', 'x')).to.include({
        successful: false,
        error: '403:denied_by_security_policy:publish_denied',
      });
      expect(await publishReply(pub, '/open', 'forbidden')).to.include({ successful: false });
      expect(await publishReply(pub, '/open', 'fine')).to.include({ successful: true });
      expect(await mail(sub)).to.deep.equal([{ channel: '/open', data: 'fine' }]);
    });

    it('a policy method may throw a BayeuxErrorException to refuse with its own error', async function () {
      await start({
        policy: {
          async canPublish(_s, channel) {
            if (channel === '/quota') throw new BayeuxErrorException(Errors.denied('publish', 'quota_exceeded'));
            return true;
          },
        },
      });
      const c = await subscriber();
      expect(await publishReply(c, '/quota', 1)).to.include({ successful: false, error: '403:quota_exceeded:publish_denied' });
      expect(await publishReply(c, '/fine', 1)).to.include({ successful: true });
    });

    it('meta channels never reach the policy', async function () {
      const asked: string[] = [];
      await start({
        policy: {
          canSubscribe: (_s, channel) => (asked.push(channel), true),
          canPublish: (_s, channel) => (asked.push(channel), true),
          canCreate: (_s, channel) => (asked.push(channel), true),
        },
      });
      const c = await subscriber();
      await c.connect({ advice: { timeout: 0 } });
      await c.disconnect();
      expect(asked).to.deep.equal([]);
    });
  });

  describe('canCreate', function () {
    it('is asked only for channels app code has not declared', async function () {
      const asked: string[] = [];
      await start({
        policy: {
          async canCreate(_s, channel) {
            asked.push(channel);
            return false;
          },
        },
      });
      server.bayeux.channel('/declared');
      const c = await subscriber();
      expect(await subscribeReply(c, '/declared')).to.include({ successful: true });
      expect(await publishReply(c, '/declared', 1)).to.include({ successful: true });
      expect(await subscribeReply(c, '/undeclared')).to.include({
        successful: false,
        error: '403:denied_by_security_policy:create_denied',
      });
      expect(await publishReply(c, '/undeclared', 1)).to.include({
        successful: false,
        error: '403:denied_by_security_policy:create_denied',
      });
      expect(asked).to.deep.equal(['/undeclared', '/undeclared']);
    });

    it('when it allows, canSubscribe / canPublish are still asked', async function () {
      const asked: string[] = [];
      await start({
        policy: {
          canCreate: (_s, channel) => (asked.push(`create ${channel}`), true),
          canSubscribe: (_s, channel) => (asked.push(`subscribe ${channel}`), false),
        },
      });
      const c = await subscriber();
      expect(await subscribeReply(c, '/new')).to.include({ error: '403:denied_by_security_policy:subscribe_denied' });
      expect(asked).to.deep.equal(['create /new', 'subscribe /new']);
    });
  });

  describe('authorizers', function () {
    beforeEach(async function () {
      await start();
    });

    const always =
      (result: AuthorizerResult): Authorizer =>
      () =>
        result;

    it('with none registered, everything is granted', async function () {
      const c = await subscriber();
      expect(await subscribeReply(c, '/anything')).to.include({ successful: true });
      expect(await publishReply(c, '/anything', 1)).to.include({ successful: true });
    });

    it('a channel with no authorizer of its own (or above it) is granted while others have some', async function () {
      server.bayeux.channel('/locked').addAuthorizer(always('deny'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/open')).to.include({ successful: true });
      expect(await subscribeReply(c, '/locked')).to.include({ successful: false });
    });

    it('grant on the exact channel grants; only ignore denies with denied_by_not_granting', async function () {
      server.bayeux.channel('/granted').addAuthorizer(always('grant'));
      server.bayeux.channel('/ignored').addAuthorizer(always('ignore'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/granted')).to.include({ successful: true });
      expect(await publishReply(c, '/granted', 1)).to.include({ successful: true });
      expect(await subscribeReply(c, '/ignored')).to.include({ successful: false, error: '403:denied_by_not_granting:subscribe_denied' });
      expect(await publishReply(c, '/ignored', 1)).to.include({ successful: false, error: '403:denied_by_not_granting:publish_denied' });
    });

    it('any deny wins over grants, with its reason', async function () {
      const ch = server.bayeux.channel('/mixed');
      ch.addAuthorizer(always('grant'));
      ch.addAuthorizer(always('ignore'));
      ch.addAuthorizer(always({ deny: 'banned_user' }));
      server.bayeux.channel('/plain-deny').addAuthorizer(always('grant'));
      server.bayeux.channel('/plain-deny').addAuthorizer(always('deny'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/mixed')).to.include({ successful: false, error: '403:banned_user:subscribe_denied' });
      expect(await publishReply(c, '/plain-deny', 1)).to.include({ successful: false, error: '403:denied_by_authorizer:publish_denied' });
    });

    it('grant + ignore grants', async function () {
      server.bayeux.channel('/gi').addAuthorizer(always('ignore'));
      server.bayeux.channel('/gi').addAuthorizer(always('grant'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/gi')).to.include({ successful: true });
    });

    it('authorizers on wildcards apply to the channels they match: * one segment, ** any depth', async function () {
      // Declared channels, so only the subscribe/publish operation is asked (see "create" below).
      for (const name of ['/chat/room', '/chat/room/thread', '/other']) server.bayeux.channel(name);
      server.bayeux.channel('/chat/*').addAuthorizer(always('grant'));
      server.bayeux.channel('/other').addAuthorizer(always('ignore'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/chat/room')).to.include({ successful: true });
      // No authorizer registered on or above /chat/room/thread.
      expect(await subscribeReply(c, '/chat/room/thread')).to.include({ successful: true });
      server.bayeux.channel('/chat/**').addAuthorizer(always('ignore'));
      expect(await subscribeReply(c, '/chat/room/thread')).to.include({ error: '403:denied_by_not_granting:subscribe_denied' });
      expect(await subscribeReply(c, '/chat/room')).to.include({ successful: true });
    });

    it('exact ignore + wildcard grant grants; a deny on /** beats an exact grant', async function () {
      server.bayeux.channel('/news/today').addAuthorizer(always('ignore'));
      server.bayeux.channel('/news/*').addAuthorizer(always('grant'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/news/today')).to.include({ successful: true });
      server.bayeux.channel('/**').addAuthorizer((op, channel) => (channel === '/news/today' && op === 'publish' ? { deny: 'read_only' } : 'ignore'));
      expect(await subscribeReply(c, '/news/today')).to.include({ successful: true });
      expect(await publishReply(c, '/news/today', 1)).to.include({ error: '403:read_only:publish_denied' });
    });

    it('a wildcard subscription is checked against the authorizers on and above the pattern', async function () {
      server.bayeux.channel('/a/*').addAuthorizer(always('deny'));
      server.bayeux.channel('/b/**').addAuthorizer(always('grant'));
      const c = await subscriber();
      // addAuthorizer declared '/a/*', so only "subscribe" is asked for the pattern itself.
      expect(await subscribeReply(c, '/a/*')).to.include({ successful: false, error: '403:denied_by_authorizer:subscribe_denied' });
      expect(await subscribeReply(c, '/b/*')).to.include({ successful: true });
    });

    it('are asked "create" first for a channel nobody declared, with the session and message', async function () {
      const asked: string[] = [];
      server.bayeux.channel('/rooms/*').addAuthorizer(async (op, channel, session, message) => {
        await tick(2);
        asked.push(`${op} ${channel} ${session.id === message.clientId}`);
        return op === 'create' && channel === '/rooms/new' ? 'ignore' : 'grant';
      });
      server.bayeux.channel('/rooms/declared');
      const c = await subscriber();
      expect(await subscribeReply(c, '/rooms/new')).to.include({ successful: false, error: '403:denied_by_not_granting:create_denied' });
      expect(await subscribeReply(c, '/rooms/other')).to.include({ successful: true });
      expect(await publishReply(c, '/rooms/declared', 1)).to.include({ successful: true });
      expect(asked).to.deep.equal([
        'create /rooms/new true',
        'create /rooms/other true',
        'subscribe /rooms/other true',
        'publish /rooms/declared true',
      ]);
    });

    it('run after the policy: a policy denial is final', async function () {
      await server.close();
      let authorizerCalls = 0;
      await start({ policy: { canPublish: () => false } });
      server.bayeux.channel('/x').addAuthorizer(() => (authorizerCalls++, 'grant'));
      const c = await subscriber();
      expect(await publishReply(c, '/x', 1)).to.include({ error: '403:denied_by_security_policy:publish_denied' });
      expect(authorizerCalls).to.equal(0);
    });

    it('can be removed', async function () {
      const remove = server.bayeux.channel('/tmp').addAuthorizer(always('deny'));
      const c = await subscriber();
      expect(await subscribeReply(c, '/tmp')).to.include({ successful: false });
      remove();
      remove();
      expect(server.bayeux.authorizerCount).to.equal(0);
      expect(await subscribeReply(c, '/tmp')).to.include({ successful: true });
    });

    it('a denied publish is not broadcast', async function () {
      server.bayeux.channel('/guarded').addAuthorizer((op, _c, _s, message) => (op === 'publish' && message.data === 'bad' ? 'deny' : 'grant'));
      const sub = await subscriber('/guarded');
      const pub = await subscriber();
      expect(await publishReply(pub, '/guarded', 'bad')).to.include({ successful: false });
      expect(await publishReply(pub, '/guarded', 'good')).to.include({ successful: true });
      expect(await mail(sub)).to.deep.equal([{ channel: '/guarded', data: 'good' }]);
    });
  });

  describe('denied handshake advice with real clients', function () {
    /** Times (ms since start) of every handshake the server saw. */
    function countHandshakes(): number[] {
      const started = Date.now();
      const at: number[] = [];
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/meta/handshake') at.push(Date.now() - started);
        },
      });
      return at;
    }

    function gaps(at: number[]): number[] {
      return at.slice(1).map((t, i) => t - at[i]!);
    }

    it('CometD, default advice (none): one attempt, then the client stops', async function () {
      await start({ policy: { canHandshake: () => false } });
      const at = countHandshakes();
      const c = new CometDClient(server.url);
      const failure = await c.handshake().then(
        () => null,
        (e: Error) => e,
      );
      expect(failure?.message).to.include('403::handshake_denied');
      await waitUntil(() => c.status === 'disconnected', 'the CometD client to stop', 10_000);
      // Bounded window: with backoffIncrement 100 a retry would come within ~100 ms.
      await tick(1500);
      expect(at).to.have.length(1);
      expect(c.status).to.equal('disconnected');
    });

    it('CometD, advice handshake with interval 1000: retries about once a second, not in a loop', async function () {
      this.timeout(30_000);
      await start({ policy: { canHandshake: () => false }, deniedHandshakeAdvice: { reconnect: 'handshake', interval: 1000 } });
      const at = countHandshakes();
      const c = new CometDClient(server.url);
      void c.handshake(25_000).catch(() => undefined);
      await waitUntil(() => at.length >= 3, 'three handshake attempts', 20_000);
      const [first, second] = gaps(at);
      // The client waits the advised interval (plus its own back-off) after each reply: never
      // sooner, which is what "not in a loop" means. Late is only a loaded machine.
      for (const g of [first!, second!]) {
        expect(g).to.be.within(990, 10_000);
      }
    });

    it('Faye, default advice (none): one attempt, then the client stops', async function () {
      await start({ policy: { canHandshake: () => false } });
      const at = countHandshakes();
      // retry 0.1 s: without the advice Faye would try again every 100 ms.
      const f = new FayeClient(server.url, { retry: 0.1 });
      f.client.connect();
      await waitUntil(() => at.length >= 1, 'the Faye handshake', 10_000);
      await tick(1500);
      expect(at).to.have.length(1);
      expect(f.state).to.equal('unconnected');
    });

    it('Faye (default retry 5 s), advice handshake with interval 1000: retries about once a second', async function () {
      this.timeout(30_000);
      await start({ policy: { canHandshake: () => false }, deniedHandshakeAdvice: { reconnect: 'handshake', interval: 1000 } });
      const at = countHandshakes();
      const f = new FayeClient(server.url, { retry: 5 });
      f.client.connect();
      // Within the first `retry` period only the advice's timer drives the retries: no gap is
      // shorter than the interval, and none is as long as Faye's own 5 s retry.
      await waitUntil(() => at.length >= 4, 'four Faye handshake attempts', 20_000);
      for (const gap of gaps(at).slice(0, 3)) expect(gap).to.be.within(990, 4999);
    });

    it('Faye, advice handshake with a `retry` shorter than the interval: Faye retries at `retry`', async function () {
      this.timeout(30_000);
      // An interval far longer than `retry`, so which timer drove each attempt is plain.
      await start({ policy: { canHandshake: () => false }, deniedHandshakeAdvice: { reconnect: 'handshake', interval: 5000 } });
      const at = countHandshakes();
      // Faye also re-sends a failed handshake after `retry` seconds, whatever the advice
      // says: that timer runs beside the advice's, and the shorter one wins.
      const f = new FayeClient(server.url, { retry: 0.3 });
      f.client.connect();
      await waitUntil(() => at.length >= 4, 'four Faye handshake attempts', 20_000);
      for (const gap of gaps(at).slice(0, 3)) expect(gap).to.be.within(250, 4999);
    });

    it('Faye, advice handshake with interval 0: Faye loops as fast as the server answers (why the default is none)', async function () {
      await start({ policy: { canHandshake: () => false }, deniedHandshakeAdvice: { reconnect: 'handshake', interval: 0 } });
      const at = countHandshakes();
      const f = new FayeClient(server.url, { retry: 5 });
      f.client.connect();
      await waitUntil(() => at.length >= 20, 'twenty Faye handshake attempts', 10_000);
      // Twenty attempts where Faye's own 5 s retry alone would take 95 s: a reconnect storm.
      expect(at[19]!).to.be.below(10_000);
      await f.close();
    });
  });

  describe('broadcastToPublisher', function () {
    it('false at server level: the publisher does not get its own message, others do', async function () {
      await start({ broadcastToPublisher: false });
      const pub = await subscriber('/room');
      const other = await subscriber('/room');
      const third = await subscriber();
      // The publisher's own mail would ride on its publish response.
      expect(deliveries(await pub.publish('/room', 'from pub'))).to.deep.equal([]);
      expect(await publishReply(third, '/room', 'sentinel')).to.include({ successful: true });
      expect(await mail(pub)).to.deep.equal([{ channel: '/room', data: 'sentinel' }]);
      expect(await mail(other)).to.deep.equal([
        { channel: '/room', data: 'from pub' },
        { channel: '/room', data: 'sentinel' },
      ]);
    });

    it('also applies through a wildcard subscription', async function () {
      await start({ broadcastToPublisher: false });
      const pub = await subscriber('/room/*');
      const other = await subscriber('/room/*');
      await publishReply(pub, '/room/a', 'mine');
      await publishReply(other, '/room/a', 'sentinel');
      expect(await mail(pub)).to.deep.equal([{ channel: '/room/a', data: 'sentinel' }]);
    });

    it('default true: the publisher gets its own message', async function () {
      await start();
      const pub = await subscriber('/room');
      // Deliveries ride on the publisher's own publish response.
      const r = await pub.publish('/room', 'echo');
      expect(deliveries(r)).to.deep.equal([{ channel: '/room', data: 'echo' }]);
    });

    it('false on one channel: only that channel skips the publisher', async function () {
      await start();
      server.bayeux.channel('/quiet').broadcastToPublisher = false;
      const pub = await subscriber('/quiet', '/loud');
      const other = await subscriber('/quiet');
      const r1 = await pub.publish('/quiet', 'q');
      expect(deliveries(r1)).to.deep.equal([]);
      const r2 = await pub.publish('/loud', 'l');
      expect(deliveries(r2)).to.deep.equal([{ channel: '/loud', data: 'l' }]);
      expect(await mail(other)).to.deep.equal([{ channel: '/quiet', data: 'q' }]);
    });

    it('true on one channel overrides false at server level', async function () {
      await start({ broadcastToPublisher: false });
      server.bayeux.channel('/echo').broadcastToPublisher = true;
      const pub = await subscriber('/echo', '/plain');
      expect(deliveries(await pub.publish('/echo', 'e'))).to.deep.equal([{ channel: '/echo', data: 'e' }]);
      expect(deliveries(await pub.publish('/plain', 'p'))).to.deep.equal([]);
    });

    it('does not affect app-code publishes', async function () {
      await start({ broadcastToPublisher: false });
      const sub = await subscriber('/room');
      expect(await server.bayeux.publish('/room', 'app')).to.equal(1);
      expect(await mail(sub)).to.deep.equal([{ channel: '/room', data: 'app' }]);
    });

    it('with the real CometD client: the publisher hears nothing, another client hears it', async function () {
      await start({ broadcastToPublisher: false });
      const a = new CometDClient(server.url);
      const b = new CometDClient(server.url);
      await Promise.all([a.handshake(), b.handshake()]);
      await Promise.all([a.subscribe('/group', () => undefined), b.subscribe('/group', () => undefined)]);
      await a.publish('/group', 'from a');
      await b.publish('/group', 'from b');
      await a.wire.until((m) => m.data === 'from b', 'the message from b at a');
      await b.wire.until((m) => m.data === 'from a', 'the message from a at b');
      // b published after a; a got b's message, so its own would have come first.
      expect(a.wireOn('/group').map((m) => m.data)).to.deep.equal(['from b']);
      await a.publish('/group', 'sentinel from a');
      await b.wire.until((m) => m.data === 'sentinel from a', 'the sentinel at b');
      expect(b.wireOn('/group').map((m) => m.data)).to.deep.equal(['from a', 'sentinel from a']);
    });
  });
});

async function expectRefused(p: Promise<unknown>): Promise<void> {
  const r = await p.then(
    () => 'accepted',
    (e: Error) => e.message,
  );
  expect(r).to.include('handshake refused');
}
