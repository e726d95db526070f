/**
 * The Bayeux server: the public face of the protocol core.
 *
 * It owns the engine, the held connects of this process, the server-side channels and
 * the extension pipeline, hands the messages transports parse to the request processing
 * ({@link BayeuxServer.process}) and offers the API app code uses: publish, channels and
 * their listeners, sessions, in-process clients and events. It knows nothing of HTTP.
 */
import createDebug from 'debug';
import { EventEmitter } from 'eventemitter3';
import { AbuseLimits } from './abuse-limits.js';
import { parseChannel } from './channel-name.js';
import { codedTypeError } from './coded-errors.js';
import type { Draining } from './core.js';
import {
  EngineUnavailableError,
  isPromise,
  type ClusterEvent,
  type EngineHealth,
  type Mail,
  type SessionRemovedReason,
} from './engines/engine.js';
import { CountingEngine } from './engines/counting-engine.js';
import { MemoryEngine } from './engines/memory/memory-engine.js';
import { Errors, NONE_ADVICE } from './errors.js';
import type { BayeuxServerEvents } from './events.js';
import type { Exchange } from './exchange.js';
import { ExtensionPipeline } from './extension-pipeline.js';
import { HeldConnect, HeldConnects } from './held-connects.js';
import { logPublish, logSession } from './lifecycle-log.js';
import { LocalClient } from './local-client.js';
import type { Advice, Delivery, Reply } from './message.js';
import { resolveDrainOptions, resolveOptions, type BayeuxServerOptions, type DrainOptions, type ResolvedOptions } from './options.js';
import { processRequest } from './process-request.js';
import type { SecurityPolicy } from './security.js';
import { ServerChannel, type PublishOptions } from './server-channel.js';
import { ServerSession, type Extension } from './server-session.js';
import { ServerStats, type CountsByTransport } from './server-stats.js';

const debug = createDebug('bayeux:server');

/** Connection types a transport announces to the server. */
export interface ConnectionTypeRegistration {
  /** The name advertised in `supportedConnectionTypes` (e.g. `long-polling`). */
  readonly name: string;
  /** Other names clients use for the same transport (e.g. `long-polling-json-encoded`). */
  readonly aliases?: readonly string[];
  /**
   * Deliveries go over a stream the transport keeps open beside the connects (EventSource,
   * see {@link BayeuxServer.openStream}). Connects of this type are then heartbeats: never
   * held, answered at once with advice to send the next after `timeout`
   * (`{ interval: timeout, timeout: 0 }`, what Faye's client expects).
   */
  readonly streamed?: boolean;
}

/**
 * The engine's health as {@link BayeuxServer.engineStatus} reports it: `starting` until the
 * engine has opened, then `up` or `down`.
 */
export type EngineStatus = 'starting' | 'up' | 'down';

/** A Bayeux server. Mount it with `createHandler` or one of the framework adapters. */
export class BayeuxServer extends EventEmitter<BayeuxServerEvents> {
  /** @internal The options in force (defaults applied). */
  readonly options: ResolvedOptions;
  /** @internal The engine, through the wrapper that counts the core's calls (`stats.engineCalls`). */
  readonly engine: CountingEngine;
  /** @internal Handshake limits per client address and per process. */
  readonly limits: AbuseLimits;
  /** @internal */ readonly connects: HeldConnects;
  /** @internal */ readonly channels = new Map<string, ServerChannel>();
  /**
   * Running counts of what this process did (handshakes, publishes, deliveries by transport,
   * …) since the server was created: what metrics and the monitor read.
   */
  readonly stats = new ServerStats();
  /** @internal Server-wide and per-session extensions. */
  readonly extensions: ExtensionPipeline;
  /** @internal Serialized `advice` of successful connect and handshake replies. */
  readonly adviceJson: string;
  /** @internal */ readonly advice: Advice;
  /** @internal Advertised names, in registration order. */
  readonly connectionTypes: string[] = [];
  /** @internal Every accepted name (advertised and aliases). */
  readonly acceptedTypes = new Set<string>(['in-process']);
  /** @internal Types registered as `streamed`. */
  readonly streamedTypes = new Set<string>();
  /** @internal Number of authorizers on all channels (0: skip the lookups). */
  authorizerCount = 0;
  /** @internal Set by {@link drain}: how connects and handshakes are answered from then on. */
  draining: Draining | null = null;
  private drained: Promise<boolean> | null = null;
  private opening: Promise<void> | null = null;
  private closed = false;
  private health: EngineStatus = 'starting';
  private engineError: unknown = null;

