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
import { isPromise, type Engine, type SessionRemovedReason } from './engine.js';
import type { Exchange } from './exchange.js';
import { HeldConnect, HeldConnects } from './held-connects.js';
import { LocalClient } from './local-client.js';
import { MemoryEngine } from './memory-engine.js';
import type { Advice, Message } from './message.js';
import { resolveOptions, type BayeuxServerOptions, type ResolvedOptions } from './options.js';
import { serializeDelivery } from './serialize.js';
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
      connectReply: (id, advice) =>
        (id === undefined ? '{' : '{"id":' + JSON.stringify(id) + ',') +
        '"channel":"/meta/connect","successful":true,"advice":' +
        (advice ?? this.adviceJson) +
        '}',
      onError: (err) => this.reportError(err),
    });
    const opened = this.engine.open(
      {
        wake: (clientId) => this.connects.wake(clientId),
        sessionRemoved: (clientId, reason) => this.sessionGone(clientId, reason),
        queueOverflow: (clientId, dropped) => this.emit('queueOverflow', clientId, dropped),
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
  async process(batch: readonly unknown[], exchange: Exchange, bodyBytes = 0): Promise<void> {
    if (this.closed) return exchange.fail(503, 'server closed');
    if (this.opening) await this.opening;
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
    const n = await this.engine.publish(channel, serializeDelivery(channel, data, options.ext), options.exclude);
    if (this.listenerCount('publish') > 0) this.emit('publish', null, channel, data);
    return n;
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
    const h = this.connects.get(clientId);
    if (h) this.connects.supersede(h, NONE_ADVICE_JSON, notice);
    debug('session %s removed (%s)', clientId, reason);
    if (this.listenerCount('sessionRemoved') > 0) this.emit('sessionRemoved', clientId, reason);
  }

  /** @internal */
  reportError(err: unknown): void {
    debug('error: %O', err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** Advice sent when a session ends while its connect is held. */
const NONE_ADVICE_JSON = JSON.stringify({ reconnect: 'none', interval: 0, timeout: 0 });
