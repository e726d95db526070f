/**
 * The EventSource transport (Faye's server-sent events) over raw HTTP: connects named
 * `eventsource` are heartbeats answered at once; `GET <mount>/<clientId>` with
 * `Accept: text/event-stream` opens a stream on which deliveries arrive as
 * `data: [<message>]` events as soon as they are queued; keep-alive comments; the maximum
 * age; nothing lost when a stream ends or is dropped; a second stream replacing the first;
 * the session kept alive by its stream; close and drain; bad requests; option checks.
 */
import http from 'node:http';
import { expect } from 'chai';
import {
  BayeuxServer,
  createHandler,
  eventSource,
  longPolling,
  type BayeuxServerOptions,
  type CodedError,
  type EventSourceOptions,
  type EventSourceTransport,
} from '../index.js';
import type { ConnectResult, Engine, Mail } from '../lib/engines/engine.js';
import { MemoryEngine } from '../lib/engines/memory/memory-engine.js';
import { RawServer, replyOn, type RawClient, type WireMessage } from './support/raw-client.js';
import { MOUNT_PATH, startServer, stopAllServers, type Mount } from './support/servers.js';
import { Inbox, deferred, nextEvent, waitUntil, withTimeout } from './support/wait.js';

/** One server-sent event stream read with node:http, event by event. */
class EventStreamReader {
  /** Every event block (the text between blank lines), in order. */
  readonly blocks = new Inbox<string>();
  /** Resolves when the response is over: true when the server ended it, false when it was cut. */
  readonly ended: Promise<boolean>;
  private buffer = '';

  constructor(
    private readonly req: http.ClientRequest,
    readonly res: http.IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let i = this.buffer.indexOf('\r\n\r\n'); i >= 0; i = this.buffer.indexOf('\r\n\r\n')) {
        this.blocks.push(this.buffer.slice(0, i));
        this.buffer = this.buffer.slice(i + 4);
      }
    });
    this.ended = new Promise((resolve) => res.on('close', () => resolve(res.complete)));
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** The messages of the data events so far, in order. */
  messages(): WireMessage[] {
    return this.blocks.items.filter((b) => b.startsWith('data: ')).flatMap((b) => JSON.parse(b.slice(6)) as WireMessage[]);
  }

  /** Waits for a data event whose message passes `test`. */
  async message(test: (m: WireMessage) => boolean, what: string): Promise<WireMessage> {
    const block = await this.blocks.until((b) => b.startsWith('data: ') && (JSON.parse(b.slice(6)) as WireMessage[]).some(test), what);
    return (JSON.parse(block.slice(6)) as WireMessage[]).find(test)!;
  }

  /** The client goes away. */
  close(): void {
    this.req.destroy();
  }
}

const readers = new Set<EventStreamReader>();

/** GETs `path` on `origin` as an EventSource would; resolves once the response head is in. */
function openStream(origin: string, path: string, headers: Record<string, string> = { Accept: 'text/event-stream' }): Promise<EventStreamReader> {
  return withTimeout(
    new Promise<EventStreamReader>((resolve, reject) => {
      const req = http.get(origin + path, { headers, agent: false }, (res) => {
        const reader = new EventStreamReader(req, res);
        readers.add(reader);
        resolve(reader);
      });
      req.on('error', reject);
    }),
    `the response to GET ${path}`,
  );
}

