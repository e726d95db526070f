/**
 * One interface over the two real Node clients the interop specs drive, so that one table
 * of scenarios (spec/interop.spec.ts) runs against each:
 *
 * - CometD JavaScript 9 through `cometd-nodejs-client` ({@link CometDClient}),
 * - the Faye 1.4 Node client ({@link FayeClient}).
 *
 * What differs between them is settled here, each difference said where it is handled:
 * how a client is opened, what a subscriber sees, how an unsubscribe is confirmed, how a
 * subscription survives a new session, and how a request/response on a `/service`
 * channel works. Each adapter keeps the concrete client as `raw`, for the scenarios that
 * only make sense for one client.
 */
import type { Message } from 'cometd';
import { CometDClient, closeAllCometDClients } from './cometd-client.js';
import { FayeClient, closeAllFayeClients, type Delivered, type FayeMessage } from './faye-client.js';
import { Inbox, WAIT_MS, waitUntil } from './wait.js';

export type { Delivered };

/** A message as it came off the wire: the fields the scenarios read, which both clients show. */
export interface WireMessage {
  channel: string;
  id?: string;
  clientId?: string;
  data?: unknown;
  successful?: boolean;
  ext?: object;
  supportedConnectionTypes?: string[];
}

/** The read side of an {@link Inbox}: what was received, and bounded waits for more. */
export interface Received<T> {
  readonly items: readonly T[];
  readonly length: number;
  nth(index: number, what: string, ms?: number): Promise<T>;
  atLeast(count: number, what: string, ms?: number): Promise<T[]>;
  until(test: (item: T) => boolean, what: string, ms?: number): Promise<T>;
}

/** The answer to {@link InteropClient.remoteCall}. */
export interface RemoteReply {
  successful: boolean;
  channel: string;
  data: unknown;
}

/** A subscription made through {@link InteropClient.subscribe}. */
export interface InteropSubscription {
  /** Unsubscribes; resolves once the client has sent it (see each adapter for what it waits for). */
  unsubscribe(): Promise<void>;
}

/** A subscription made through {@link InteropClient.subscribeAcrossSessions}. */
export interface DurableSubscription {
  /**
   * Resolves on the successful `/meta/subscribe` reply that renews the subscription under
   * a new session (after a re-handshake); rejects on a failed one or after `ms`.
   */
  resubscribed(what: string, ms?: number): Promise<void>;
}

/** One client, handshaken and connected, as the scenarios drive it. */
export interface InteropClient<Raw = unknown> {
  /** The concrete client, for client-specific scenarios. */
  readonly raw: Raw;
  /** The client id of the current session (null before the first handshake). */
  readonly clientId: string | null;
  /**
   * `connected` while the client has a session, `disconnected` once it ended it (or was
   * told to); otherwise the client's own word for its state.
   */
  readonly status: string;
  /** The Bayeux connection type the client uses. */
  readonly connectionType: string | undefined;
  /** Every successful handshake reply, in order (re-handshakes included). */
  readonly handshakes: Received<WireMessage>;
  /**
   * Every delivery as it came off the wire, before the client fans it out to its local
   * subscriptions: one entry per message the server sent.
   */
  readonly wire: Received<WireMessage>;
  /** Deliveries received on the wire for `channel`. */
  wireOn(channel: string): WireMessage[];
  /** Subscribes; resolves once the server acknowledged. `onMessage` gets each local delivery. */
  subscribe(channel: string, onMessage: (m: Delivered) => void, ms?: number): Promise<InteropSubscription>;
  /** Subscribes so that the subscription is renewed when the client starts a new session. */
  subscribeAcrossSessions(channel: string, onMessage: (m: Delivered) => void): Promise<DurableSubscription>;
  /** Publishes; resolves once the server acknowledged (rejects if it refused). */
  publish(channel: string, data: unknown, ms?: number): Promise<void>;
  /**
   * Sends `data` to `/service<target>` and resolves with what the server delivered back to
   * this client on that channel (successful or not).
   */
  remoteCall(target: string, data: unknown): Promise<RemoteReply>;
  /** Disconnects; resolves with the reply's `successful`. */
  disconnect(): Promise<boolean>;
}

/** Options for {@link InteropClientKind.open}. */
export interface OpenOptions {
  /** The client will send messages of up to a megabyte. */
  largeMessages?: boolean;
  /** `websocket` keeps the client's WebSocket transport (off by default: the specs run on long-polling). */
  transport?: 'websocket' | 'long-polling';
}