  constructor(options: BayeuxServerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.engine = new CountingEngine(this.options.engine ?? new MemoryEngine(), this.stats.engineCalls, this.stats.engineFailures);
    this.limits = new AbuseLimits(this.options, this.engine, (err) => this.reportError(err));
    this.advice = Object.freeze({ reconnect: 'retry', interval: this.options.interval, timeout: this.options.timeout });
    this.adviceJson = JSON.stringify(this.advice);
    this.extensions = new ExtensionPipeline(
      (clientId) => this.session(clientId),
      (err) => this.reportError(err),
    );
    this.connects = new HeldConnects({
      engine: this.engine,
      expiresInMs: () => this.options.interval + this.options.maxInterval,
      compose: (h, mail, advice, before) => this.composeConnectResponse(h, mail, advice, before),
      composeStream: (h, mail) => (this.extensions.seesOutgoing(h.clientId) ? this.extensions.prepareMail(h.clientId, mail) : mail),
      onError: (err) => this.reportError(err),
      stats: this.stats,
    });
    const opened = this.engine.open(
      {
        wake: (clientId) => this.connects.wake(clientId),
        sessionRemoved: (clientId, reason) => this.sessionGone(clientId, reason),
        queueOverflow: (clientId, dropped) => {
          this.stats.dropped += dropped;
          this.emit('queueOverflow', clientId, dropped);
        },
        clusterEvent: (event) => this.clusterEvent(event),
        health: (status, cause) => this.engineHealth(status, cause),
      },
      { maxQueue: this.options.maxQueue, sweepInterval: this.options.sweepInterval },
    );
    // Open, and not reported down meanwhile: up (engines that never report health are always up).
    const started = (): void => {
      if (this.health === 'starting') this.health = 'up';
    };
    if (isPromise(opened)) {
      this.opening = opened.then(() => {
        this.opening = null;
        started();
      });
    } else started();
  }

  /**
   * Registers a connection type (transports do this when they are mounted). The handshake
   * reply advertises the registered names; connects may use any name or alias.
   */
  registerConnectionType(reg: ConnectionTypeRegistration): void {
    if (!this.connectionTypes.includes(reg.name)) this.connectionTypes.push(reg.name);
    this.acceptedTypes.add(reg.name);
    for (const a of reg.aliases ?? []) this.acceptedTypes.add(a);
    if (reg.streamed === true) this.streamedTypes.add(reg.name);
  }

  /**
   * Opens a stream for a session (EventSource): mail queued for it is written with
   * `exchange.stream` as it comes, for as long as the exchange is open, and the session
   * does not expire meanwhile. The transport calls `exchangeClosed` when the stream ends;
   * mail not yet written stays queued. Resolves false (nothing held) when the session is unknown.
   */
  async openStream(clientId: string, exchange: Exchange): Promise<boolean> {
    if (exchange.stream === undefined) throw codedTypeError('ERR_BAYEUX_INVALID_ARGUMENT', 'openStream needs an exchange with stream()');
    if (this.opening) await this.opening;
    for (;;) {
      // A connect (or stream) of the session held here gives way to the stream.
      const older = this.connects.get(clientId);
      if (older !== undefined) this.connects.supersede(older);
      const r = await this.engine.beginConnect(clientId, true);
      if (r === null) return false;
      if (!exchange.open) {
        if (r.messages !== null) await this.engine.requeue(clientId, r.messages);
        await this.engine.endConnect(clientId, this.options.interval + this.options.maxInterval, false);
        return true;
      }
      if (r.messages !== null && r.messages.length > 0) {
        const parts = this.extensions.seesOutgoing(clientId) ? await this.extensions.prepareMail(clientId, r.messages) : r.messages;
        if (!exchange.open) {
          // The client went while outgoing extensions ran: the mail waits for its next connection.
          await this.engine.requeue(clientId, r.messages);
          await this.engine.endConnect(clientId, this.options.interval + this.options.maxInterval, false);
          return true;
        }
        this.stats.countDelivered(exchange.connectionType, r.messages.length);
        exchange.stream(parts);
      }
      // The first connect after a handshake is never held: ask again.
      if (!r.held) continue;
      this.connects.hold(new HeldConnect(clientId, undefined, exchange, true), 0);
      return true;
    }
  }

