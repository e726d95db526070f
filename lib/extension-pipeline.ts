/**
 * The extension pipeline: every hook a message passes, in one place. Incoming hooks
 * (server-wide, then the sender's own) before a message is handled; outgoing hooks on
 * replies (the session's own, then server-wide), on a broadcast (server-wide, once for all
 * receivers) and on mail as it is written to one session (that session's own).
 *
 * What a hook sees travels with the message (its {@link ExtensionContext}); there is no
 * shared per-request state. Without hooks every step answers synchronously and untouched,
 * so the hot path pays nothing for the pipeline.
 */
import type { RequestContext } from './exchange.js';
import type { Delivery, Message, Reply } from './message.js';
import type { Extension, ExtensionContext, OutgoingMessage, ServerSession } from './server-session.js';

/** An ordered set of extensions with the run rules. */
class ExtensionList {
  private list: Extension[] = [];
  /** True when some extension has an incoming hook (a cheap check for the hot path). */
  hasIncoming = false;
  /** True when some extension has an outgoing hook. */
  hasOutgoing = false;

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
   * throws is reported and skipped, as CometD does: by then the request has been acted on,
   * and a held connect or a batch of mail must still be answered.
   */
  async outgoing<T extends OutgoingMessage>(message: T, context: ExtensionContext, onError: (err: unknown) => void): Promise<T | null> {
    const list = this.list;
    let current: OutgoingMessage = message;
    for (let i = list.length - 1; i >= 0; i--) {
      const ext = list[i]!;
      if (!ext.outgoing) continue;
      let r: OutgoingMessage | null | undefined | void;
      try {
        r = await ext.outgoing(current, context);
      } catch (err) {
        onError(err);
        continue;
      }
      if (r === null) return null;
      if (r !== undefined) current = r;
    }
    return current as T;
  }
}

/**
 * What the incoming hooks leave of a message: the message to handle, null when a hook
 * deleted it, or the Bayeux error string a hook set on it.
 */
export type IncomingOutcome = Message | null | string;

/** Server-wide and per-session extensions and the rules for running them. */
export class ExtensionPipeline {
  private readonly global = new ExtensionList();
  /** Per-session extensions of sessions this process has seen (process-local). */
  private readonly own = new Map<string, ExtensionList>();

  constructor(
    /** A handle on a session, for the hooks' context. */
    private readonly sessionOf: (clientId: string) => ServerSession,
    /** Where a throwing outgoing hook is reported. */
    private readonly onError: (err: unknown) => void,
  ) {}

  add(extension: Extension): void {
    this.global.add(extension);
  }

  remove(extension: Extension): boolean {
    return this.global.remove(extension);
  }

  addForSession(clientId: string, extension: Extension): void {
    let list = this.own.get(clientId);
    if (!list) this.own.set(clientId, (list = new ExtensionList()));
    list.add(extension);
  }

  removeForSession(clientId: string, extension: Extension): boolean {
    const list = this.own.get(clientId);
    if (!list) return false;
    const removed = list.remove(extension);
    if (list.size === 0) this.own.delete(clientId);
    return removed;
  }

  /** True when the session has extensions of its own. */
  hasOwn(clientId: string): boolean {
    return this.own.has(clientId);
  }

  /** The session is gone: its own extensions go with it. */
  forgetSession(clientId: string): void {
    this.own.delete(clientId);
  }

  /** True when some incoming hook may see a client's message. */
  get runsIncoming(): boolean {
    return this.global.hasIncoming || this.own.size > 0;
  }

  /** True when some server-wide outgoing hook exists. */
  get hasOutgoing(): boolean {
    return this.global.hasOutgoing;
  }

  /** True when outgoing hooks would see a reply to (or mail for) `clientId`. */
  seesOutgoing(clientId: string): boolean {
    return this.global.hasOutgoing || this.own.has(clientId);
  }

  /** Incoming hooks, server-wide then the sender's own. */
  async incoming(message: Message, request: RequestContext): Promise<IncomingOutcome> {
    const clientId = message.clientId;
    const context: ExtensionContext = { session: clientId === undefined ? null : this.sessionOf(clientId), request };
    const before = message.error;
    let current: Message | null = message;
    if (this.global.hasIncoming) current = await this.global.incoming(current, context);
    const own = clientId === undefined ? undefined : this.own.get(clientId);
    if (current !== null && own?.hasIncoming && !changedError(current, before)) current = await own.incoming(current, context);
    if (current !== null && changedError(current, before)) return current.error!;
    return current;
  }

  /**
   * Outgoing hooks on a reply to `clientId` (the session's own, then server-wide). Without
   * hooks the reply comes back as it is, synchronously.
   */
  outgoingReply(
    reply: Reply,
    clientId: string | null,
    request: RequestContext | null,
    inReplyTo?: Message,
    batch?: number,
  ): Reply | null | Promise<Reply | null> {
    const own = clientId === null ? undefined : this.own.get(clientId);
    if (!this.global.hasOutgoing && !own?.hasOutgoing) return reply;
    return this.runOutgoing(reply, clientId, own, request, inReplyTo, batch);
  }

  private async runOutgoing(
    reply: Reply,
    clientId: string | null,
    own: ExtensionList | undefined,
    request: RequestContext | null,
    inReplyTo?: Message,
    batch?: number,
  ): Promise<Reply | null> {
    const session = clientId === null ? null : this.sessionOf(clientId);
    const context: ExtensionContext = { session, request, inReplyTo, batch };
    let out: Reply | null = reply;
    // Reverse registration order overall: the session's own hooks were added last.
    if (own?.hasOutgoing) out = await own.outgoing(out, context, this.onError);
    if (out !== null && this.global.hasOutgoing) out = await this.global.outgoing(out, context, this.onError);
    return out;
  }

  /**
   * Serializes a delivery after the server-wide outgoing hooks (once, for all receivers).
   * `session` is the publisher, or the receiver of a direct delivery. Null when a hook
   * dropped it.
   */
  async outgoingDelivery(delivery: Delivery, session: ServerSession | null): Promise<string | null> {
    if (!this.global.hasOutgoing) return JSON.stringify(delivery);
    const out = await this.global.outgoing<OutgoingMessage>(delivery, { session, request: null }, this.onError);
    return out === null ? null : JSON.stringify(out);
  }

  /**
   * Mail about to be written to one session: its own outgoing hooks, if it has any, see
   * each message. Without per-session hooks the strings pass untouched.
   */
  prepareMail(clientId: string, payloads: string[]): string[] | Promise<string[]> {
    const own = this.own.get(clientId);
    if (!own?.hasOutgoing) return payloads;
    return this.applyOwnOutgoing(own, clientId, payloads);
  }

  private async applyOwnOutgoing(own: ExtensionList, clientId: string, payloads: string[]): Promise<string[]> {
    const context: ExtensionContext = { session: this.sessionOf(clientId), request: null };
    const out: string[] = [];
    for (const p of payloads) {
      const m = await own.outgoing(JSON.parse(p) as OutgoingMessage, context, this.onError);
      if (m !== null) out.push(JSON.stringify(m));
    }
    return out;
  }
}

function changedError(message: Message, before: string | undefined): boolean {
  return typeof message.error === 'string' && message.error !== before;
}
