/**
 * Server-side extensions: ordering (incoming in registration order, outgoing in reverse,
 * per-session hooks inside the server-wide ones), modification, replacement, deletion and
 * refusal of incoming messages, async hooks, the request context each hook sees, what
 * outgoing hooks see (replies with `inReplyTo`, deliveries), how often they run (server-wide
 * once per broadcast, per-session once per delivery), held connects, and removal.
 *
 * Negative checks ("X was not delivered") use a sentinel: the same publisher sends a
 * sentinel after X, and a session's deliveries keep their order, so once the sentinel is
 * in, X would have been too.
 */
import { expect } from 'chai';
import {
  BayeuxErrorException,
  Errors,
  type Extension,
  type ExtensionContext,
  type Message,
  type OutgoingMessage,
  type ServerSession,
} from '../index.js';
import { RawServer, deliveries, replyOn, waitForHold, type RawClient, type WireMessage } from './support/raw-client.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { Inbox, deferred, withTimeout } from './support/wait.js';

describe('extensions', function () {
  let server: RawServer;

  beforeEach(async function () {
    server = await RawServer.start({ timeout: 2000 });
  });

  afterEach(async function () {
    await closeAllCometDClients();
    await server.close();
  });

  /** A connected client subscribed to `channels`. */
  async function subscriber(...channels: string[]): Promise<RawClient> {
    const c = await server.connectedClient();
    if (channels.length > 0) await c.mustSubscribe(channels);
    return c;
  }

  /** The deliveries of `c`'s next connect, which must be answered with mail waiting. */
  async function mail(c: RawClient): Promise<WireMessage[]> {
    const r = await c.connect();
    expect(replyOn(r, '/meta/connect').successful).to.equal(true);
    return deliveries(r);
  }

  /** Publishes `data` and checks the reply was successful. */
  async function mustPublish(c: RawClient, channel: string, data: unknown, init: RequestInit = {}): Promise<WireMessage> {
    const reply = replyOn(await c.send({ channel, data }, init), channel);
    expect(reply.successful, JSON.stringify(reply)).to.equal(true);
    return reply;
  }

  describe('ordering', function () {
    it('runs incoming hooks in registration order and outgoing hooks in reverse', async function () {
      const log: string[] = [];
      const named = (name: string): Extension => ({
        incoming(m) {
          if (m.channel === '/order') log.push(`in:${name}`);
        },
        outgoing(m) {
          if (m.channel === '/order' && 'successful' in m) log.push(`out:${name}`);
        },
      });
      server.bayeux.addExtension(named('A'));
      server.bayeux.addExtension(named('B'));
      server.bayeux.addExtension(named('C'));
      const c = await subscriber();
      await mustPublish(c, '/order', 1);
      expect(log).to.deep.equal(['in:A', 'in:B', 'in:C', 'out:C', 'out:B', 'out:A']);
    });

    it('nests per-session hooks inside the server-wide ones: incoming after, outgoing before', async function () {
      const log: string[] = [];
      const named = (name: string): Extension => ({
        incoming(m) {
          if (m.channel === '/order') log.push(`in:${name}`);
        },
        outgoing(m) {
          if (m.channel === '/order' && 'successful' in m) log.push(`out:${name}`);
        },
      });
      server.bayeux.addExtension(named('server1'));
      server.bayeux.addExtension(named('server2'));
      server.bayeux.on('handshake', (session) => {
        session.addExtension(named('session1'));
        session.addExtension(named('session2'));
      });
      const c = await subscriber();
      await mustPublish(c, '/order', 1);
      expect(log).to.deep.equal([
        'in:server1',
        'in:server2',
        'in:session1',
        'in:session2',
        'out:session2',
        'out:session1',
        'out:server2',
        'out:server1',
      ]);
    });

    it('deliveries pass the server-wide outgoing hooks first (at publish), then the session\'s (when written)', async function () {
      server.bayeux.addExtension({
        outgoing(m) {
          if (m.channel === '/staged' && !('successful' in m)) m.ext = { stages: ['server'] };
        },
      });
      const sub = await subscriber('/staged');
      server.bayeux.session(sub.clientId!).addExtension({
        outgoing(m) {
          if (m.channel === '/staged' && !('successful' in m)) (m.ext as { stages: string[] }).stages.push('session');
        },
      });
      const pub = await subscriber();
      await mustPublish(pub, '/staged', 1);
      expect(await mail(sub)).to.deep.equal([{ channel: '/staged', data: 1, ext: { stages: ['server', 'session'] } }]);
    });

    it('adding the same extension twice registers it once', async function () {
      let calls = 0;
      const ext: Extension = {
        incoming(m) {
          if (m.channel === '/once') calls++;
        },
      };
      server.bayeux.addExtension(ext);
      server.bayeux.addExtension(ext);
      const c = await subscriber();
      await mustPublish(c, '/once', 1);
      expect(calls).to.equal(1);
    });
  });

  describe('incoming hooks', function () {
    it('can change a message in place, and subscribers get the changed message', async function () {
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/rewrite') m.data = { text: String((m.data as { text: string }).text).toUpperCase(), checked: true };
        },
      });
      const sub = await subscriber('/rewrite');
      const pub = await subscriber();
      await mustPublish(pub, '/rewrite', { text: 'hello' });
      const got = await mail(sub);
      expect(got).to.deep.equal([{ channel: '/rewrite', data: { text: 'HELLO', checked: true } }]);
    });

    it('can return a replacement message', async function () {
      server.bayeux.addExtension({
        incoming(m): Message | undefined {
          if (m.channel !== '/replace') return undefined;
          return { ...m, data: { replaced: true, was: m.data }, ext: { by: 'extension' } };
        },
      });
      const sub = await subscriber('/replace');
      const pub = await subscriber();
      await mustPublish(pub, '/replace', 7);
      expect(await mail(sub)).to.deep.equal([{ channel: '/replace', data: { replaced: true, was: 7 }, ext: { by: 'extension' } }]);
    });

    it('a later hook sees what an earlier one changed', async function () {
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/chain') return { ...m, data: [...(m.data as string[]), 'first'] };
          return undefined;
        },
      });
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/chain') (m.data as string[]).push('second');
        },
      });
      const sub = await subscriber('/chain');
      const pub = await subscriber();
      await mustPublish(pub, '/chain', ['client']);
      expect(await mail(sub)).to.deep.equal([{ channel: '/chain', data: ['client', 'first', 'second'] }]);
    });

    it('returning null deletes the message: the sender gets 404::message_deleted and nothing is broadcast', async function () {
      const later: string[] = [];
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/del' && (m.data as { drop?: boolean }).drop) return null;
          return undefined;
        },
      });
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/del') later.push(JSON.stringify(m.data));
        },
      });
      let published = 0;
      server.bayeux.on('publish', () => published++);
      const sub = await subscriber('/del');
      const pub = await subscriber();
      const [reply] = await pub.publish('/del', { drop: true });
      expect(reply).to.include({ channel: '/del', successful: false, error: '404::message_deleted' });
      expect(reply!.id).to.be.a('string');
      await mustPublish(pub, '/del', { sentinel: true });
      expect(await mail(sub)).to.deep.equal([{ channel: '/del', data: { sentinel: true } }]);
      // The deleting hook ends the chain: the next hook never saw the deleted message.
      expect(later).to.deep.equal([JSON.stringify({ sentinel: true })]);
      expect(published).to.equal(1);
    });

    it('deleting a subscribe refuses it: the session is not subscribed', async function () {
      server.bayeux.addExtension({
        incoming(m) {
          return m.channel === '/meta/subscribe' && m.subscription === '/secret' ? null : undefined;
        },
      });
      const c = await subscriber();
      const reply = replyOn(await c.subscribe('/secret'), '/meta/subscribe');
      expect(reply).to.include({ successful: false, error: '404::message_deleted', subscription: '/secret' });
      expect(await server.bayeux.session(c.clientId!).subscriptions()).to.deep.equal([]);
    });

    it('a subscribe refused by a hook is dropped by the real CometD client (the reply echoes subscription)', async function () {
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/meta/subscribe' && m.subscription === '/secret') m.error = '403:secret:subscribe_denied';
        },
      });
      const c = new CometDClient(server.url);
      await c.handshake();
      const stale: unknown[] = [];
      const refused = await c.subscribe('/secret', (m) => stale.push(m.data)).then(
        () => null,
        (e: Error) => e.message,
      );
      expect(refused).to.include('403:secret:subscribe_denied');
      const all = new Inbox<unknown>();
      await c.subscribe('/*', (m) => all.push(m.data));
      // Delivered through '/*': had the client kept the refused '/secret' subscription, its
      // callback would fire too.
      await server.bayeux.publish('/secret', 'via wildcard');
      await server.bayeux.publish('/other', 'sentinel');
      await all.atLeast(2, 'both messages through /*');
      expect(stale).to.deep.equal([]);
    });

    it('setting message.error refuses the message with that error string', async function () {
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/err') m.error = '403:quota:quota_exceeded';
        },
      });
      let reached = false;
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/err') reached = true;
        },
      });
      const sub = await subscriber('/err', '/ok');
      const pub = await subscriber();
      const [reply] = await pub.publish('/err', 1);
      expect(reply).to.include({ channel: '/err', successful: false, error: '403:quota:quota_exceeded' });
      expect(reached, 'a hook after the refusing one ran').to.equal(false);
      await mustPublish(pub, '/ok', 'sentinel');
      expect(await mail(sub)).to.deep.equal([{ channel: '/ok', data: 'sentinel' }]);
    });

    it('throwing a BayeuxErrorException refuses the message with its error', async function () {
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/throw') throw new BayeuxErrorException(Errors.denied('publish', 'not_today'));
        },
      });
      const c = await subscriber();
      const [reply] = await c.publish('/throw', 1);
      expect(reply).to.include({ channel: '/throw', successful: false, error: '403:not_today:publish_denied' });
    });

    it('any other exception becomes 500::internal_error and is reported on the error event', async function () {
      const errors: unknown[] = [];
      server.bayeux.on('error', (e) => errors.push(e));
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/boom') throw new Error('extension bug');
        },
      });
      const c = await subscriber();
      const [reply] = await c.publish('/boom', 1);
      expect(reply).to.include({ successful: false, error: '500::internal_error' });
      expect(errors).to.have.length(1);
      expect((errors[0] as Error).message).to.equal('extension bug');
    });

    it('may be async: the server waits for each hook, in order', async function () {
      const log: string[] = [];
      server.bayeux.addExtension({
        async incoming(m) {
          if (m.channel !== '/slow') return undefined;
          await new Promise((r) => setTimeout(r, 30));
          log.push('slow done');
          return { ...m, data: { ...(m.data as object), slow: true } };
        },
      });
      server.bayeux.addExtension({
        async incoming(m) {
          if (m.channel !== '/slow') return;
          log.push('fast');
          (m.data as { fast?: boolean }).fast = true;
        },
      });
      const sub = await subscriber('/slow');
      const pub = await subscriber();
      await mustPublish(pub, '/slow', {});
      expect(log).to.deep.equal(['slow done', 'fast']);
      expect(await mail(sub)).to.deep.equal([{ channel: '/slow', data: { slow: true, fast: true } }]);
    });

    it('an async hook that rejects with a BayeuxErrorException refuses the message', async function () {
      server.bayeux.addExtension({
        async incoming(m) {
          if (m.channel !== '/meta/subscribe') return;
          await new Promise((r) => setTimeout(r, 5));
          throw new BayeuxErrorException(Errors.denied('subscribe', 'later'));
        },
      });
      const c = await subscriber();
      const reply = replyOn(await c.subscribe('/x'), '/meta/subscribe');
      expect(reply).to.include({ successful: false, error: '403:later:subscribe_denied', subscription: '/x' });
    });

    it('sees the handshake with no session and later messages with their session', async function () {
      const seen: { channel: string; session: string | null }[] = [];
      server.bayeux.addExtension({
        incoming(m, ctx) {
          seen.push({ channel: m.channel, session: ctx.session?.id ?? null });
        },
      });
      const c = await subscriber('/s');
      expect(seen).to.deep.equal([
        { channel: '/meta/handshake', session: null },
        { channel: '/meta/connect', session: c.clientId },
        { channel: '/meta/subscribe', session: c.clientId },
      ]);
    });
  });

  describe('unknown sessions', function () {
    it('hooks run before the session check: they get a handle that does not exist, the sender gets 402', async function () {
      const seen: { id: string | undefined; exists: boolean | undefined }[] = [];
      server.bayeux.addExtension({
        async incoming(m, ctx) {
          if (m.channel === '/ghost') seen.push({ id: ctx.session?.id, exists: await ctx.session?.exists() });
        },
      });
      const [reply] = await server.send([{ channel: '/ghost', data: 1, clientId: 'f'.repeat(32), id: '1' }]);
      expect(reply).to.include({ successful: false, error: '402::session_unknown' });
      expect(seen).to.deep.equal([{ id: 'f'.repeat(32), exists: false }]);
    });
  });

  describe('request context', function () {
    it('shows the request headers, remote address and URL to incoming and outgoing hooks', async function () {
      const seen: { hook: string; channel: string; tag: unknown; remote: string | undefined; url: string | undefined }[] = [];
      server.bayeux.addExtension({
        incoming(m, ctx) {
          seen.push({ hook: 'in', channel: m.channel, tag: ctx.request?.headers['x-tag'], remote: ctx.request?.remoteAddress, url: ctx.request?.url });
        },
        outgoing(m, ctx) {
          if ('successful' in m) {
            seen.push({ hook: 'out', channel: m.channel, tag: ctx.request?.headers['x-tag'], remote: ctx.request?.remoteAddress, url: ctx.request?.url });
          }
        },
      });
      const c = server.client();
      await c.handshake();
      seen.length = 0;
      await c.send({ channel: '/ctx', data: 1 }, { headers: { 'X-Tag': 'custom-value' } });
      expect(seen).to.have.length(2);
      for (const s of seen) {
        expect(s.channel).to.equal('/ctx');
        expect(s.tag).to.equal('custom-value');
        expect(s.remote).to.be.oneOf(['127.0.0.1', '::ffff:127.0.0.1']);
        expect(s.url).to.equal('/cometd');
      }
    });

    it('keeps concurrent requests apart: each hook sees its own request', async function () {
      // Both publishes are inside the hook at the same time (a barrier), so any shared
      // per-request state would show the other request's header.
      const arrived: string[] = [];
      const both = deferred<void>();
      server.bayeux.addExtension({
        async incoming(m, ctx) {
          if (m.channel !== '/tags') return;
          arrived.push(String(ctx.request?.headers['x-tag']));
          if (arrived.length === 2) both.resolve();
          await withTimeout(both.promise, 'both publishes inside the hook', 3000);
          (m.data as { seenTag?: unknown }).seenTag = ctx.request?.headers['x-tag'];
        },
        outgoing(m, ctx) {
          if (m.channel === '/tags' && 'successful' in m) m.ext = { replyTag: ctx.request?.headers['x-tag'] };
        },
      });
      const sub = await subscriber('/tags');
      const a = await subscriber();
      const b = await subscriber();
      const [ra, rb] = await Promise.all([
        a.send({ channel: '/tags', data: { sent: 'alpha' } }, { headers: { 'X-Tag': 'alpha' } }),
        b.send({ channel: '/tags', data: { sent: 'beta' } }, { headers: { 'X-Tag': 'beta' } }),
      ]);
      expect(arrived.sort()).to.deep.equal(['alpha', 'beta']);
      expect(replyOn(ra!, '/tags').ext).to.deep.equal({ replyTag: 'alpha' });
      expect(replyOn(rb!, '/tags').ext).to.deep.equal({ replyTag: 'beta' });
      const got = (await mail(sub)).map((m) => m.data as { sent: string; seenTag: string });
      expect(got).to.have.length(2);
      for (const d of got) expect(d.seenTag).to.equal(d.sent);
    });
  });

  describe('outgoing hooks', function () {
    it('see replies with the message they answer (inReplyTo), and the session', async function () {
      const replies: { channel: string; inReplyTo: unknown; id: unknown; session: string | null }[] = [];
      server.bayeux.addExtension({
        outgoing(m, ctx) {
          if (!('successful' in m)) return;
          replies.push({ channel: m.channel, id: m.id, inReplyTo: ctx.inReplyTo?.id, session: ctx.session?.id ?? null });
        },
      });
      const c = await subscriber('/r');
      const [hs, connect, sub] = replies;
      expect(hs).to.include({ channel: '/meta/handshake', session: c.clientId });
      expect(connect).to.include({ channel: '/meta/connect', session: c.clientId });
      expect(sub).to.include({ channel: '/meta/subscribe', session: c.clientId });
      for (const r of replies) expect(r.inReplyTo).to.equal(r.id);
    });

    it('may change a reply or add ext to it', async function () {
      server.bayeux.addExtension({
        outgoing(m, ctx) {
          if (m.channel === '/meta/handshake' && 'successful' in m && m.successful) {
            m.ext = { ...(m.ext ?? {}), welcome: `hello ${String(ctx.inReplyTo?.ext?.name)}` };
          }
        },
      });
      const c = server.client();
      const reply = await c.handshake({ ext: { name: 'ada' } });
      expect(reply.ext).to.deep.equal({ welcome: 'hello ada' });
    });

    it('see deliveries with the publisher as session and no request', async function () {
      const seen: { data: unknown; session: string | null; request: unknown }[] = [];
      server.bayeux.addExtension({
        outgoing(m, ctx) {
          if (m.channel === '/d' && !('successful' in m)) seen.push({ data: m.data, session: ctx.session?.id ?? null, request: ctx.request });
        },
      });
      const sub = await subscriber('/d');
      const pub = await subscriber();
      await mustPublish(pub, '/d', 'from client');
      await server.bayeux.publish('/d', 'from app');
      expect(seen).to.deep.equal([
        { data: 'from client', session: pub.clientId, request: null },
        { data: 'from app', session: null, request: null },
      ]);
      expect((await mail(sub)).map((m) => m.data)).to.deep.equal(['from client', 'from app']);
    });

    it('see a direct delivery with the receiving session', async function () {
      const seen: (string | null)[] = [];
      server.bayeux.addExtension({
        outgoing(m, ctx) {
          if (m.channel === '/service/echo' && !('successful' in m)) seen.push(ctx.session?.id ?? null);
        },
      });
      server.bayeux.channel('/service/echo').onMessage((m, session) => {
        void session.deliver(m.channel, m.data, { id: m.id });
      });
      const c = await subscriber();
      const r = await c.send({ channel: '/service/echo', data: 'ping' });
      expect(replyOn(r, '/service/echo').successful).to.equal(true);
      expect(seen).to.deep.equal([c.clientId]);
    });

    it('server-wide: run once per broadcast, whatever the number of subscribers', async function () {
      let calls = 0;
      server.bayeux.addExtension({
        outgoing(m) {
          if (m.channel === '/fan' && !('successful' in m)) {
            calls++;
            m.ext = { stamped: calls };
          }
        },
      });
      const subs = await Promise.all(Array.from({ length: 50 }, () => subscriber('/fan')));
      const pub = await subscriber();
      await mustPublish(pub, '/fan', 'to all');
      const got = await Promise.all(subs.map(mail));
      for (const g of got) expect(g).to.deep.equal([{ channel: '/fan', data: 'to all', ext: { stamped: 1 } }]);
      expect(calls).to.equal(1);
    });

    it('per-session: run once for each delivery to that session', async function () {
      let serverCalls = 0;
      let sessionCalls = 0;
      server.bayeux.addExtension({
        outgoing(m) {
          if (m.channel === '/fan' && !('successful' in m)) serverCalls++;
        },
      });
      server.bayeux.on('handshake', (session: ServerSession) => {
        session.addExtension({
          outgoing(m, ctx) {
            if (m.channel !== '/fan' || 'successful' in m) return;
            sessionCalls++;
            expect(ctx.session?.id).to.equal(session.id);
            m.ext = { ...(m.ext ?? {}), to: session.id };
          },
        });
      });
      const subs = await Promise.all(Array.from({ length: 50 }, () => subscriber('/fan')));
      const pub = await subscriber();
      await mustPublish(pub, '/fan', 'personal');
      await mustPublish(pub, '/fan', 'again');
      const got = await Promise.all(subs.map(mail));
      got.forEach((g, i) => {
        expect(g).to.deep.equal([
          { channel: '/fan', data: 'personal', ext: { to: subs[i]!.clientId } },
          { channel: '/fan', data: 'again', ext: { to: subs[i]!.clientId } },
        ]);
      });
      expect(serverCalls).to.equal(2);
      expect(sessionCalls).to.equal(100);
    });

    it('returning null drops a delivery (server-wide: for everyone)', async function () {
      server.bayeux.addExtension({
        outgoing(m) {
          return m.channel === '/drop' && !('successful' in m) && m.data === 'secret' ? null : undefined;
        },
      });
      const sub1 = await subscriber('/drop');
      const sub2 = await subscriber('/drop');
      const pub = await subscriber();
      // The publisher's reply is not dropped: only the delivery is.
      await mustPublish(pub, '/drop', 'secret');
      await mustPublish(pub, '/drop', 'sentinel');
      expect(await mail(sub1)).to.deep.equal([{ channel: '/drop', data: 'sentinel' }]);
      expect(await mail(sub2)).to.deep.equal([{ channel: '/drop', data: 'sentinel' }]);
    });

    it('returning null from a per-session hook drops the delivery for that session only', async function () {
      const sub1 = await subscriber('/drop');
      const sub2 = await subscriber('/drop');
      server.bayeux.session(sub1.clientId!).addExtension({
        outgoing(m) {
          return m.channel === '/drop' && m.data === 'not for sub1' ? null : undefined;
        },
      });
      const pub = await subscriber();
      await mustPublish(pub, '/drop', 'not for sub1');
      await mustPublish(pub, '/drop', 'sentinel');
      expect(await mail(sub1)).to.deep.equal([{ channel: '/drop', data: 'sentinel' }]);
      expect(await mail(sub2)).to.deep.equal([
        { channel: '/drop', data: 'not for sub1' },
        { channel: '/drop', data: 'sentinel' },
      ]);
    });

    it('returning null for a reply leaves it out of the response', async function () {
      server.bayeux.addExtension({
        outgoing(m) {
          return m.channel === '/quiet' && 'successful' in m ? null : undefined;
        },
      });
      const c = await subscriber();
      const r = await c.send([
        { channel: '/quiet', data: 1 },
        { channel: '/loud', data: 2 },
      ]);
      expect(r.map((m) => m.channel)).to.deep.equal(['/loud']);
    });

    it('the reply of a held connect passes them, woken by mail', async function () {
      const seen: { inReplyTo: unknown; session: string | null; tag: unknown }[] = [];
      server.bayeux.addExtension({
        outgoing(m, ctx) {
          if (m.channel === '/meta/connect' && 'successful' in m) {
            seen.push({ inReplyTo: ctx.inReplyTo?.id, session: ctx.session?.id ?? null, tag: ctx.request?.headers['x-tag'] });
            m.ext = { stamped: 'server' };
          }
          if (m.channel === '/wake' && !('successful' in m)) m.ext = { delivery: true };
        },
      });
      const sub = await subscriber('/wake');
      seen.length = 0;
      const held = sub.connect({ id: 'held-1' }, { headers: { 'X-Tag': 'held' } });
      await waitForHold(server, sub.clientId);
      const pub = await subscriber();
      await mustPublish(pub, '/wake', 'up');
      const r = await held;
      expect(r).to.deep.equal([
        { channel: '/wake', data: 'up', ext: { delivery: true } },
        { id: 'held-1', channel: '/meta/connect', successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 2000 }, ext: { stamped: 'server' } },
      ]);
      const mine = seen.filter((s) => s.session === sub.clientId);
      expect(mine).to.deep.equal([{ inReplyTo: 'held-1', session: sub.clientId, tag: 'held' }]);
    });

    it('the reply of a held connect passes them, at the timeout, with per-session hooks too', async function () {
      await server.close();
      server = await RawServer.start({ timeout: 200 });
      const log: string[] = [];
      server.bayeux.addExtension({
        outgoing(m) {
          if (m.channel === '/meta/connect' && 'successful' in m) log.push('server');
        },
      });
      const c = await subscriber();
      server.bayeux.session(c.clientId!).addExtension({
        outgoing(m) {
          if (m.channel === '/meta/connect' && 'successful' in m) {
            log.push('session');
            m.ext = { mine: true };
          }
        },
      });
      log.length = 0;
      const started = Date.now();
      const r = await c.connect();
      expect(Date.now() - started).to.be.at.least(150);
      expect(replyOn(r, '/meta/connect')).to.include({ successful: true }).and.to.have.deep.property('ext', { mine: true });
      expect(log).to.deep.equal(['session', 'server']);
    });

    it('a throwing outgoing hook is reported and skipped: replies, held connects and mail still go out', async function () {
      const errors: string[] = [];
      server.bayeux.on('error', (e) => errors.push((e as Error).message));
      server.bayeux.addExtension({
        outgoing(m) {
          if (m.channel === '/bad-reply' && 'successful' in m) throw new Error('reply hook bug');
        },
      });
      const sub = await subscriber('/mail');
      server.bayeux.session(sub.clientId!).addExtension({
        outgoing(m) {
          if (m.channel === '/mail' && !('successful' in m)) throw new Error('session hook bug');
        },
      });
      const r = await sub.send({ channel: '/bad-reply', data: 1 });
      expect(replyOn(r, '/bad-reply').successful).to.equal(true);
      // A held connect whose mail meets the throwing per-session hook is still answered.
      const held = sub.connect();
      await waitForHold(server, sub.clientId);
      await server.bayeux.publish('/mail', 'still delivered');
      const got = await held;
      expect(deliveries(got)).to.deep.equal([{ channel: '/mail', data: 'still delivered' }]);
      expect(replyOn(got, '/meta/connect').successful).to.equal(true);
      expect(errors).to.deep.equal(['reply hook bug', 'session hook bug']);
    });

    it('an async outgoing hook delays the response until it is done', async function () {
      server.bayeux.addExtension({
        async outgoing(m) {
          if (m.channel !== '/meta/subscribe') return;
          await new Promise((r) => setTimeout(r, 30));
          m.ext = { late: true };
        },
      });
      const c = await subscriber();
      const reply = replyOn(await c.subscribe('/a'), '/meta/subscribe');
      expect(reply.ext).to.deep.equal({ late: true });
    });
  });

  describe('in-process clients', function () {
    it('pass through the same hooks', async function () {
      const seen: string[] = [];
      server.bayeux.addExtension({
        incoming(m) {
          if (m.channel === '/local') {
            seen.push('in');
            m.data = { wrapped: m.data };
          }
        },
        outgoing(m) {
          if (m.channel === '/local' && !('successful' in m)) seen.push('out');
        },
      });
      const local = await server.bayeux.localClient();
      const got = deferred<unknown>();
      await local.subscribe('/local', (m) => got.resolve(m.data));
      await local.publish('/local', 'x');
      expect(await withTimeout(got.promise, 'the local delivery')).to.deep.equal({ wrapped: 'x' });
      expect(seen).to.deep.equal(['in', 'out']);
      await local.disconnect();
    });
  });

  describe('removal', function () {
    it('a removed server-wide extension is no longer called', async function () {
      const calls: string[] = [];
      const ext: Extension = {
        incoming(m) {
          if (m.channel === '/rm') calls.push('in');
        },
        outgoing(m) {
          if (m.channel === '/rm') calls.push('successful' in m ? 'reply' : 'delivery');
        },
      };
      server.bayeux.addExtension(ext);
      const sub = await subscriber('/rm');
      const pub = await subscriber();
      await mustPublish(pub, '/rm', 1);
      expect(calls).to.deep.equal(['in', 'delivery', 'reply']);
      expect(server.bayeux.removeExtension(ext)).to.equal(true);
      expect(server.bayeux.removeExtension(ext)).to.equal(false);
      await mustPublish(pub, '/rm', 2);
      expect(calls).to.have.length(3);
      expect((await mail(sub)).map((m) => m.data)).to.deep.equal([1, 2]);
    });

    it('a removed per-session extension is no longer called; the others stay', async function () {
      const calls: string[] = [];
      const c = await subscriber('/rm');
      const session = server.bayeux.session(c.clientId!);
      const make = (name: string): Extension => ({
        incoming(m) {
          if (m.channel === '/rm') calls.push(`in:${name}`);
        },
        outgoing(m) {
          if (m.channel === '/rm' && !('successful' in m)) calls.push(`out:${name}`);
        },
      });
      const one = make('one');
      const two = make('two');
      session.addExtension(one);
      session.addExtension(two);
      // The session publishes to a channel it is subscribed to: its own delivery rides back
      // on the publish response, through its outgoing hooks.
      const got: unknown[] = [];
      const publish = async (data: number): Promise<void> => {
        const r = await c.send({ channel: '/rm', data });
        expect(replyOn(r, '/rm').successful).to.equal(true);
        got.push(...deliveries(r).map((m) => m.data));
      };
      await publish(1);
      expect(session.removeExtension(one)).to.equal(true);
      expect(session.removeExtension(one)).to.equal(false);
      await publish(2);
      expect(session.removeExtension(two)).to.equal(true);
      await publish(3);
      expect(got).to.deep.equal([1, 2, 3]);
      expect(calls).to.deep.equal(['in:one', 'in:two', 'out:two', 'out:one', 'in:two', 'out:two']);
      expect(server.bayeux.extensions.hasOwn(c.clientId!)).to.equal(false);
    });

    it('per-session extensions go with the session', async function () {
      const c = await subscriber();
      server.bayeux.session(c.clientId!).addExtension({ incoming() {} });
      expect(server.bayeux.extensions.hasOwn(c.clientId!)).to.equal(true);
      await c.disconnect();
      expect(server.bayeux.extensions.hasOwn(c.clientId!)).to.equal(false);
    });

    it('a hook may remove its own extension while running', async function () {
      let calls = 0;
      const ext: Extension = {
        incoming: (m: Message, ctx: ExtensionContext) => {
          if (m.channel !== '/self') return;
          calls++;
          server.bayeux.removeExtension(ext);
        },
        outgoing: (_m: OutgoingMessage) => undefined,
      };
      server.bayeux.addExtension(ext);
      const c = await subscriber();
      await mustPublish(c, '/self', 1);
      await mustPublish(c, '/self', 2);
      expect(calls).to.equal(1);
    });
  });
});