  /**
   * Processes the messages a transport parsed from one request, answering through
   * `exchange`. `bodyBytes` is the request size, used for the message-size limit. Never
   * throws: failures become error replies or `exchange.fail`.
   */
  process(messages: readonly unknown[], exchange: Exchange, bodyBytes = 0): Promise<void> {
    try {
      const done = this.processNow(messages, exchange, bodyBytes);
      return isPromise(done) ? done : Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal {@link process} for the built-in transports: returns a promise only when the
   * request could not be answered (or held) synchronously. May throw.
   */
  processNow(messages: readonly unknown[], exchange: Exchange, bodyBytes = 0): void | Promise<void> {
    if (this.closed) return exchange.fail(503, 'server closed');
    if (this.opening) return this.opening.then(() => processRequest(this, messages, exchange, bodyBytes));
    return processRequest(this, messages, exchange, bodyBytes);
  }

  /**
   * Publishes `data` on a broadcast channel from app code, to every subscribed session
   * (through exact and wildcard subscriptions). Resolves to the number of sessions queued
   * for. Rejects with `EngineUnavailableError` when the engine's store cannot be reached
   * (the Redis engine while Redis is down): handle it where you publish.
   */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<number> {
    const info = parseChannel(channel);
    if (!info || info.kind !== 'broadcast' || info.wildcard) {
      throw codedTypeError('ERR_BAYEUX_INVALID_CHANNEL', `cannot publish to ${JSON.stringify(channel)}: not a concrete broadcast channel`);
    }
    if (data === undefined) throw codedTypeError('ERR_BAYEUX_INVALID_ARGUMENT', 'publish needs data (use null for none)');
    // An engine still connecting (Redis at start-up) is waited for, as requests wait for it.
    if (this.opening) await this.opening;
    // The clock is read only while metrics time publishes.
    const started = this.stats.observer === null ? 0 : performance.now();
    const payload = await this.extensions.outgoingDelivery(options.ext ? { channel, data, ext: options.ext } : { channel, data }, null);
    if (payload === null) return 0;
    const n = await this.engine.publish(channel, payload, options.exclude);
    this.stats.publishedByServer++;
    this.stats.queued += n;
    if (started !== 0) this.stats.observer?.publish((performance.now() - started) / 1000);
    if (logPublish.enabled) logPublish('app code published on %s to %d sessions', channel, n);
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

  /** @internal */
  addSessionExtension(clientId: string, extension: Extension): void {
    this.extensions.addForSession(clientId, extension);
  }

  /** @internal */
  removeSessionExtension(clientId: string, extension: Extension): boolean {
    return this.extensions.removeForSession(clientId, extension);
  }

  /** @internal */
  outgoingDelivery(delivery: Delivery, session: ServerSession | null): Promise<string | null> {
    return this.extensions.outgoingDelivery(delivery, session);
  }

  /** @internal The security policy, if any. */
  get policy(): SecurityPolicy | undefined {
    return this.options.policy;
  }

  /** @internal True when some channel has an authorizer. */
  get hasAuthorizers(): boolean {
    return this.authorizerCount > 0;
  }

  /** @internal */
  authorizersChanged(delta: 1 | -1): void {
    this.authorizerCount += delta;
  }

  /** The serialized reply of a held connect, without extensions. */
  private connectReplyJson(id: string | undefined, advice?: string): string {
    return (
      (id === undefined ? '{' : '{"id":' + JSON.stringify(id) + ',') +
      '"channel":"/meta/connect","successful":true,"advice":' +
      (advice ?? this.adviceJson) +
      '}'
    );
  }

  /** The response of a held connect: `before`, the mail, the connect reply. */
  private composeConnectResponse(h: HeldConnect, mail: string[], advice?: string, before?: string): string[] | Promise<string[]> {
    if (!this.extensions.seesOutgoing(h.clientId)) {
      // Arrays taken from the engine are ours (see Engine): append in place, no copy per delivery.
      if (before !== undefined) mail.unshift(before);
      mail.push(this.connectReplyJson(h.replyId, advice));
      return mail;
    }
    return this.composeWithExtensions(h, mail, advice, before);
  }

  private async composeWithExtensions(h: HeldConnect, mail: Mail, advice?: string, before?: string): Promise<string[]> {
    // An answer without a take (superseded, session gone) carries the number of the hold's start.
    const ackBatch = mail.batch ?? h.ackBatch;
    const parts = await this.extensions.prepareMail(h.clientId, mail);
    const reply = JSON.parse(this.connectReplyJson(h.replyId, advice)) as Reply;
    const out = await this.extensions.outgoingReply(reply, h.clientId, h.exchange.context, h.request ?? undefined, ackBatch);
    if (out !== null) parts.push(JSON.stringify(out));
    if (before !== undefined) parts.unshift(before);
    return parts;
  }

  /** The server-side channel object for `name` (created on first use). */
  channel(name: string): ServerChannel {
    let ch = this.channels.get(name);
    if (!ch) {
      const info = parseChannel(name);
      if (!info) throw codedTypeError('ERR_BAYEUX_INVALID_CHANNEL', `invalid channel name ${JSON.stringify(name)}`);
      ch = new ServerChannel(this, name, info);
      this.channels.set(name, ch);
    }
    return ch;
  }

  /** A handle on a session by id (it may not exist; see {@link ServerSession.exists}). */
  session(clientId: string): ServerSession {
    return new ServerSession(this, clientId);
  }

  /** `/meta/connect`s this process holds right now, by connection type. */
  heldConnects(): CountsByTransport {
    return this.connects.countByType();
  }

  /** Number of live sessions in the engine. */
  async sessionCount(): Promise<number> {
    return this.engine.sessionCount();
  }

  /**
   * Resolves once the engine is open (for the Redis engine: connected and listening for
   * notices, or given up after its command timeout: {@link engineStatus} then says `down`).
   * Requests wait for it anyway; await it before taking traffic when this process must not
   * miss cluster events from the start.
   */
  async ready(): Promise<void> {
    if (this.opening) await this.opening;
  }

  /**
   * The engine's health, for a readiness probe: `starting` until the engine has opened, `up`
   * while its store answers, `down` during an outage (the Redis engine while Redis cannot be
   * reached: clients get `503::engine_unavailable`, `publish` rejects). The in-memory engine
   * is always `up`. Changes are announced by the `engineDown` and `engineUp` events.
   */
  get engineStatus(): EngineStatus {
    return this.health;
  }

  /**
   * What caused the current outage or, once it is over, the last one (usually an
   * `EngineUnavailableError`); null while the engine has never been down.
   */
  get lastEngineError(): unknown {
    return this.engineError;
  }

  /** Creates an in-process client that subscribes and publishes without HTTP. */
  async localClient(): Promise<LocalClient> {
    if (this.opening) await this.opening;
    return LocalClient.create(this);
  }

  /**
   * Drains this process before it stops (a rolling deploy; see the SIGTERM recipe in
   * docs/scaling.md), then {@link close} it:
   *
   * - every `/meta/connect` held here is answered now, with the session's queued mail and
   *   advice to reconnect at once (`{ reconnect: 'retry', interval: 0 }`), and later connects
   *   are answered at once with that advice instead of being held, so clients move to other
   *   processes through the load balancer;
   * - new handshakes are refused with `503::server_draining` and advice to handshake again
   *   after `handshakeInterval` ms (`{ reconnect: 'handshake' }`); in-process clients are
   *   still let in;
   * - publishes, subscribes and the other messages of existing sessions are served as usual.
   *
   * Resolves `true` once no connect is held here any more (their answers written), or `false`
   * if some are still unanswered after `timeout` ms. Calling it again returns the first
   * call's promise. Rejects with a `TypeError` (`code` `ERR_BAYEUX_INVALID_OPTION`) on a bad
   * option.
   *
   * With the Redis engine nothing is lost: sessions, subscriptions and queued mail are in
   * Redis, and a client whose next connect reaches another process carries on there with the
   * same session. With the memory engine the drain works the same, but the sessions live in
   * this process and end with it: clients then handshake again elsewhere.
   */
  drain(options: DrainOptions = {}): Promise<boolean> {
    if (this.drained) return this.drained;
    let resolved: Required<DrainOptions>;
    try {
      resolved = resolveDrainOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.draining = {
      connectAdvice: Object.freeze({ reconnect: 'retry', interval: 0, timeout: this.options.timeout }),
      handshakeError: Errors.serverDraining(resolved.handshakeInterval),
    };
    debug('draining: %d connects held here', this.connects.size);
    const answered = this.connects.drain(JSON.stringify(this.draining.connectAdvice));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, resolved.timeout, false)));
    this.drained = Promise.race([answered.then(() => true), late]).finally(() => clearTimeout(timer));
    return this.drained;
  }

  /** True once {@link drain} has been called. */
  get isDraining(): boolean {
    return this.draining !== null;
  }

  /**
   * Stops the server: answers every held connect (advising clients to retry), stops
   * timers and closes the engine. Requests arriving afterwards get HTTP 503.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connects.releaseAll();
    this.emit('close');
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

  /**
   * A streaming exchange is no longer congested (its peer read what was buffered): the mail
   * that waited meanwhile goes out now.
   */
  exchangeWritable(exchange: Exchange): void {
    const h = exchange.held;
    if (h instanceof HeldConnect) this.connects.flush(h.clientId);
  }

  /** @internal A session ended: answer a connect it had held here, tell listeners. */
  sessionGone(clientId: string, reason: SessionRemovedReason, notice?: string): void {
    this.extensions.forgetSession(clientId);
    this.limits.removed(clientId);
    this.stats.removed[reason]++;
    const h = this.connects.get(clientId);
    if (h) this.connects.supersede(h, NONE_ADVICE_JSON, notice);
    logSession('%s removed (%s)', clientId, reason);
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
          // Frees the slot of a session of this process removed by another one.
          this.limits.removed(e.clientId);
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

  /**
   * The engine reported a transition. An outage is told once (`engineDown`, then `error`
   * with its cause); the calls that fail during it are not (see {@link reportError}).
   */
  private engineHealth(status: EngineHealth, cause?: unknown): void {
    if (this.closed || status === this.health) return;
    const was = this.health;
    this.health = status;
    try {
      if (status === 'up') {
        debug('engine up%s', was === 'down' ? ' again' : '');
        // Coming up from `starting` is no news: engineUp ends an outage.
        if (was === 'down') this.emit('engineUp');
        return;
      }
      const err = cause ?? new EngineUnavailableError('the engine is unavailable');
      this.engineError = err;
      debug('engine down: %O', err);
      this.emit('engineDown', err);
      if (this.listenerCount('error') > 0) this.emit('error', err);
    } catch (err) {
      // A listener threw: report it, never throw into the engine.
      this.reportError(err);
    }
  }

  /** @internal */
  reportError(err: unknown): void {
    // A call that failed because the engine is down belongs to the outage already reported.
    if (this.health === 'down' && err instanceof EngineUnavailableError) {
      debug('during the engine outage: %s', err.message);
      return;
    }
    debug('error: %O', err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** Advice sent when a session ends while its connect is held. */
const NONE_ADVICE_JSON = JSON.stringify({ ...NONE_ADVICE, timeout: 0 });
