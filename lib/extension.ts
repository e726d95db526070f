/**
 * Extensions: `incoming` and `outgoing` hooks around every message, server-wide or for
 * one session. Incoming hooks run in registration order, outgoing hooks in reverse (as in
 * CometD), so a pair of extensions nests like middleware.
 *
 * What a hook sees travels with the message (its {@link ExtensionContext}); there is no
 * shared per-request state. Hooks may be async.
 */
import type { Awaitable } from './engine.js';
import type { RequestContext } from './exchange.js';
import type { Delivery, Message, Reply } from './message.js';
import type { BayeuxServer } from './server.js';
import type { ServerSession } from './server-session.js';

/** A message on its way to a client: a reply, or a delivery. */
export type OutgoingMessage = Reply | Delivery;

/** What an extension hook knows about the message it is given. */
export interface ExtensionContext {
  /** The server. */
  readonly server: BayeuxServer;
  /**
   * Incoming: the sending session (null for a message without `clientId`, e.g. a
   * handshake). Hooks run before the server checks the session exists: for an unknown or
   * expired `clientId` this is a handle whose `exists()` resolves false, and the message
   * is then refused with `402::session_unknown`.
   * Outgoing reply: the session being answered. Outgoing broadcast: the publisher (null
   * when app code publishes); a broadcast passes server-wide hooks once, for all receivers.
   * Outgoing direct delivery or per-session hook: the receiving session.
   */
  readonly session: ServerSession | null;
  /** The request the message came with, or that a reply answers; null for deliveries. */
  readonly request: RequestContext | null;
  /** Outgoing replies only: the incoming message being answered (after incoming hooks). */
  readonly inReplyTo?: Message;
  /**
   * `/meta/connect` replies of a session with acknowledged delivery: the batch number of
   * the messages that travel in the same response (what the `ack` extension reports).
   */
  readonly batch?: number;
}

/**
 * A server-side extension. Both hooks are optional.
 *
 * `incoming` may change the message in place or return a replacement; return `null` to
 * delete it (the sender gets `404::message_deleted`), set `message.error` to a Bayeux error
 * string to refuse it with that error, or throw a `BayeuxErrorException`.
 *
 * `outgoing` may change the message or return a replacement; `null` drops it.
 */
export interface Extension {
  incoming?(message: Message, context: ExtensionContext): Awaitable<Message | null | undefined | void>;
  outgoing?(message: OutgoingMessage, context: ExtensionContext): Awaitable<OutgoingMessage | null | undefined | void>;
}

/** An ordered set of extensions with the run rules. */
export class ExtensionList {
  private list: Extension[] = [];
  /** True when some extension has an incoming hook (a cheap check for the hot path). */
  hasIncoming = false;
  /** True when some extension has an outgoing hook. */
  hasOutgoing = false;

  /** Number of extensions. */
  get size(): number {
    return this.list.length;
  }

  add(ext: Extension): void {
    if (this.list.includes(ext)) return;
    this.list = [...this.list, ext];
    this.refresh();
  }

  remove(ext: Extension): boolean {
    const next = this.list.filter((e) => e !== ext);
    if (next.length === this.list.length) return false;
    this.list = next;
    this.refresh();
    return true;
  }

  private refresh(): void {
    this.hasIncoming = this.list.some((e) => typeof e.incoming === 'function');
    this.hasOutgoing = this.list.some((e) => typeof e.outgoing === 'function');
  }

  /** Runs incoming hooks in order; null when one deleted the message. */
  async incoming(message: Message, context: ExtensionContext): Promise<Message | null> {
    // The list is replaced, never mutated, so adding an extension mid-run is safe.
    const list = this.list;
    let current = message;
    // Captured first: a hook that sets `error` in place changes `message` itself.
    const before = message.error;
    for (const ext of list) {
      if (!ext.incoming) continue;
      const r = await ext.incoming(current, context);
      if (r === null) return null;
      if (r !== undefined) current = r;
      if (typeof current.error === 'string' && current.error !== before) break;
    }
    return current;
  }

  /**
   * Runs outgoing hooks in reverse order; null when one dropped the message. A hook that
   * throws is reported on the server's `error` event and skipped, as CometD does: by then
   * the request has been acted on, and a held connect or a batch of mail must still be
   * answered.
   */
  async outgoing<T extends OutgoingMessage>(message: T, context: ExtensionContext): Promise<T | null> {
    const list = this.list;
    let current: OutgoingMessage = message;
    for (let i = list.length - 1; i >= 0; i--) {
      const ext = list[i]!;
      if (!ext.outgoing) continue;
      let r: OutgoingMessage | null | undefined | void;
      try {
        r = await ext.outgoing(current, context);
      } catch (err) {
        context.server.reportError(err);
        continue;
      }
      if (r === null) return null;
      if (r !== undefined) current = r;
    }
    return current as T;
  }
}
