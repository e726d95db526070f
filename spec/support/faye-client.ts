/**
 * The real Faye 1.4 Node client (CommonJS `faye`), with promise helpers for specs.
 *
 * Faye handshakes lazily (on the first connect, subscribe or publish) and exposes neither
 * its client id nor its state; an incoming extension records every successful handshake
 * reply (public API), and `state` reads the client's internal `_state` field.
 *
 * The client probes WebSocket by itself (an upgrade request per handshake). Specs about
 * the HTTP transports disable it; the WebSocket specs keep it.
 */
import Faye from 'faye';
import { Inbox, WAIT_MS, deferred, withTimeout } from './wait.js';

export type FayeMessage = Faye.FayeMessage;
/** What a Faye subscriber sees of a message. */
export interface Delivered {
  channel: string;
  data: unknown;
}

/** A subscription made through {@link FayeClient.subscribe}. */
export interface SubscriptionHandle {
  /** Unsubscribes (Faye sends `/meta/unsubscribe` once no local subscriber is left; no reply callback). */
  cancel(): void;
}

/** Faye's client states (its `_state` values). */
const STATES = { 1: 'unconnected', 2: 'connecting', 3: 'connected', 4: 'disconnected' } as const;
type FayeState = (typeof STATES)[keyof typeof STATES];

/** A message the dispatcher sends until answered: its retry timer and its request in flight. */
interface FayeEnvelope {
  timer?: NodeJS.Timeout | null;
  request?: Promise<{ abort?(): void } | undefined> | null;
}

/** The internals read or stopped here (no public API for them). */
interface FayeInternals {
  _state: keyof typeof STATES;
  _advice: { reconnect: string };
  _dispatcher: {
    close(): void;
    unbind(eventType: string): void;
    connectionType?: string;
    _envelopes: Map<string, FayeEnvelope>;
  };
}

const clients = new Set<FayeClient>();

/** Disconnects every client created and not closed yet (for afterEach). */
export async function closeAllFayeClients(): Promise<void> {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((c) => c.close()));
}

/** Faye rejects with its own error objects (`{ code, params, message }`), or with nothing. */
function toError(what: string, reason: unknown): Error {
  if (reason instanceof Error) return reason;
  const r = reason as { code?: number; message?: string } | undefined;
  return new Error(`${what} failed: ${r ? `${r.code ?? ''} ${r.message ?? JSON.stringify(r)}` : 'no reason given'}`);
}

function settle(thenable: Faye.Thenable<unknown>, what: string, ms: number): Promise<void> {
  const d = deferred<void>();
  thenable.then(
    () => d.resolve(),
    (reason) => d.reject(toError(what, reason)),
  );
  return withTimeout(d.promise, what, ms);
}

/** A Faye client for one spec. */
export class FayeClient {
  readonly client: Faye.Client;
  /** Every successful handshake reply, in order (re-handshakes included). */
  readonly handshakes = new Inbox<FayeMessage>();
  /**
   * Every delivery as it came off the wire (before the client fans it out to its local
   * subscriptions), recorded by an incoming extension: one entry per message the server sent.
   */
  readonly wire = new Inbox<FayeMessage>();

  /**
   * `options.retry` (seconds between resends after a failed request) defaults to 0.1.
   * `transport: 'websocket'` lets Faye upgrade to WebSocket as it would by itself; by
   * default it is disabled, so the client stays on long-polling.
   */
  constructor(url: string, options: Faye.ClientOptions = {}, { transport = 'long-polling' }: { transport?: 'websocket' | 'long-polling' } = {}) {
    this.client = new Faye.Client(url, { retry: 0.1, ...options });
    if (transport === 'long-polling') this.client.disable('websocket');
    this.client.addExtension({
      incoming: (message, callback) => {
        if (message.channel === '/meta/handshake' && message.successful) this.handshakes.push(message);
        else if (!message.channel.startsWith('/meta/') && message.data !== undefined) this.wire.push(message);
        callback(message);
      },
    });
    clients.add(this);
  }

  /** The client id of the latest handshake, or null before the first. */
  get clientId(): string | null {
    const last = this.handshakes.items[this.handshakes.length - 1];
    return typeof last?.clientId === 'string' ? last.clientId : null;
  }

  get state(): FayeState {
    return STATES[(this.client as unknown as FayeInternals)._state];
  }

  /** The connection type of the transport the client selected (undefined before the handshake). */
  get connectionType(): string | undefined {
    return (this.client as unknown as FayeInternals)._dispatcher.connectionType;
  }

  /** Handshakes and connects; resolves with the client id. */
  async connect(ms = WAIT_MS): Promise<string> {
    const d = deferred<void>();
    this.client.connect(() => d.resolve());
    await withTimeout(d.promise, 'the Faye client to connect', ms);
    return this.clientId!;
  }

  /** Deliveries received on the wire for `channel`. */
  wireOn(channel: string): FayeMessage[] {
    return this.wire.items.filter((m) => m.channel === channel);
  }

  /**
   * Subscribes; resolves once the server acknowledged. `onMessage` gets the channel the
   * message came on (it differs from `channel` for wildcards) and its data.
   */
  async subscribe(channel: string, onMessage: (m: Delivered) => void, ms = WAIT_MS): Promise<SubscriptionHandle> {
    const sub = this.client.subscribe(channel).withChannel((ch, data) => onMessage({ channel: ch, data }));
    await settle(sub, `the Faye subscribe to ${channel}`, ms);
    // Not the Subscription itself: it is a thenable, which `await` would unwrap.
    return { cancel: () => sub.cancel() };
  }

  /** Publishes; resolves once the server acknowledged. */
  publish(channel: string, data: unknown, ms = WAIT_MS): Promise<void> {
    return settle(this.client.publish(channel, data), `the Faye publish to ${channel}`, ms);
  }

  /**
   * Disconnects; resolves once the server acknowledged (true), or at once if the client was
   * not connected (false). Rejects when the server answers with a failure.
   */
  async disconnect(ms = WAIT_MS): Promise<boolean> {
    const p = this.client.disconnect();
    if (!p) return false;
    await settle(p, 'the Faye disconnect reply', ms);
    return true;
  }

  /**
   * Disconnects, bounded, never throws (cleanup after each test). If the client is not
   * connected or the server did not answer, it is stopped by hand: Faye would otherwise
   * go on resending (every `retry` seconds, for ever) or re-handshaking.
   *
   * The hard stop also has to outlive a reply still in flight (typically a handshake):
   * Faye applies a late reply's advice and callback even to a disconnected client, so a
   * denied handshake made it `unconnected` with a re-handshake scheduled and a successful
   * one made it connected again, with a transport, after this returned. Once its server
   * stopped, such a client resent for ever against the closed port (a timer every `retry`
   * seconds that kept the process alive). So the dispatcher stops listening for replies
   * and drops every unanswered message, with its retry timer and its request.
   */
  async close(): Promise<void> {
    clients.delete(this);
    if (this.state === 'connected') {
      try {
        await this.disconnect(2000);
        return;
      } catch {
        // fall through to the hard stop
      }
    }
    const internals = this.client as unknown as FayeInternals;
    internals._state = 4;
    internals._advice.reconnect = 'none';
    const dispatcher = internals._dispatcher;
    dispatcher.unbind('message');
    for (const envelope of dispatcher._envelopes.values()) {
      if (envelope.timer) clearTimeout(envelope.timer);
      // An aborted request's error finds no envelope left, so it schedules no retry.
      void envelope.request?.then((req) => req?.abort?.());
    }
    dispatcher._envelopes.clear();
    dispatcher.close();
  }
}
