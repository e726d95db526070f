/**
 * The demo app: Express with Bayeux mounted at /cometd (in-memory engine), the chat page and
 * the CometD client it imports. `server.ts` runs it; the specs drive it with real clients.
 *
 * Channels:
 *   /service/members   request/response: `{ name }` joins the chat, the answer is the member list
 *   /chat/demo         chat messages `{ user, text }`, published by the browsers (checked here)
 *   /members/demo      the member list, published here whenever it changes
 *   /demo/time         a clock tick, published here every few seconds
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import { BayeuxServer, createHandler, type BayeuxHandler, type Message, type ServerSession } from '../../index.js';

const here = dirname(fileURLToPath(import.meta.url));
const MAX_NAME = 24;
const MAX_TEXT = 500;

/** Options for {@link createDemo}. */
export interface DemoOptions {
  /** ms between clock ticks on /demo/time. Default 5000. */
  tickMs?: number;
}

/**
 * The running demo: mount `app` on an HTTP server and give that server `upgrade` for
 * WebSocket (`app.listen(port).on('upgrade', demo.upgrade)`); `stop()` ends the clock and
 * the Bayeux server.
 */
export interface Demo {
  readonly app: Express;
  readonly bayeux: BayeuxServer;
  /** The listener for the HTTP server's `upgrade` event: Bayeux over WebSocket at /cometd. */
  readonly upgrade: BayeuxHandler['upgrade'];
  stop(): Promise<void>;
}

export function createDemo(options: DemoOptions = {}): Demo {
  const bayeux = new BayeuxServer();
  const app = express();

  // The path is for WebSocket upgrades, which Express does not route (under app.use the
  // handler matches req.originalUrl, so giving it both is right).
  const cometd = createHandler(bayeux, { path: '/cometd' });
  app.use('/cometd', cometd);
  // The CometD client is a set of ES modules importing each other by relative path: serve the
  // package directory as it is, and the browser imports /vendor/cometd/cometd.js.
  const cometdDir = dirname(createRequire(import.meta.url).resolve('cometd'));
  app.use('/vendor/cometd', express.static(cometdDir, { index: false }));
  app.use(express.static(join(here, 'public')));

  // --- members: joined by request/response on /service/members, gone with their session ---

  /** clientId → display name. */
  const members = new Map<string, string>();

  function memberList(): string[] {
    return [...members.values()].sort((a, b) => a.localeCompare(b));
  }

  async function announce(text: string): Promise<void> {
    await bayeux.publish('/chat/demo', { system: true, text });
    await bayeux.publish('/members/demo', { members: memberList() });
  }

  function joinError(name: unknown): string | null {
    if (typeof name !== 'string' || name.trim() === '') return 'pick a name';
    if (name.trim().length > MAX_NAME) return `at most ${MAX_NAME} characters`;
    const wanted = name.trim().toLowerCase();
    for (const taken of members.values()) if (taken.toLowerCase() === wanted) return 'that name is taken';
    return null;
  }

  bayeux.channel('/service/members').onMessage(async (message: Message, session: ServerSession) => {
    const name = (message.data as { name?: unknown } | null)?.name;
    const already = members.get(session.id);
    const error = already === undefined ? joinError(name) : null;
    if (error === null && already === undefined) members.set(session.id, (name as string).trim());
    // The answer carries the request's id: that is what completes the client's remoteCall.
    const answer = error === null ? { ok: true, name: members.get(session.id), members: memberList() } : { ok: false, error };
    await session.deliver(message.channel, answer, { id: message.id, successful: true });
    if (error === null && already === undefined) await announce(`${members.get(session.id)} joined`);
  });

  bayeux.on('sessionRemoved', (clientId, reason) => {
    const name = members.get(clientId);
    if (name === undefined) return;
    members.delete(clientId);
    announce(reason === 'timeout' ? `${name} dropped out` : `${name} left`).catch((err) => console.error(err));
  });

  // --- chat: browsers publish to /chat/demo themselves; a listener checks each message ---

  bayeux.channel('/chat/demo').onMessage((message, session) => {
    const data = message.data as { user?: unknown; text?: unknown } | null;
    const ok =
      typeof data === 'object' &&
      data !== null &&
      data.user === members.get(session.id) &&
      typeof data.text === 'string' &&
      data.text.trim() !== '' &&
      data.text.length <= MAX_TEXT;
    // false deletes the message: nobody gets it and the sender's publish fails with 404::message_deleted.
    return ok ? undefined : false;
  });

  // --- a publish from app code: a clock every few seconds ---

  const clock = setInterval(() => {
    bayeux.publish('/demo/time', { now: new Date().toISOString() }).catch((err) => console.error(err));
  }, options.tickMs ?? 5000);

  bayeux.on('error', (err) => console.error('bayeux error:', err));

  return {
    app,
    bayeux,
    upgrade: cometd.upgrade,
    async stop() {
      clearInterval(clock);
      await bayeux.close();
    },
  };
}
