/**
 * The Bayeux server: the public face of the protocol core.
 *
 * It owns the engine, the held connects of this process and the server-side channels,
 * processes batches handed over by transports ({@link BayeuxServer.process}) and offers
 * the API app code uses: publish, channels and their listeners, sessions, in-process
 * clients and events. It knows nothing of HTTP.
 */
import createDebug from 'debug';
import { EventEmitter } from 'eventemitter3';
import { processBatch } from './batch.js';
import { parseChannel } from './channel-name.js';
import { isPromise, type ClusterEvent, type Engine, type Mail, type SessionRemovedReason } from './engine.js';
import type { Exchange, RequestContext } from './exchange.js';
import { ExtensionList, type Extension, type OutgoingMessage } from './extension.js';
import { HeldConnect, HeldConnects } from './held-connects.js';
import { LocalClient } from './local-client.js';
import { MemoryEngine } from './memory-engine.js';
import type { Advice, Delivery, Message, Reply } from './message.js';
import { resolveOptions, type BayeuxServerOptions, type ResolvedOptions } from './options.js';
import { ServerChannel } from './server-channel.js';
import { ServerSession } from './server-session.js';

const debug = createDebug('bayeux:server');

/** Events a {@link BayeuxServer} emits. */
export interface BayeuxServerEvents {
  /** A client completed a handshake. */
  handshake: (session: ServerSession, message: Message) => void;
  /** A session subscribed to a channel (one event per channel). */
  subscribe: (session: ServerSession, channel: string) => void;
  /** A session unsubscribed from a channel. */
  unsubscribe: (session: ServerSession, channel: string) => void;
  /** A message was published to a broadcast channel; `session` is null for app-code publishes. */
  publish: (session: ServerSession | null, channel: string, data: unknown) => void;
  /** A client sent `/meta/disconnect`. */
  disconnect: (session: ServerSession) => void;
  /** A session is gone: disconnected, expired, or removed by the server. */
  sessionRemoved: (clientId: string, reason: SessionRemovedReason) => void;
  /** A session's queue reached `maxQueue`; its oldest `dropped` messages were discarded. */
  queueOverflow: (clientId: string, dropped: number) => void;
  /** Something failed where no client could be told (an engine call, a listener). */
  error: (err: unknown) => void;
  /**
   * Cluster events: a session was added in any process of the cluster (this one included).
   * The memory engine always reports them; the Redis engine when created with
   * `clusterEvents: true` (in every process). For presence across processes.
   */
  clusterSessionAdded: (clientId: string) => void;
  /** Cluster event: a session was removed in any process (once per removal, expiry included). */
  clusterSessionRemoved: (clientId: string, reason: SessionRemovedReason) => void;
  /** Cluster event: a session of any process subscribed to a channel (once per new subscription). */
  clusterSubscribe: (clientId: string, channel: string) => void;
  /** Cluster event: a session of any process unsubscribed from a channel (not sent when the session is removed). */
  clusterUnsubscribe: (clientId: string, channel: string) => void;
}

/** Options for {@link BayeuxServer.publish}. */
export interface PublishOptions {
  /** `ext` object put on the delivered message. */
  ext?: Record<string, unknown>;
  /** A session that should not receive this message (e.g. the sender). */
  exclude?: string;
}

/** Connection types a transport announces to the server. */
export interface ConnectionTypeRegistration {
  /** The name advertised in `supportedConnectionTypes` (e.g. `long-polling`). */
  readonly name: string;
  /** Other names clients use for the same transport (e.g. `long-polling-json-encoded`). */
  readonly aliases?: readonly string[];
}

