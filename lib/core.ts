/**
 * @internal The protocol core's view of the server: what the request processing, the
 * meta-channel handlers and in-process clients need, and nothing of the public API around
 * it. `BayeuxServer` implements it; the handlers take it, so none of them imports the
 * server (and the server can import them all).
 */
import type { EventEmitter } from 'eventemitter3';
import type { AbuseLimits } from './abuse-limits.js';
import type { Engine } from './engines/engine.js';
import type { BayeuxError } from './errors.js';
import type { BayeuxServerEvents } from './events.js';
import type { Exchange } from './exchange.js';
import type { ExtensionPipeline } from './extension-pipeline.js';
import type { HeldConnects } from './held-connects.js';
import type { Advice } from './message.js';
import type { ResolvedOptions } from './options.js';
import type { AuthorizationHost } from './security.js';
import type { ListenerHost, ServerChannel } from './server-channel.js';
import type { ServerStats } from './server-stats.js';
import type { SessionHost } from './server-session.js';

/** @internal */
export interface Core
  extends SessionHost,
    AuthorizationHost,
    ListenerHost,
    Pick<EventEmitter<BayeuxServerEvents>, 'emit' | 'listenerCount'> {
  readonly options: ResolvedOptions;
  readonly engine: Engine;
  /** The connects this process holds. */
  readonly connects: HeldConnects;
  readonly channels: ReadonlyMap<string, ServerChannel>;
  readonly extensions: ExtensionPipeline;
  /** The `advice` of successful connect and handshake replies. */
  readonly advice: Advice;
  /** Running counts (handshakes, publishes, deliveries, …) the core bumps as it works. */
  readonly stats: ServerStats;
  /** The abuse limits on handshakes (`maxSessionsPerAddress`, …); consulted by handshakes only. */
  readonly limits: AbuseLimits;
  /** Set while the server drains (`BayeuxServer.drain`): connects are not held, handshakes refused. */
  readonly draining: Draining | null;
  /** Connection types advertised in handshake replies, in registration order. */
  readonly connectionTypes: readonly string[];
  /** Every connection type a connect may name (advertised ones and their aliases). */
  readonly acceptedTypes: ReadonlySet<string>;
  /** Connection types whose deliveries go over a stream beside the connects (EventSource): their connects are heartbeats. */
  readonly streamedTypes: ReadonlySet<string>;
  /** Processes a batch of raw messages (as `BayeuxServer.process`). */
  process(messages: readonly unknown[], exchange: Exchange, bodyBytes?: number): Promise<void>;
}

/** @internal How a draining server answers (see `BayeuxServer.drain`). */
export interface Draining {
  /** The `advice` of connect replies: reconnect at once (through the balancer, to another process). */
  readonly connectAdvice: Advice;
  /** The error a handshake from outside the process is refused with (advice included). */
  readonly handshakeError: BayeuxError;
}
