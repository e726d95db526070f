/**
 * The embedded engine: all state in this process, every call answered synchronously.
 *
 * Layout chosen for many idle sessions: one small object per session (no timers, no
 * closures), a queue that is `null` while empty, and one shared sweep timer for expiry.
 * Subscriber sets hold the session objects themselves, so fan-out needs no lookups.
 * Cluster events (sessions added and removed, subscriptions) are reported to the listener
 * as they happen, so app code written for the Redis engine's events works here too.
 */
import createDebug from 'debug';
import { expandChannel } from '../../channel-name.js';
import {
  NO_MAIL,
  type ConnectResult,
  type Engine,
  type EngineConfig,
  type EngineListener,
  type Mail,
  type SessionRemovedReason,
  type SubscribeResult,
} from '../engine.js';

const debug = createDebug('bayeux:engine:memory');

/** Acknowledged delivery state: mail sent but not yet acknowledged, with its batch numbers. */
class AckState {
  batch = 0;
  readonly sent: string[] = [];
  readonly batches: number[] = [];
}

class MemorySession {
  queue: string[] | null = null;
  ack: AckState | null = null;
  subs: Set<string> | null = null;
  /** Epoch ms after which the sweep removes it; 0 while a connect is in progress. */
  expiresAt: number;
  connected = false;
  held = false;
  constructor(readonly id: string, expiresAt: number) {
    this.expiresAt = expiresAt;
  }
}

const { first: FIRST_CONNECT, held: HELD, again: AGAIN_EMPTY } = NO_MAIL;

/** The in-memory engine (the default). */
export class MemoryEngine implements Engine {
  private readonly sessions = new Map<string, MemorySession>();
  private readonly index = new Map<string, Set<MemorySession>>();
  private listener: EngineListener | null = null;
  private maxQueue = 10_000;
  private sweeper: NodeJS.Timeout | null = null;

  open(listener: EngineListener, config: EngineConfig): void {
    this.listener = listener;
    this.maxQueue = config.maxQueue;
    this.sweeper = setInterval(() => this.sweep(Date.now()), config.sweepInterval);
    this.sweeper.unref();
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.sessions.clear();
    this.index.clear();
  }

  createSession(clientId: string, expiresInMs: number): void {
    this.sessions.set(clientId, new MemorySession(clientId, Date.now() + expiresInMs));
    this.listener?.clusterEvent?.({ type: 'sessionAdded', clientId });
  }

  destroySession(clientId: string, reason: SessionRemovedReason): boolean {
    const s = this.sessions.get(clientId);
    if (!s) return false;
    this.remove(s);
    this.listener?.clusterEvent?.({ type: 'sessionRemoved', clientId, reason });
    return true;
  }