/** A Bayeux server. Mount it with `createHandler` or one of the framework adapters. */
export class BayeuxServer extends EventEmitter<BayeuxServerEvents> {
  /** The options in force (defaults applied). */
  readonly options: ResolvedOptions;
  /** @internal */ readonly engine: Engine;
  /** @internal */ readonly connects: HeldConnects;
  /** @internal */ readonly channels = new Map<string, ServerChannel>();
  /** @internal Server-wide extensions. */
  readonly extensions = new ExtensionList();
  /** @internal Per-session extensions of sessions this process has seen (process-local). */
  readonly sessionExtensions = new Map<string, ExtensionList>();
  /** @internal Number of authorizers on all channels (0: skip the lookups). */
  authorizerCount = 0;
  /** @internal Serialized `advice` of successful connect and handshake replies. */
  readonly adviceJson: string;
  /** @internal */ readonly advice: Advice;
  /** @internal Advertised names, in registration order. */
  readonly connectionTypes: string[] = [];
  /** @internal Every accepted name (advertised and aliases). */
  readonly acceptedTypes = new Set<string>(['in-process']);
  private opening: Promise<void> | null = null;
  private closed = false;

  constructor(options: BayeuxServerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.engine = this.options.engine ?? new MemoryEngine();
    this.advice = Object.freeze({ reconnect: 'retry', interval: this.options.interval, timeout: this.options.timeout });
    this.adviceJson = JSON.stringify(this.advice);
    this.connects = new HeldConnects({
      engine: this.engine,
      expiresInMs: () => this.options.interval + this.options.maxInterval,
      compose: (h, mail, advice, before) => this.composeConnectResponse(h, mail, advice, before),
      onError: (err) => this.reportError(err),
    });
    const opened = this.engine.open(
      {
        wake: (clientId) => this.connects.wake(clientId),
        sessionRemoved: (clientId, reason) => this.sessionGone(clientId, reason),
        queueOverflow: (clientId, dropped) => this.emit('queueOverflow', clientId, dropped),
        clusterEvent: (event) => this.clusterEvent(event),
      },
      { maxQueue: this.options.maxQueue, sweepInterval: this.options.sweepInterval },
    );
    if (isPromise(opened)) this.opening = opened.then(() => void (this.opening = null));
  }

  /**
   * Registers a connection type (transports do this when they are mounted). The handshake
   * reply advertises the registered names; connects may use any name or alias.
   */
  registerConnectionType(reg: ConnectionTypeRegistration): void {
    if (!this.connectionTypes.includes(reg.name)) this.connectionTypes.push(reg.name);
    this.acceptedTypes.add(reg.name);
    for (const a of reg.aliases ?? []) this.acceptedTypes.add(a);
  }

