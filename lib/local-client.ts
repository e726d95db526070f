/**
 * An in-process client (CometD's LocalSession, Faye's `getClient()`): a real session in
 * the engine, driven through the same message pipeline as remote clients, whose
 * deliveries are handed to callbacks instead of written to a socket. Its connect is held
 * for as long as it lives, so it never expires.
 */
import { EventEmitter } from 'eventemitter3';
import { channelMatches } from './channel-name.js';
import { codedError } from './coded-errors.js';
import type { Core } from './core.js';
import { BayeuxErrorException, Errors } from './errors.js';
import type { Exchange, RequestContext } from './exchange.js';
import { HeldConnect } from './held-connects.js';
import type { Delivery, Reply } from './message.js';

/** Receives messages delivered to an in-process client. */
export type LocalCallback = (message: Delivery) => void;

const LOCAL_CONTEXT: RequestContext = Object.freeze({ headers: {}, remoteAddress: undefined, url: '', local: true });

/** Answers one in-process request: resolves with the reply messages. */
class ReplyCapture implements Exchange {
  readonly context = LOCAL_CONTEXT;
  readonly connectionType = 'in-process';
  readonly piggyback = false;
  open = true;
  held: object | null = null;
  readonly done: Promise<Reply[]>;
  private resolve!: (r: Reply[]) => void;
  private reject!: (e: Error) => void;
  constructor() {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  send(parts: readonly string[]): void {
    this.open = false;
    this.resolve(parts.map((p) => JSON.parse(p) as Reply));
  }
  fail(_status: number, message: string): void {
    this.open = false;
    this.reject(codedError('ERR_BAYEUX_REQUEST_FAILED', message));
  }
}

/** The never-ending connect of an in-process client: deliveries go to its callbacks. */
class LocalTunnel implements Exchange {
  readonly context = LOCAL_CONTEXT;
  readonly connectionType = 'in-process';
  readonly piggyback = false;
  open = true;
  held: object | null = null;
  constructor(private readonly client: LocalClient) {}
  send(parts: readonly string[]): void {
    for (const p of parts) this.client.dispatch(JSON.parse(p) as Delivery);
  }
  fail(): void {}
}

/** Events of a {@link LocalClient}. */
export interface LocalClientEvents {
  /** Every message delivered to this client, matched by a subscription or not. */
  message: (message: Delivery) => void;
}

/** A client living inside the server process. Create one with `server.localClient()`. */
export class LocalClient extends EventEmitter<LocalClientEvents> {
  private readonly callbacks = new Map<string, Set<LocalCallback>>();
  private tunnel: LocalTunnel | null = null;
  private nextId = 0;

  private constructor(
    private readonly core: Core,
    /** The session id of this client. */
    readonly id: string,
  ) {
    super();
  }

  /** @internal Handshakes and starts the never-ending connect. */
  static async create(core: Core): Promise<LocalClient> {
    const hs = await request(core, {
      channel: '/meta/handshake',
      version: '1.0',
      supportedConnectionTypes: ['in-process'],
      id: '0',
    });
    const client = new LocalClient(core, hs.clientId as string);
    await client.send({ channel: '/meta/connect', connectionType: 'in-process', advice: { timeout: 0 } });
    client.tunnel = new LocalTunnel(client);
    for (;;) {
      const r = await core.engine.beginConnect(client.id, true);
      if (r === null) throw codedError('ERR_BAYEUX_REQUEST_FAILED', 'the in-process session vanished while connecting');
      if (r.messages) {
        core.stats.countDelivered('in-process', r.messages.length);
        for (const m of r.messages) client.dispatch(JSON.parse(m) as Delivery);
      }
      if (r.held) break;
    }
    core.connects.hold(new HeldConnect(client.id, undefined, client.tunnel, true), 0);
    return client;
  }

  /** Subscribes to a channel or pattern; `callback` gets each matching delivery. */
  async subscribe(channel: string, callback: LocalCallback): Promise<void> {
    let set = this.callbacks.get(channel);
    if (!set) {
      await this.send({ channel: '/meta/subscribe', subscription: channel });
      set = this.callbacks.get(channel);
      if (!set) this.callbacks.set(channel, (set = new Set()));
    }
    set.add(callback);
  }

  /** Removes `callback` (or every callback) for `channel`; unsubscribes when none remain. */
  async unsubscribe(channel: string, callback?: LocalCallback): Promise<void> {
    const set = this.callbacks.get(channel);
    if (!set) return;
    if (callback) set.delete(callback);
    else set.clear();
    if (set.size > 0) return;
    this.callbacks.delete(channel);
    await this.send({ channel: '/meta/unsubscribe', subscription: channel });
  }

  /**
   * Publishes as a client would: channel listeners run, then subscribers receive it.
   * Rejects with a {@link BayeuxErrorException} if the server refuses.
   */
  async publish(channel: string, data: unknown): Promise<void> {
    await this.send({ channel, data: data === undefined ? null : data });
  }

  /** Ends the session. */
  async disconnect(): Promise<void> {
    if (this.tunnel) this.tunnel.open = false;
    this.callbacks.clear();
    await this.send({ channel: '/meta/disconnect' });
  }

  /** @internal */
  dispatch(message: Delivery): void {
    this.emit('message', message);
    for (const [pattern, set] of this.callbacks) {
      if (!channelMatches(pattern, message.channel)) continue;
      for (const cb of set) cb(message);
    }
  }

  private send(message: Record<string, unknown>): Promise<Reply> {
    return request(this.core, { ...message, clientId: this.id, id: String(++this.nextId) });
  }
}

/** Sends one message through the pipeline; resolves with its (successful) reply. */
async function request(core: Core, message: Record<string, unknown>): Promise<Reply> {
  const capture = new ReplyCapture();
  await core.process([message], capture);
  const replies = await capture.done;
  // The reply is last: anything before it is mail taken by a connect.
  const reply = replies[replies.length - 1];
  if (!reply) throw new BayeuxErrorException(Errors.noReply());
  if (!reply.successful) throw new BayeuxErrorException(Errors.fromString(typeof reply.error === 'string' ? reply.error : '500::unknown', 500));
  return reply;
}
