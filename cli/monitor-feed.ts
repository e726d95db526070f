/**
 * The monitor's Bayeux side: who may watch, and getting each snapshot to them.
 *
 * A page subscribes to the monitor's service channel with the token in the subscribe
 * message's `ext.monitorToken`. Subscriptions to service channels are never recorded nor
 * passed to the security policy or authorizers (their traffic is answered directly), so
 * the check is an incoming extension on `/meta/subscribe`: a wrong or missing token is
 * refused with `403:monitor_token_invalid:subscribe_denied`, a right one makes the session
 * a watcher. Watchers get snapshots with `session.deliver`; one whose session is gone
 * (delivery refused, `sessionRemoved`, an unsubscribe) is forgotten.
 */
import createDebug from 'debug';
import { BayeuxErrorException, Errors, type BayeuxServer, type Extension, type Message } from '../index.js';
import type { MonitorSnapshot, RatePoint } from './monitor-data.js';
import type { BearerTokens } from '../transports/bearer-token.js';

const debug = createDebug('bayeux:monitor');

/** The sessions watching the monitor, and the extension that admits them. */
export class MonitorFeed {
  /** Watching sessions; true while the session still has to get the history. */
  private readonly watchers = new Map<string, boolean>();
  private readonly extension: Extension = { incoming: (message) => this.incoming(message) };
  private readonly removed = (clientId: string): void => {
    this.watchers.delete(clientId);
  };

  constructor(
    private readonly bayeux: BayeuxServer,
    /** The service channel pages subscribe to. */
    readonly channel: string,
    private readonly tokens: BearerTokens,
  ) {
    bayeux.addExtension(this.extension);
    bayeux.on('sessionRemoved', this.removed);
  }

  /** How many sessions watch. */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Delivers `snapshot` to every watcher (with `history` to those that have not had it).
   * Resolves when every delivery settled; a session that is gone stops watching.
   */
  async send(snapshot: MonitorSnapshot, history: { seconds: number; points: RatePoint[] }): Promise<void> {
    const withHistory: MonitorSnapshot = { ...snapshot, history };
    await Promise.all(
      [...this.watchers].map(async ([clientId, needsHistory]) => {
        try {
          const delivered = await this.bayeux.session(clientId).deliver(this.channel, needsHistory ? withHistory : snapshot);
          if (!delivered) this.watchers.delete(clientId);
          else if (needsHistory && this.watchers.has(clientId)) this.watchers.set(clientId, false);
        } catch (err) {
          // The engine is unreachable (Redis down): keep the watcher, try again next tick.
          debug('snapshot for %s not delivered: %O', clientId, err);
        }
      }),
    );
  }

  stop(): void {
    this.bayeux.removeExtension(this.extension);
    this.bayeux.off('sessionRemoved', this.removed);
    this.watchers.clear();
  }

  private incoming(message: Message): void {
    if (message.channel !== '/meta/subscribe' && message.channel !== '/meta/unsubscribe') return;
    if (!names(message.subscription, this.channel)) return;
    const clientId = message.clientId;
    if (message.channel === '/meta/unsubscribe') {
      if (clientId !== undefined) this.watchers.delete(clientId);
      return;
    }
    const ext = message.ext;
    const token = ext?.monitorToken;
    // Nobody down the line (other extensions, debug logs) needs to see the secret.
    if (ext !== undefined) delete ext.monitorToken;
    if (!this.tokens.matches(token)) {
      debug('subscribe of %s to %s refused: wrong or missing token', clientId, this.channel);
      throw new BayeuxErrorException(Errors.denied('subscribe', 'monitor_token_invalid'));
    }
    // Admitted now; if the subscribe still fails (unknown session), the first delivery says so.
    if (clientId !== undefined && !this.watchers.has(clientId)) this.watchers.set(clientId, true);
  }
}

/** True when a subscribe's `subscription` (a name or a list) names `channel`. */
function names(subscription: unknown, channel: string): boolean {
  return subscription === channel || (Array.isArray(subscription) && subscription.includes(channel));
}