/** Reads a whole (refusal) response. */
async function getText(origin: string, path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; type: string; text: string }> {
  const r = await fetch(origin + path, { method, headers, signal: AbortSignal.timeout(5000) });
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

interface EsServer {
  readonly raw: RawServer;
  readonly transport: EventSourceTransport;
  readonly errors: unknown[];
}

const servers = new Set<RawServer>();

/** A server at `/cometd` with long-polling and the EventSource transport (options as given). */
async function start(options: BayeuxServerOptions = {}, es: EventSourceOptions = {}): Promise<EsServer> {
  const transport = eventSource(es);
  const raw = await RawServer.start(options, { path: '/cometd', transports: [longPolling(), transport] });
  servers.add(raw);
  const errors: unknown[] = [];
  raw.bayeux.on('error', (err) => errors.push(err));
  return { raw, transport, errors };
}

/** Handshakes as Faye's browser client does when it may use EventSource. */
async function fayeLike(raw: RawServer): Promise<RawClient> {
  const c = raw.client();
  await c.handshake({ supportedConnectionTypes: ['eventsource', 'long-polling'] });
  return c;
}

function heartbeat(c: RawClient): Promise<WireMessage[]> {
  return c.connect({ connectionType: 'eventsource' });
}

/** Opens the stream of `c` and waits for its `retry:` line (the server holds it from then on). */
async function streamOf(raw: RawServer, c: RawClient): Promise<EventStreamReader> {
  const s = await openStream(raw.origin, `/cometd/${c.clientId!}`);
  expect(s.status).to.equal(200);
  await s.blocks.nth(0, 'the retry line');
  return s;
}

describe('EventSource transport', function () {
  afterEach(async function () {
    for (const r of readers) r.close();
    readers.clear();
    const all = [...servers];
    servers.clear();
    await Promise.all(all.map((s) => s.close()));
    await stopAllServers();
  });

  describe('connects and the stream', function () {
    it('is advertised last by the default handler, and its connects are heartbeats answered at once', async function () {
      const raw = await RawServer.start({ timeout: 30_000 });
      servers.add(raw);
      const c = raw.client();
      const hs = await c.handshake({ supportedConnectionTypes: ['eventsource', 'long-polling'] });
      expect(hs.supportedConnectionTypes).to.deep.equal(['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource']);
      // Without a stream the connect is a poll that never waits; the server's timeout (30 s)
      // is far beyond the request limit (5 s), so a held connect fails the test.
      for (let i = 0; i < 2; i++) {
        const reply = replyOn(await heartbeat(c), '/meta/connect');
        expect(reply.successful).to.equal(true);
        expect(reply.advice).to.deep.equal({ reconnect: 'retry', interval: 30_000, timeout: 0 });
      }
      // With the stream open, too.
      const s = await streamOf(raw, c);
      const reply = replyOn(await heartbeat(c), '/meta/connect');
      expect(reply).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 30_000, timeout: 0 } });
      expect(s.res.complete, 'the heartbeat leaves the stream open').to.equal(false);
    });

    it('opens GET <mount>/<clientId> with the event-stream head and the retry line', async function () {
      const { raw, transport } = await start({}, { retry: 1234 });
      const c = await fayeLike(raw);
      const s = await openStream(raw.origin, `/cometd/${c.clientId!}`);
      expect(s.status).to.equal(200);
      expect(s.res.headers['content-type']).to.equal('text/event-stream');
      expect(s.res.headers['cache-control']).to.equal('no-cache, no-store');
      expect(s.res.headers['x-accel-buffering']).to.equal('no');
      expect(s.res.headers['connection']).to.equal('close');
      expect(await s.blocks.nth(0, 'the retry line')).to.equal('retry: 1234');
      expect(transport.openStreams).to.equal(1);
      expect(transport.streamsOpened).to.equal(1);
      expect(raw.bayeux.connects.get(c.clientId!), 'the stream is the session’s held connection').to.not.equal(undefined);
    });

    it('writes each delivery as its own data event as soon as it is queued', async function () {
      const { raw, errors } = await start({ timeout: 30_000 });
      const c = await fayeLike(raw);
      await c.mustSubscribe('/es/**');
      const s = await streamOf(raw, c);
      const publisher = await raw.connectedClient();
      // A burst: two messages in one turn, then one from the server itself.
      await publisher.send([
        { channel: '/es/a', data: { n: 1, text: 'line\nbreak \u2028 ✓' } },
        { channel: '/es/b', data: { n: 2 } },
      ]);
      await raw.bayeux.publish('/es/c', { n: 3 });
      await s.blocks.atLeast(4, 'three data events after the retry line');
      const [, ...events] = s.blocks.items;
      for (const e of events) expect(e, 'one message per event, on one line').to.match(/^data: \[\{[^\r\n]*\}\]$/);
      expect(s.messages().map((m) => [m.channel, m.data])).to.deep.equal([
        ['/es/a', { n: 1, text: 'line\nbreak \u2028 ✓' }],
        ['/es/b', { n: 2 }],
        ['/es/c', { n: 3 }],
      ]);
      // Nothing waited for a connect: none was sent since the stream opened.
      expect(errors).to.deep.equal([]);
    });

    for (const mount of ['express', 'koa', 'node:http', 'fastify', 'connect'] as Mount[]) {
      it(`streams deliveries when mounted in ${mount}`, async function () {
        const s = await startServer(mount);
        const post = async (messages: unknown): Promise<WireMessage[]> => {
          const r = await fetch(s.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(messages), signal: AbortSignal.timeout(5000) });
          expect(r.status).to.equal(200);
          return (await r.json()) as WireMessage[];
        };
        const [hs] = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['eventsource', 'long-polling'] }]);
        const clientId = hs!.clientId as string;
        await post([{ channel: '/meta/subscribe', clientId, subscription: '/mounted' }]);
        const stream = await openStream(s.origin, `${MOUNT_PATH}/${clientId}`);
        expect(stream.status).to.equal(200);
        await stream.blocks.nth(0, 'the retry line');
        await s.bayeux.publish('/mounted', { mount });
        expect((await stream.message((m) => m.channel === '/mounted', 'the delivery')).data).to.deep.equal({ mount });
      });
    }
  });

  describe('keep-alive and maximum age', function () {
    it('writes a keep-alive comment every `ping` ms', async function () {
      const { raw } = await start({}, { ping: 20 });
      const c = await fayeLike(raw);
      const s = await streamOf(raw, c);
      await s.blocks.atLeast(3, 'two keep-alive comments');
      expect(s.blocks.items.slice(1, 3)).to.deep.equal([':', ':']);
    });

    it('ends a stream at `maxAge`; mail published meanwhile goes out on the next stream', async function () {
      const { raw, transport } = await start({}, { maxAge: 200 });
      const c = await fayeLike(raw);
      await c.mustSubscribe('/aged');
      const first = await streamOf(raw, c);
      expect(await withTimeout(first.ended, 'the stream to end at its maximum age'), 'ended by the server').to.equal(true);
      await waitUntil(() => raw.bayeux.connects.get(c.clientId!) === undefined, 'the core to forget the ended stream');
      expect(transport.openStreams).to.equal(0);
      await raw.bayeux.publish('/aged', { between: true });
      const second = await openStream(raw.origin, `/cometd/${c.clientId!}`);
      expect((await second.message((m) => m.channel === '/aged', 'the mail published between streams')).data).to.deep.equal({ between: true });
    });
  });

  describe('nothing lost', function () {
    it('a stream the client dropped: mail published meanwhile goes out on the next stream', async function () {
      const { raw } = await start();
      const c = await fayeLike(raw);
      await c.mustSubscribe('/dropped');
      const first = await streamOf(raw, c);
      first.close();
      await waitUntil(() => raw.bayeux.connects.get(c.clientId!) === undefined, 'the core to forget the dropped stream');
      await raw.bayeux.publish('/dropped', { n: 1 });
      await raw.bayeux.publish('/dropped', { n: 2 });
      const second = await openStream(raw.origin, `/cometd/${c.clientId!}`);
      await second.message((m) => m.channel === '/dropped' && (m.data as { n: number }).n === 2, 'the second message');
      expect(second.messages().map((m) => m.data)).to.deep.equal([{ n: 1 }, { n: 2 }]);
    });

    it('a stream the client dropped: mail published meanwhile goes out with the next connect', async function () {
      const { raw } = await start();
      const c = await fayeLike(raw);
      await c.mustSubscribe('/dropped');
      const first = await streamOf(raw, c);
      first.close();
      await waitUntil(() => raw.bayeux.connects.get(c.clientId!) === undefined, 'the core to forget the dropped stream');
      await raw.bayeux.publish('/dropped', { n: 1 });
      const response = await heartbeat(c);
      expect(response.filter((m) => m.channel === '/dropped').map((m) => m.data)).to.deep.equal([{ n: 1 }]);
      expect(replyOn(response, '/meta/connect').successful).to.equal(true);
    });

    it('a long-polling connect of the session while its stream is open is a heartbeat too; the stream stays its connection', async function () {
      // Faye sends a long-polling connect or two before it switches to the stream.
      const { raw } = await start({ timeout: 30_000 });
      const c = await fayeLike(raw);
      await c.mustSubscribe('/switching');
      const s = await streamOf(raw, c);
      // Held, it would wait 30 s (past the 5 s request limit) and take the stream's place.
      const reply = replyOn(await c.connect(), '/meta/connect');
      expect(reply).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 30_000, timeout: 0 } });
      await raw.bayeux.publish('/switching', { n: 1 });
      await s.message((m) => m.channel === '/switching', 'the delivery on the stream');
      expect(s.res.complete).to.equal(false);
    });

    it('a second stream of the session replaces the first, which ends', async function () {
      const { raw, transport } = await start();
      const c = await fayeLike(raw);
      await c.mustSubscribe('/twice');
      const first = await streamOf(raw, c);
      const second = await streamOf(raw, c);
      expect(await withTimeout(first.ended, 'the first stream to end'), 'ended by the server').to.equal(true);
      await raw.bayeux.publish('/twice', { to: 'second' });
      expect((await second.message((m) => m.channel === '/twice', 'the delivery on the second stream')).data).to.deep.equal({ to: 'second' });
      expect(first.messages()).to.deep.equal([]);
      expect(transport.openStreams).to.equal(1);
    });

    for (const step of ['beginConnect', 'endConnect'] as const) {
      it(`a heartbeat under way while the stream opens leaves the stream the session’s connection (its ${step} waits)`, async function () {
        // Faye sends its first eventsource connect as it opens the stream: the connect's
        // engine calls straddle the stream's opening here (one of them waits for a gate).
        const gate = deferred();
        const entered = deferred();
        let gated = false;
        const engine: Engine = new MemoryEngine();
        const wait = async (): Promise<void> => {
          if (!gated) return;
          gated = false;
          entered.resolve();
          await gate.promise;
        };
        if (step === 'beginConnect') {
          const begin = engine.beginConnect.bind(engine);
          engine.beginConnect = async (clientId: string, hold: boolean): Promise<ConnectResult | null> => {
            if (!hold) await wait();
            return begin(clientId, hold);
          };
        } else {
          const end = engine.endConnect.bind(engine);
          engine.endConnect = async (clientId: string, expiresInMs: number, take: boolean): Promise<Mail | null> => {
            await wait();
            return end(clientId, expiresInMs, take);
          };
        }
        const { raw } = await start({ engine, maxInterval: 200, sweepInterval: 10 });
        const c = await fayeLike(raw);
        await c.mustSubscribe('/straddled');
        gated = true;
        const beat = heartbeat(c);
        await withTimeout(entered.promise, 'the heartbeat to reach the engine');
        const s = await streamOf(raw, c);
        gate.resolve();
        expect(replyOn(await beat, '/meta/connect').successful).to.equal(true);
        // The engine still wakes the stream for new mail…
        await raw.bayeux.publish('/straddled', { n: 1 });
        await s.message((m) => m.channel === '/straddled', 'the delivery on the stream');
        // …and the session does not expire under it (a session handshaken later, unconnected, as the clock).
        const control = await fayeLike(raw);
        await nextEvent(raw.bayeux, 'sessionRemoved', 'the control session to expire', (id: string) => id === control.clientId);
        expect(await raw.bayeux.session(c.clientId!).exists()).to.equal(true);
      });
    }

    it('an open stream keeps its session alive without heartbeats; once it is gone the session expires', async function () {
      const { raw } = await start({ maxInterval: 200, sweepInterval: 10 });
      const streamed = await fayeLike(raw);
      await streamed.mustSubscribe('/alive');
      const removed: string[] = [];
      raw.bayeux.on('sessionRemoved', (id) => removed.push(id));
      const s = await streamOf(raw, streamed);
      // A session handshaken later, with no connection at all, as the clock: when it has
      // expired, the streamed session would have too without its stream.
      const control = await fayeLike(raw);
      await nextEvent(raw.bayeux, 'sessionRemoved', 'the control session to expire', (id: string) => id === control.clientId);
      expect(removed).to.not.include(streamed.clientId);
      await raw.bayeux.publish('/alive', { still: true });
      expect((await s.message((m) => m.channel === '/alive', 'a delivery to the kept session')).data).to.deep.equal({ still: true });
      s.close();
      await nextEvent(raw.bayeux, 'sessionRemoved', 'the streamed session to expire once its stream is gone', (id: string) => id === streamed.clientId);
    });
  });

  describe('close and drain', function () {
    it('bayeux.close() ends the streams; later streams get 503', async function () {
      const { raw, transport } = await start();
      const c = await fayeLike(raw);
      const s = await streamOf(raw, c);
      await raw.bayeux.close();
      expect(await withTimeout(s.ended, 'the stream to end'), 'ended by the server').to.equal(true);
      expect(transport.openStreams).to.equal(0);
      const late = await getText(raw.origin, `/cometd/${c.clientId!}`, { Accept: 'text/event-stream' });
      expect(late.status).to.equal(503);
    });

    it('bayeux.drain() ends the streams and new ones end at once after their retry line; nothing queued is lost', async function () {
      const { raw } = await start();
      const c = await fayeLike(raw);
      await c.mustSubscribe('/drain');
      const s = await streamOf(raw, c);
      expect(await raw.bayeux.drain({ timeout: 5000 })).to.equal(true);
      expect(await withTimeout(s.ended, 'the stream to end'), 'ended by the server').to.equal(true);
      await waitUntil(() => raw.bayeux.connects.get(c.clientId!) === undefined, 'the core to forget the ended stream');
      const again = await openStream(raw.origin, `/cometd/${c.clientId!}`);
      expect(again.status).to.equal(200);
      expect(await withTimeout(again.ended, 'the new stream to end')).to.equal(true);
      expect(again.blocks.items).to.deep.equal(['retry: 5000']);
      // The heartbeat tells the client to come back at once (to another process) and takes the mail.
      await raw.bayeux.publish('/drain', { kept: true });
      const response = await heartbeat(c);
      expect(response.filter((m) => m.channel === '/drain').map((m) => m.data)).to.deep.equal([{ kept: true }]);
      expect(replyOn(response, '/meta/connect').advice).to.deep.include({ reconnect: 'retry', interval: 0 });
    });
  });

  describe('bad requests', function () {
    it('refuses with a plain-text 4xx, never a 500', async function () {
      const { raw, errors } = await start();
      const c = await fayeLike(raw);
      const id = c.clientId!;
      const es = { Accept: 'text/event-stream' };
      const cases: [string, string, Record<string, string>, number, string?][] = [
        ['no Accept header', `/cometd/${id}`, {}, 400],
        ['another Accept', `/cometd/${id}`, { Accept: 'text/html' }, 400],
        ['no clientId segment', '/cometd/', es, 400],
        ['upper case', `/cometd/${id.toUpperCase()}`, es, 400],
        ['not alphanumeric', `/cometd/${id.slice(0, 8)}-x`, es, 400],
        ['encoded slash', `/cometd/a%2Fb`, es, 400],
        ['far too long', `/cometd/${'a'.repeat(1000)}`, es, 400],
        ['unknown session', `/cometd/${'0'.repeat(32)}`, es, 404],
        ['the mount itself (no session of that name)', '/cometd', es, 404],
        ['HEAD', `/cometd/${id}`, es, 400, 'HEAD'],
      ];
      for (const [what, path, headers, status, method] of cases) {
        const r = await getText(raw.origin, path, headers, method);
        expect(r.status, what).to.equal(status);
        expect(r.type, what).to.match(/^text\/plain/);
      }
      // A list of types and parameters, as browsers and proxies may send it, is understood.
      const s = await openStream(raw.origin, `/cometd/${id}`, { Accept: 'text/html, Text/Event-Stream;q=0.9' });
      expect(s.status).to.equal(200);
      expect(errors).to.deep.equal([]);
    });

    it('a stream the client drops while it is being opened loses nothing (an async outgoing extension runs meanwhile)', async function () {
      const { raw, transport, errors } = await start();
      const c = await fayeLike(raw);
      await c.mustSubscribe('/early');
      await raw.bayeux.publish('/early', { n: 1 });
      const entered = deferred();
      const gate = deferred();
      raw.bayeux.session(c.clientId!).addExtension({
        async outgoing(m) {
          if (m.channel !== '/early') return;
          entered.resolve();
          await gate.promise;
        },
      });
      // The queued mail is taken as the stream opens, and the hook holds it there.
      const req = http.get(`${raw.origin}/cometd/${c.clientId!}`, { headers: { Accept: 'text/event-stream' }, agent: false });
      req.on('error', () => {});
      await withTimeout(entered.promise, 'the outgoing hook to see the queued mail');
      req.destroy();
      await waitUntil(() => transport.openStreams === 0, 'the server to see the stream closed');
      gate.resolve();
      await waitUntil(() => raw.bayeux.connects.get(c.clientId!) === undefined, 'nothing to be held for the gone stream');
      const response = await heartbeat(c);
      expect(response.filter((m) => m.channel === '/early').map((m) => m.data)).to.deep.equal([{ n: 1 }]);
      expect(errors).to.deep.equal([]);
    });

    it('checks its options once, naming a bad or unknown one', function () {
      const bad: [unknown, RegExp][] = [
        [{ retry: -1 }, /eventSource option retry:/],
        [{ ping: 1.5 }, /eventSource option ping:/],
        [{ maxAge: 10 }, /eventSource option maxAge:/],
        [{ maxBufferedBytes: 10 }, /eventSource option maxBufferedBytes:/],
        [{ maxage: 1000 }, /eventSource option maxage: unknown option/],
      ];
      for (const [options, message] of bad) {
        let caught: unknown;
        try {
          eventSource(options as EventSourceOptions);
        } catch (err) {
          caught = err;
        }
        expect(caught, JSON.stringify(options)).to.be.instanceOf(TypeError);
        expect((caught as CodedError).code).to.equal('ERR_BAYEUX_INVALID_OPTION');
        expect((caught as Error).message).to.match(message);
      }
      const bayeux = new BayeuxServer();
      expect(() => createHandler(bayeux, { transports: [eventSource({ retry: 0, ping: 0, maxAge: 100 })] })).to.not.throw();
      return bayeux.close();
    });
  });
});
