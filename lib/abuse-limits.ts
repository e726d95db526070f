/**
 * Abuse limits on handshakes: sessions per client address, handshakes per second per
 * address, and sessions per process (options `maxSessionsPerAddress`,
 * `maxHandshakesPerSecondPerAddress`, `maxSessions`). All are off by default, and all count
 * in this process only: each process of a cluster keeps its own counts. Only
 * `/meta/handshake` consults them; connects never do. In-process clients are neither
 * limited nor counted.
 */
import createDebug from 'debug';
import type { Awaitable, Engine } from './engines/engine.js';
import { Errors, type BayeuxError } from './errors.js';
import type { RequestContext } from './exchange.js';
import type { ResolvedOptions } from './options.js';

const debug = createDebug('bayeux:abuse-limits');

/** The handshake rate is counted in fixed windows of this length. */
const WINDOW_MS = 1000;
/**
 * Most distinct addresses counted in one window. The window's counts are dropped when it
 * ends, so memory follows the handshake rate; this bounds it even under a flood of distinct
 * addresses. Past it, new addresses go uncounted until the window ends: refusing them instead
 * would let a flood lock every newcomer out (`maxSessions` still bounds the sessions made).
 */
const MAX_ADDRESSES_PER_WINDOW = 50_000;
/** Longest address kept: a `clientAddress` that returns a whole header cannot make keys large. */
const MAX_ADDRESS_LENGTH = 100;
/** Longest retry interval advised when a session limit is reached. */
const MAX_RETRY_MS = 60_000;

/** When some counted sessions were last checked with the engine (see `recheck`). */
interface Recheck {
  checkedAt: number;
  /** A check under way, shared by the handshakes refused meanwhile. */
  checking: Promise<void> | null;
}

/** The sessions counted under one address. */
interface AddressSessions extends Recheck {
  readonly ids: Set<string>;
}

type Full = 'address' | 'process';

/** @internal The abuse limits of one server. */
export class AbuseLimits {
  /** Whether the address of a handshake matters (a per-address limit is on). */
  private readonly perAddress: boolean;
  /** Whether sessions are counted (a session limit is on). */
  private readonly counting: boolean;
  /** Advised `interval` of a session-limit refusal: an abandoned session has expired by then. */
  private readonly retryMs: number;
  /** Handshakes per address in the current window. */
  private window = new Map<string, number>();
  private windowEnds = 0;
  /** Counted sessions (created here, not in-process): client id → address. */
  private readonly sessions = new Map<string, string>();
  private readonly byAddress = new Map<string, AddressSessions>();
  /** Admitted sessions the engine is still creating: a recheck must not count them gone. */
  private readonly creating = new Set<string>();
  private readonly all: Recheck = { checkedAt: 0, checking: null };

  constructor(
    private readonly options: ResolvedOptions,
    private readonly engine: Engine,
    private readonly onError: (err: unknown) => void,
  ) {
    this.perAddress = options.maxSessionsPerAddress > 0 || options.maxHandshakesPerSecondPerAddress > 0;
    this.counting = options.maxSessionsPerAddress > 0 || options.maxSessions > 0;
    this.retryMs = Math.min(options.interval + options.maxInterval, MAX_RETRY_MS);
  }

  /** The address a handshake counts under; null when it is not limited (no limit on, or an in-process client). */
  addressOf(request: RequestContext): string | null {
    if (request.local === true || !(this.perAddress || this.counting)) return null;
    if (!this.perAddress) return '';
    let address: string | undefined;
    const custom = this.options.clientAddress;
    if (custom) {
      try {
        const a: unknown = custom(request);
        if (typeof a === 'string' && a !== '') address = a;
      } catch (err) {
        // A bug in the app's function: count under the peer address rather than fail the handshake.
        this.onError(err);
      }
    }
    address ??= request.remoteAddress ?? 'unknown';
    return address.length > MAX_ADDRESS_LENGTH ? address.slice(0, MAX_ADDRESS_LENGTH) : address;
  }

  /** Counts a handshake from `address`; the error when it is one too many in this window. */
  throttle(address: string): BayeuxError | null {
    const max = this.options.maxHandshakesPerSecondPerAddress;
    if (max === 0) return null;
    const now = Date.now();
    if (now >= this.windowEnds) {
      // A new window: the old counts go all at once, so no entry outlives its window.
      if (this.window.size > 0) this.window = new Map();
      this.windowEnds = now - (now % WINDOW_MS) + WINDOW_MS;
    }
    const n = this.window.get(address) ?? 0;
    if (n >= max) {
      debug('handshake from %s refused: over %d per second', address, max);
      return Errors.tooManyHandshakes(max, this.windowEnds - now);
    }
    if (n > 0 || this.window.size < MAX_ADDRESSES_PER_WINDOW) this.window.set(address, n + 1);
    return null;
  }