/** A client library: how to open clients of it, and what is true of all of them. */
export interface InteropClientKind<Raw = unknown> {
  /** Its name in titles: `CometD` or `Faye`. */
  readonly name: string;
  /**
   * Whether its publishes reach the server in call order. CometD sends one non-connect
   * request at a time, in call order; Faye sends a burst as batches on parallel requests,
   * so the order between requests is the network's.
   */
  readonly publishesInCallOrder: boolean;
  /** A client that has handshaken and whose first connect has been answered. */
  open(url: string, options?: OpenOptions): Promise<InteropClient<Raw>>;
  /** Disconnects every client opened and not closed yet (for afterEach). */
  closeAll(): Promise<void>;
}

/** A `subscription` field (a channel or a list of channels) names `channel`. */
function names(subscription: unknown, channel: string): boolean {
  return Array.isArray(subscription) ? subscription.includes(channel) : subscription === channel;
}

/**
 * Renewals of a subscription to `channel`: the `/meta/subscribe` replies that `replies`
 * receives from now on (the ones it holds already are of the first subscribe).
 */
function renewal(replies: Inbox<WireMessage>, channel: string): DurableSubscription {
  const first = replies.length;
  return {
    async resubscribed(what, ms = WAIT_MS) {
      const reply = await replies.nth(first, what, ms);
      if (reply.successful !== true) throw new Error(`the re-subscription to ${channel} failed: ${JSON.stringify(reply)}`);
    },
  };
}

/** What both concrete clients offer alike: the client id and the recorded handshakes and wire. */
interface RecordingClient {
  readonly clientId: string | null;
  readonly handshakes: Received<WireMessage>;
  readonly wire: Received<WireMessage>;
  wireOn(channel: string): WireMessage[];
}

/** The part of an adapter that passes straight through to the concrete client. */
abstract class Adapter<Raw extends RecordingClient> {
  constructor(readonly raw: Raw) {}

  get clientId(): string | null {
    return this.raw.clientId;
  }

  get handshakes(): Received<WireMessage> {
    return this.raw.handshakes;
  }

  get wire(): Received<WireMessage> {
    return this.raw.wire;
  }

  wireOn(channel: string): WireMessage[] {
    return this.raw.wireOn(channel);
  }
}

class CometDAdapter extends Adapter<CometDClient> implements InteropClient<CometDClient> {
  /** CometD is `connecting` while a connect is on its way, between two answered ones: a live session either way. */
  get status(): string {
    const status = this.raw.status;
    return status === 'connecting' ? 'connected' : status;
  }

  get connectionType(): string | undefined {
    return this.raw.cometd.getTransport()?.type;
  }

  /** CometD hands subscribers the whole message; they get its channel and data here. */
  private static delivered(onMessage: (m: Delivered) => void): (m: Message) => void {
    return (m) => onMessage({ channel: m.channel, data: m.data });
  }

  /** Unsubscribing waits for the server's reply (and rejects on a failed one). */
  async subscribe(channel: string, onMessage: (m: Delivered) => void, ms = WAIT_MS): Promise<InteropSubscription> {
    const handle = await this.raw.subscribe(channel, CometDAdapter.delivered(onMessage), ms);
    return {
      unsubscribe: async () => {
        await this.raw.unsubscribe(handle);
      },
    };
  }

  /**
   * CometD drops its subscriptions when it re-handshakes; the app subscribes again from a
   * `/meta/handshake` listener (a successful reply with `reestablish` set).
   */
  async subscribeAcrossSessions(channel: string, onMessage: (m: Delivered) => void): Promise<DurableSubscription> {
    const replies = new Inbox<WireMessage>();
    const deliver = CometDAdapter.delivered(onMessage);
    this.raw.cometd.addListener('/meta/handshake', (m: Message) => {
      if (m.successful && m.reestablish) this.raw.cometd.subscribe(channel, deliver, replies.push);
    });
    await this.raw.subscribe(channel, deliver);
    return renewal(replies, channel);
  }

  async publish(channel: string, data: unknown, ms = WAIT_MS): Promise<void> {
    await this.raw.publish(channel, data, ms);
  }

  /** CometD's own `remoteCall`: it matches the reply to the request by message id. */
  async remoteCall(target: string, data: unknown): Promise<RemoteReply> {
    const reply = await this.raw.remoteCall(target, data);
    return { successful: reply.successful === true, channel: reply.channel, data: reply.data };
  }

  async disconnect(): Promise<boolean> {
    return (await this.raw.disconnect())?.successful === true;
  }
}

