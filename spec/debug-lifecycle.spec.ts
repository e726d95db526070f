/**
 * `DEBUG=bayeux:*` shows a session's lifecycle: handshake (with peer address and connection
 * type), subscribe, publish (with the number of sessions reached), unsubscribe, and the
 * removal with its reason — for a disconnect, an expiry and a server-side removal.
 */
import { format } from 'node:util';
import { expect } from 'chai';
import createDebug from 'debug';
import { RawServer } from './support/raw-client.js';
import { waitUntil } from './support/wait.js';

const NAMESPACES = 'bayeux:session,bayeux:subscription,bayeux:publish';

describe('DEBUG lifecycle lines', function () {
  let server: RawServer;
  let lines: string[];
  let before: { enabled: string; log: typeof createDebug.log };

  beforeEach(async function () {
    before = { enabled: createDebug.disable(), log: createDebug.log };
    lines = [];
    // debug formats each line, then hands it to `log`: capture instead of writing to stderr.
    createDebug.log = (...args: unknown[]) => void lines.push(format(...args));
    createDebug.enable(NAMESPACES);
    // maxInterval: short enough for the expiry test, long enough that a session doing a few
    // round trips without connecting is not swept mid-test on a loaded machine.
    server = await RawServer.start({ timeout: 500, maxInterval: 1000, sweepInterval: 50 });
  });

  afterEach(async function () {
    await server.close();
    createDebug.log = before.log;
    createDebug.enable(before.enabled);
  });

  /** The captured line containing all of `parts`. */
  function lineWith(...parts: string[]): string | undefined {
    return lines.find((l) => parts.every((p) => l.includes(p)));
  }

  it('logs handshake, subscribe, publish, unsubscribe and disconnect with the session id', async function () {
    const c = server.client();
    await c.handshake();
    const id = c.clientId!;
    await c.subscribe('/chat/*');
    await c.publish('/chat/room', { text: 'hi' });
    await c.unsubscribe('/chat/*');
    await c.disconnect();
    expect(lineWith('bayeux:session', 'handshake ' + id, '127.0.0.1', 'long-polling'), lines.join('\n')).to.be.a('string');
    expect(lineWith('bayeux:subscription', id, 'subscribed to /chat/*')).to.be.a('string');
    expect(lineWith('bayeux:publish', id, 'published on /chat/room to 1 sessions')).to.be.a('string');
    expect(lineWith('bayeux:subscription', id, 'unsubscribed from /chat/*')).to.be.a('string');
    expect(lineWith('bayeux:session', id + ' removed (disconnect)')).to.be.a('string');
  });

  it('logs an expired session and a server-side removal with their reasons', async function () {
    const gone = server.client();
    await gone.handshake();
    const kicked = server.client();
    await kicked.handshake();
    await server.bayeux.session(kicked.clientId!).disconnect();
    expect(lineWith('bayeux:session', kicked.clientId! + ' removed (server)'), lines.join('\n')).to.be.a('string');
    // The other one never connects: the sweep removes it after maxInterval.
    await waitUntil(() => lineWith('bayeux:session', gone.clientId! + ' removed (timeout)') !== undefined, 'the expiry line', 10_000);
  });

  it('logs publishes from app code', async function () {
    await server.bayeux.publish('/news', 'x');
    expect(lineWith('bayeux:publish', 'app code published on /news to 0 sessions'), lines.join('\n')).to.be.a('string');
  });

  it('writes nothing under these namespaces when they are off', async function () {
    createDebug.disable();
    const c = server.client();
    await c.handshake();
    await c.subscribe('/x');
    await c.publish('/x', 1);
    expect(lines).to.deep.equal([]);
  });
});