  /**
   * Takes a session slot for `clientId` from `address`, before the engine creates the
   * session, so concurrent handshakes cannot all pass; the error when a limit is reached.
   * The engine call then goes through {@link create}.
   */
  admit(address: string, clientId: string): Awaitable<BayeuxError | null> {
    if (!this.counting) return null;
    const full = this.take(address, clientId);
    if (full === null) return null;
    // Sessions may have ended where this process could not hear of it (in another process
    // of a cluster, with no cluster events): ask the engine, then decide again.
    const checking = this.recheck(full === 'address' ? address : null);
    if (checking === null) return this.refusal(full, address);
    return checking.then(() => {
      const again = this.take(address, clientId);
      return again === null ? null : this.refusal(again, address);
    });
  }

  /** Runs the engine's creation of an admitted session; a failed one gives its slot back. */
  async create(clientId: string, create: () => Awaitable<void>): Promise<void> {
    if (!this.creating.has(clientId)) return create();
    try {
      await create();
    } catch (err) {
      this.removed(clientId);
      throw err;
    } finally {
      this.creating.delete(clientId);
    }
  }

  /** A session ended (in this process, or anywhere as a cluster event): its slot is free. */
  removed(clientId: string): void {
    const address = this.sessions.get(clientId);
    if (address === undefined) return;
    this.sessions.delete(clientId);
    const entry = this.byAddress.get(address);
    if (entry === undefined) return;
    entry.ids.delete(clientId);
    if (entry.ids.size === 0) this.byAddress.delete(address);
  }

  /** Records the session when there is room, else says which limit is reached. */
  private take(address: string, clientId: string): Full | null {
    const { maxSessions, maxSessionsPerAddress } = this.options;
    if (maxSessions > 0 && this.sessions.size >= maxSessions) return 'process';
    let entry = this.byAddress.get(address);
    if (maxSessionsPerAddress > 0 && entry !== undefined && entry.ids.size >= maxSessionsPerAddress) return 'address';
    if (entry === undefined) this.byAddress.set(address, (entry = { ids: new Set(), checkedAt: 0, checking: null }));
    entry.ids.add(clientId);
    this.sessions.set(clientId, address);
    this.creating.add(clientId);
    return null;
  }

  private refusal(full: Full, address: string): BayeuxError {
    if (full === 'address') {
      debug('handshake from %s refused: %d sessions', address, this.options.maxSessionsPerAddress);
      return Errors.tooManySessionsFromAddress(this.options.maxSessionsPerAddress, this.retryMs);
    }
    debug('handshake from %s refused: %d sessions in this process', address, this.options.maxSessions);
    return Errors.tooManySessions(this.options.maxSessions, this.retryMs);
  }

  /**
   * Asks the engine about the counted sessions of `address` (null: all of them) and forgets
   * those that are gone. Null when they were checked too recently: an address's few sessions
   * once per sweep interval, all of them once per session expiry time (a lookup per session).
   */
  private recheck(address: string | null): Promise<void> | null {
    const state = address === null ? this.all : this.byAddress.get(address);
    if (state === undefined) return null;
    if (state.checking !== null) return state.checking;
    const now = Date.now();
    const every = address === null ? Math.max(this.options.sweepInterval, this.retryMs) : this.options.sweepInterval;
    if (now - state.checkedAt < every) return null;
    state.checkedAt = now;
    const ids = address === null ? [...this.sessions.keys()] : [...(state as AddressSessions).ids];
    state.checking = this.prune(ids).finally(() => (state.checking = null));
    return state.checking;
  }

  private async prune(ids: string[]): Promise<void> {
    let exists: boolean[];
    try {
      exists = await Promise.all(ids.map((id) => this.creating.has(id) || this.engine.hasSession(id)));
    } catch (err) {
      // The engine is unreachable: keep the counts (the refusal stands), check again later.
      debug('could not check sessions: %s', (err as Error)?.message ?? String(err));
      return;
    }
    let gone = 0;
    ids.forEach((id, i) => {
      if (!exists[i] && !this.creating.has(id) && this.sessions.has(id)) {
        this.removed(id);
        gone++;
      }
    });
    if (gone > 0) debug('%d of %d sessions counted here had ended elsewhere', gone, ids.length);
  }
}