  hasSession(clientId: string): boolean {
    return this.sessions.has(clientId);
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  beginConnect(clientId: string, hold: boolean): ConnectResult | null {
    const s = this.sessions.get(clientId);
    if (!s) return null;
    s.expiresAt = 0;
    const first = !s.connected;
    s.connected = true;
    if (s.queue !== null || (s.ack !== null && s.ack.sent.length > 0)) {
      return { first, messages: take(s), held: false };
    }
    const held = !first && hold;
    if (held) s.held = true;
    // With acknowledged delivery even a reply without mail is numbered (see ConnectResult).
    if (s.ack !== null) return { first, messages: null, held, batch: s.ack.batch };
    return first ? FIRST_CONNECT : held ? HELD : AGAIN_EMPTY;
  }

  endConnect(clientId: string, expiresInMs: number, takeMail: boolean): Mail | null {
    const s = this.sessions.get(clientId);
    if (!s) return null;
    s.held = false;
    s.expiresAt = Date.now() + expiresInMs;
    if (!takeMail) return [];
    const mail = take(s);
    if (mail !== null) return mail;
    const none: Mail = [];
    if (s.ack !== null) none.batch = s.ack.batch;
    return none;
  }

  takeQueued(clientId: string, piggyback = false): Mail | null {
    const s = this.sessions.get(clientId);
    if (!s || s.queue === null || (piggyback && s.ack !== null)) return null;
    return take(s);
  }

  requeue(clientId: string, payloads: string[]): void {
    const s = this.sessions.get(clientId);
    if (!s || payloads.length === 0 || s.ack !== null) return;
    s.queue = s.queue === null ? payloads.slice() : payloads.concat(s.queue);
    this.trim(s);
    if (s.held) this.listener?.wake(s.id);
  }

  enableAcknowledgement(clientId: string): boolean {
    const s = this.sessions.get(clientId);
    if (!s) return false;
    s.ack ??= new AckState();
    return true;
  }

  acknowledge(clientId: string, batch: number): number {
    const s = this.sessions.get(clientId);
    if (!s || s.ack === null) return 0;
    const a = s.ack;
    let n = 0;
    while (n < a.batches.length && a.batches[n]! <= batch) n++;
    if (n > 0) {
      a.sent.splice(0, n);
      a.batches.splice(0, n);
    }
    return a.sent.length;
  }

  subscribe(clientId: string, channels: readonly string[], max: number): SubscribeResult {
    const s = this.sessions.get(clientId);
    if (!s) return 'unknown-session';
    const subs = (s.subs ??= new Set());
    let added = 0;
    for (const c of channels) if (!subs.has(c)) added++;
    if (subs.size + added > max) return 'limit';
    for (const c of channels) {
      if (subs.has(c)) continue;
      subs.add(c);
      let set = this.index.get(c);
      if (!set) this.index.set(c, (set = new Set()));
      set.add(s);
      this.listener?.clusterEvent?.({ type: 'subscribed', clientId, channel: c });
    }
    return 'ok';
  }

  unsubscribe(clientId: string, channels: readonly string[]): boolean {
    const s = this.sessions.get(clientId);
    if (!s) return false;
    if (s.subs) {
      for (const c of channels) {
        if (!s.subs.delete(c)) continue;
        this.unindex(c, s);
        this.listener?.clusterEvent?.({ type: 'unsubscribed', clientId, channel: c });
      }
    }
    return true;
  }

  subscriptions(clientId: string): string[] | null {
    const s = this.sessions.get(clientId);
    if (!s) return null;
    return s.subs ? [...s.subs] : [];
  }

  publish(channel: string, payload: string, exclude?: string): number {
    // Union of the exact and wildcard sets, one copy per session. The common case (one
    // non-empty set) iterates that set directly, without building a union.
    let first: Set<MemorySession> | undefined;
    let union: Set<MemorySession> | undefined;
    for (const key of expandChannel(channel)) {
      const set = this.index.get(key);
      if (set === undefined || set.size === 0) continue;
      if (first === undefined) first = set;
      else {
        union ??= new Set(first);
        for (const s of set) union.add(s);
      }
    }
    const targets = union ?? first;
    if (targets === undefined) return 0;
    let n = 0;
    for (const s of targets) {
      if (s.id === exclude) continue;
      this.enqueue(s, payload);
      n++;
    }
    return n;
  }

  deliver(clientId: string, payload: string): boolean {
    const s = this.sessions.get(clientId);
    if (!s) return false;
    this.enqueue(s, payload);
    return true;
  }

  private enqueue(s: MemorySession, payload: string): void {
    if (s.queue === null) s.queue = [payload];
    else {
      s.queue.push(payload);
      if (s.queue.length > this.maxQueue) this.trim(s);
    }
    if (s.held) this.listener!.wake(s.id);
  }

  private trim(s: MemorySession): void {
    const over = s.queue!.length - this.maxQueue;
    if (over <= 0) return;
    s.queue!.splice(0, over);
    debug('session %s queue full: dropped %d', s.id, over);
    this.listener?.queueOverflow(s.id, over);
  }

  private sweep(now: number): void {
    for (const s of this.sessions.values()) {
      if (s.expiresAt !== 0 && s.expiresAt <= now) {
        debug('session %s expired', s.id);
        this.remove(s);
        this.listener?.sessionRemoved(s.id, 'timeout');
        this.listener?.clusterEvent?.({ type: 'sessionRemoved', clientId: s.id, reason: 'timeout' });
      }
    }
  }

  private remove(s: MemorySession): void {
    this.sessions.delete(s.id);
    if (s.subs) for (const c of s.subs) this.unindex(c, s);
    s.subs = null;
    s.queue = null;
  }

  private unindex(channel: string, s: MemorySession): void {
    const set = this.index.get(channel);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) this.index.delete(channel);
  }
}

/**
 * Takes a session's mail. With acknowledged delivery the queue becomes a new batch of the
 * unacknowledged store and everything unacknowledged is returned, oldest first.
 */
function take(s: MemorySession): Mail | null {
  const a = s.ack;
  if (a === null) {
    const q = s.queue;
    s.queue = null;
    return q;
  }
  if (s.queue !== null) {
    a.batch++;
    for (const p of s.queue) {
      a.sent.push(p);
      a.batches.push(a.batch);
    }
    s.queue = null;
  }
  if (a.sent.length === 0) return null;
  const mail: Mail = a.sent.slice();
  mail.batch = a.batch;
  return mail;
}

/** Creates the in-memory engine (the server's default). */
export function memoryEngine(): Engine {
  return new MemoryEngine();
}
