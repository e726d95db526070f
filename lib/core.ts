/**
 * @internal The protocol core's view of the server: what the request processing, the
 * meta-channel handlers and in-process clients need, and nothing of the public API around
 * it. `BayeuxServer` implements it; the handlers take it, so none of them imports the
 * server (and the server can import them all).
 */
import type { EventEmitter } from 'eventemitter3';
import type { Engine } from './engines/engine.js';
import type { BayeuxServerEvents } from './events.js';
import type { Exchange } from './exchange.js';
import type { ExtensionPipeline } from './extension-pipeline.js';
import type { HeldConnects } from './held-connects.js';
import type { Advice } from './message.js';
import type { ResolvedOptions } from './options.js';
import type { AuthorizationHost } from './security.js';
import type { ListenerHost, ServerChannel } from './server-channel.js';
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
  /** Connection types advertised in handshake replies, in registration order. */
  readonly connectionTypes: readonly string[];
  /** Every connection type a connect may name (advertised ones and their aliases). */
  readonly acceptedTypes: ReadonlySet<string>;
  /** Processes a batch of raw messages (as `BayeuxServer.process`). */
  process(messages: readonly unknown[], exchange: Exchange, bodyBytes?: number): Promise<void>;
}