  /**
   * Processes a batch of raw messages that a transport parsed from one request, answering
   * through `exchange`. `bodyBytes` is the request size, used for the message-size limit.
   * Never throws: failures become error replies or `exchange.fail`.
   */
  process(batch: readonly unknown[], exchange: Exchange, bodyBytes = 0): Promise<void> {
    try {
      const done = this.processNow(batch, exchange, bodyBytes);
      return isPromise(done) ? done : Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal {@link process} for the built-in transports: returns a promise only when the
   * batch could not be answered (or held) synchronously. May throw.
   */
  processNow(batch: readonly unknown[], exchange: Exchange, bodyBytes = 0): void | Promise<void> {
    if (this.closed) return exchange.fail(503, 'server closed');
    if (this.opening) return this.opening.then(() => processBatch(this, batch, exchange, bodyBytes));
    return processBatch(this, batch, exchange, bodyBytes);
  }

  /**
   * Publishes `data` on a broadcast channel from app code, to every subscribed session
   * (through exact and wildcard subscriptions). Resolves to the number of sessions queued for.
   */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<number> {
    const info = parseChannel(channel);
    if (!info || info.kind !== 'broadcast' || info.wildcard) {
      throw new TypeError(`bayeux-server: cannot publish to ${JSON.stringify(channel)}: not a concrete broadcast channel`);
    }
    if (data === undefined) throw new TypeError('bayeux-server: publish needs data (use null for none)');
    const payload = await this.outgoingDelivery(options.ext ? { channel, data, ext: options.ext } : { channel, data }, null);
    if (payload === null) return 0;
    const n = await this.engine.publish(channel, payload, options.exclude);
    if (this.listenerCount('publish') > 0) this.emit('publish', null, channel, data);
    return n;
  }

  /**
   * Adds a server-wide extension: its `incoming` hook sees every message from clients,
   * its `outgoing` hook every reply, every direct delivery, and every broadcast once.
   */
  addExtension(extension: Extension): void {
    this.extensions.add(extension);
  }

  /** Removes a server-wide extension; false if it was not there. */
  removeExtension(extension: Extension): boolean {
    return this.extensions.remove(extension);
  }

  /** @internal True when some channel has an authorizer. */
  get hasAuthorizers(): boolean {
    return this.authorizerCount > 0;
  }

  /** @internal The serialized reply of a held connect, without extensions. */
  connectReplyJson(id: string | undefined, advice?: string): string {
    return (
      (id === undefined ? '{' : '{"id":' + JSON.stringify(id) + ',') +
      '"channel":"/meta/connect","successful":true,"advice":' +
      (advice ?? this.adviceJson) +
      '}'
    );
  }

  /** @internal The response of a held connect: `before`, the mail, the connect reply. */
  composeConnectResponse(h: HeldConnect, mail: string[], advice?: string, before?: string): string[] | Promise<string[]> {
    if (!this.extensions.hasOutgoing && !this.sessionExtensions.has(h.clientId)) {
      // Arrays taken from the engine are ours (see Engine): append in place, no copy per delivery.
      if (before !== undefined) mail.unshift(before);
      mail.push(this.connectReplyJson(h.replyId, advice));
      return mail;
    }
    return this.composeWithExtensions(h, mail, advice, before);
  }

  private async composeWithExtensions(h: HeldConnect, mail: Mail, advice?: string, before?: string): Promise<string[]> {
    const batch = mail.batch;
    const parts = await this.prepareMail(h.clientId, mail);
    const reply = JSON.parse(this.connectReplyJson(h.replyId, advice)) as Reply;
    const out = await this.outgoingReply(reply, h.clientId, h.exchange.context, h.request ?? undefined, batch);
    if (out !== null) parts.push(JSON.stringify(out));
    if (before !== undefined) parts.unshift(before);
    return parts;
  }

  /**
   * @internal Runs outgoing hooks (server-wide, then the session's) on a reply. Without
   * hooks the reply comes back as it is, synchronously.
   */
  outgoingReply(
    reply: Reply,
    clientId: string | null,
    request: RequestContext | null,
    inReplyTo?: Message,
    batch?: number,
  ): Reply | null | Promise<Reply | null> {
    const own = clientId === null ? undefined : this.sessionExtensions.get(clientId);
    if (!this.extensions.hasOutgoing && !own?.hasOutgoing) return reply;
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
    const session = clientId === null ? null : this.session(clientId);
    const context = { server: this, session, request, inReplyTo, batch };
    let out: Reply | null = reply;
    // Reverse registration order overall: the session's own hooks were added last.
    if (own?.hasOutgoing) out = await own.outgoing(out, context);
    if (out !== null && this.extensions.hasOutgoing) out = await this.extensions.outgoing(out, context);
    return out;
  }

  /**
   * @internal Serializes a delivery, after the server-wide outgoing hooks (once, for all
   * receivers). `session` is the publisher, or the receiver of a direct delivery. Null when
   * a hook dropped it.
   */
  async outgoingDelivery(delivery: Delivery, session: ServerSession | null): Promise<string | null> {
    if (!this.extensions.hasOutgoing) return JSON.stringify(delivery);
    const out = await this.extensions.outgoing<OutgoingMessage>(delivery, { server: this, session, request: null });
    return out === null ? null : JSON.stringify(out);
  }

  /**
   * @internal Mail about to be written to one session: its own outgoing hooks, if it has
   * any, see each message. Without per-session hooks the strings pass untouched.
   */
  prepareMail(clientId: string, payloads: string[]): string[] | Promise<string[]> {
    const own = this.sessionExtensions.get(clientId);
    if (!own?.hasOutgoing) return payloads;
    return this.applySessionOutgoing(own, clientId, payloads);
  }

  private async applySessionOutgoing(own: ExtensionList, clientId: string, payloads: string[]): Promise<string[]> {
    const context = { server: this, session: this.session(clientId), request: null };
    const out: string[] = [];
    for (const p of payloads) {
      const m = await own.outgoing(JSON.parse(p) as OutgoingMessage, context);
      if (m !== null) out.push(JSON.stringify(m));
    }
    return out;
  }

  /** The server-side channel object for `name` (created on first use). */
  channel(name: string): ServerChannel {
    let ch = this.channels.get(name);
    if (!ch) {
      const info = parseChannel(name);
      if (!info) throw new TypeError(`bayeux-server: invalid channel name ${JSON.stringify(name)}`);
      ch = new ServerChannel(this, name, info);
      this.channels.set(name, ch);
    }
    return ch;
  }

  /** A handle on a session by id (it may not exist; see {@link ServerSession.exists}). */
  session(clientId: string): ServerSession {
    return new ServerSession(this, clientId);
  }

  /** Number of live sessions in the engine. */
  async sessionCount(): Promise<number> {
    return this.engine.sessionCount();
  }

  /**
   * Resolves once the engine is open (for the Redis engine: connected and listening for
   * notices, or given up after its command timeout). Requests wait for it anyway; await it
   * before taking traffic when this process must not miss cluster events from the start.
   */
  async ready(): Promise<void> {
    if (this.opening) await this.opening;
  }

  /** Creates an in-process client that subscribes and publishes without HTTP. */
  async localClient(): Promise<LocalClient> {
    if (this.opening) await this.opening;
    return LocalClient.create(this);
  }

  /**
   * Stops the server: answers every held connect (advising clients to retry), stops
   * timers and closes the engine. Requests arriving afterwards get HTTP 503.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connects.releaseAll();
    await this.engine.close();
    this.removeAllListeners();
  }

  /** True once {@link close} has been called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Transports call this when the client of a held exchange goes away before the answer. */
  exchangeClosed(exchange: Exchange): void {
    const h = exchange.held;
    if (h instanceof HeldConnect) this.connects.dropped(h);
  }

  /** @internal A session ended: answer a connect it had held here, tell listeners. */
  sessionGone(clientId: string, reason: SessionRemovedReason, notice?: string): void {
    this.sessionExtensions.delete(clientId);
    const h = this.connects.get(clientId);
    if (h) this.connects.supersede(h, NONE_ADVICE_JSON, notice);
    debug('session %s removed (%s)', clientId, reason);
    if (this.listenerCount('sessionRemoved') > 0) this.emit('sessionRemoved', clientId, reason);
  }

  /** Emits a cluster event to app code; a listener that throws is reported, never thrown into the engine. */
  private clusterEvent(e: ClusterEvent): void {
    try {
      switch (e.type) {
        case 'sessionAdded':
          if (this.listenerCount('clusterSessionAdded') > 0) this.emit('clusterSessionAdded', e.clientId);
          break;
        case 'sessionRemoved':
          if (this.listenerCount('clusterSessionRemoved') > 0) this.emit('clusterSessionRemoved', e.clientId, e.reason);
          break;
        case 'subscribed':
          if (this.listenerCount('clusterSubscribe') > 0) this.emit('clusterSubscribe', e.clientId, e.channel);
          break;
        case 'unsubscribed':
          if (this.listenerCount('clusterUnsubscribe') > 0) this.emit('clusterUnsubscribe', e.clientId, e.channel);
          break;
      }
    } catch (err) {
      this.reportError(err);
    }
  }

  /** @internal */
  reportError(err: unknown): void {
    debug('error: %O', err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** Advice sent when a session ends while its connect is held. */
const NONE_ADVICE_JSON = JSON.stringify({ reconnect: 'none', interval: 0, timeout: 0 });