class FayeAdapter extends Adapter<FayeClient> implements InteropClient<FayeClient> {
  /** Local subscribers on `/service` channels, made by {@link remoteCall}. */
  private readonly services = new Map<string, Promise<Inbox<Delivered>>>();

  get status(): string {
    return this.raw.state;
  }

  get connectionType(): string | undefined {
    return this.raw.connectionType;
  }

  /**
   * Faye's unsubscribe has no reply callback: this resolves once it is sent, and a scenario
   * that needs it done waits for the server's `unsubscribe` event.
   */
  async subscribe(channel: string, onMessage: (m: Delivered) => void, ms = WAIT_MS): Promise<InteropSubscription> {
    const subscription = await this.raw.subscribe(channel, onMessage, ms);
    return {
      unsubscribe: async () => subscription.cancel(),
    };
  }

  /**
   * Faye subscribes again by itself after a re-handshake, without telling app code: the
   * renewal is its `/meta/subscribe` reply, read by an incoming extension.
   */
  async subscribeAcrossSessions(channel: string, onMessage: (m: Delivered) => void): Promise<DurableSubscription> {
    const replies = new Inbox<WireMessage>();
    this.raw.client.addExtension({
      incoming: (m: FayeMessage, callback) => {
        if (m.channel === '/meta/subscribe' && names(m.subscription, channel)) replies.push(m);
        callback(m);
      },
    });
    await this.raw.subscribe(channel, onMessage);
    return renewal(replies, channel);
  }

  publish(channel: string, data: unknown, ms = WAIT_MS): Promise<void> {
    return this.raw.publish(channel, data, ms);
  }

  /**
   * Faye has no remote call: a reply reaches app code only through a local subscription.
   * So the client subscribes to the `/service` channel itself (a Faye server refuses that
   * with a 403; this server accepts it as a no-op, as CometD clients do it), publishes the
   * request there, and takes the next delivery on it; `successful` is read from that
   * message as it came off the wire.
   *
   * Faye also matches replies by id, to its own requests: an answer that carries the
   * request's `id` and `successful` (as CometD's remote calls want) and comes before the
   * publish acknowledgement settles the publish instead, so `successful: false` fails it
   * although the server accepted it. A failed publish therefore counts only when no
   * answer came.
   */
  async remoteCall(target: string, data: unknown): Promise<RemoteReply> {
    const channel = `/service${target}`;
    let answers = this.services.get(channel);
    if (!answers) {
      const inbox = new Inbox<Delivered>();
      answers = this.raw.subscribe(channel, inbox.push).then(() => inbox);
      this.services.set(channel, answers);
    }
    const inbox = await answers;
    const index = inbox.length;
    const failure: unknown = await this.raw.publish(channel, data).then(
      () => null,
      (err: unknown) => err,
    );
    // Faye hands a message to subscribers before it settles the publish it answers.
    if (failure !== null && inbox.length <= index) throw failure;
    const answer = await inbox.nth(index, `the answer on ${channel}`);
    const onWire = this.raw.wireOn(channel)[index];
    return { successful: onWire?.successful === true, channel: answer.channel, data: answer.data };
  }

  /** Faye's disconnect rejects when the server answers with a failure. */
  disconnect(): Promise<boolean> {
    return this.raw.disconnect();
  }
}

/** Asked for WebSocket: resolves once the client uses it (Faye switches after its handshake, in the background). */
async function onTransport<C extends InteropClient>(c: C, transport: OpenOptions['transport']): Promise<C> {
  if (transport === 'websocket') await waitUntil(() => c.connectionType === 'websocket', 'the client to switch to websocket');
  return c;
}

export const COMETD: InteropClientKind<CometDClient> = {
  name: 'CometD',
  publishesInCallOrder: true,
  async open(url, options = {}) {
    // CometD-JS refuses to send a message over 8 KB unless this is raised.
    const c = new CometDClient(url, options.largeMessages ? { maxSendBayeuxMessageSize: 1024 * 1024 } : {}, { transport: options.transport });
    await c.handshake();
    await c.connects.atLeast(1, 'the first /meta/connect reply');
    return onTransport(new CometDAdapter(c), options.transport);
  },
  closeAll: closeAllCometDClients,
};

export const FAYE: InteropClientKind<FayeClient> = {
  name: 'Faye',
  publishesInCallOrder: false,
  async open(url, options = {}) {
    const c = new FayeClient(url, {}, { transport: options.transport });
    await c.connect();
    return onTransport(new FayeAdapter(c), options.transport);
  },
  closeAll: closeAllFayeClients,
};
