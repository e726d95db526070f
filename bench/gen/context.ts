/**
 * Per-worker generator state: where to connect, which source address to use next, and
 * the counters every simulated client reports into.
 */
import { Histogram } from '../shared/histogram.js';
import { preciseNow, type TagCounters, type WorkerSnapshot } from '../shared/protocol.js';
import { HttpConn, type ConnTarget } from './http-conn.js';

interface TagState {
  count: number;
  hist: Histogram;
  firstAt: number;
  lastAt: number;
}

/** The payload every published message carries: publish time, phase tag, sequence. */
export interface BenchPayload {
  t: number;
  g: string;
  s: number;
}

export class GenContext {
  private addrIndex = 0;
  private portIndex = 0;
  private readonly prefix: string;
  /** With several target processes: one target and request prefix per port. */
  private readonly spread: { target: ConnTarget; prefix: string }[];
  connectReplies = 0;
  holding = 0;
  clients = 0;
  errors = 0;
  reconnects = 0;
  rehandshakes = 0;
  acks = 0;
  nacks = 0;
  firstError: string | null = null;
  private tags = new Map<string, TagState>();

  constructor(
    readonly target: ConnTarget,
    private readonly addrs: readonly string[],
    ports: readonly number[] = [],
  ) {
    this.prefix = HttpConn.requestPrefix(target);
    this.spread = ports.map((port) => {
      const t = { ...target, port };
      return { target: t, prefix: HttpConn.requestPrefix(t) };
    });
  }

  /**
   * Opens a keep-alive connection from the next loopback source address, to the target or,
   * with several target processes, to the next one (a client keeps its connection, so
   * its session stays on one process).
   */
  newConn(onClosed: ((conn: HttpConn) => void) | null = null): HttpConn {
    const addr = this.addrs.length === 0 ? undefined : this.addrs[this.addrIndex++ % this.addrs.length];
    if (this.spread.length > 0) {
      const s = this.spread[this.portIndex++ % this.spread.length]!;
      return new HttpConn(s.target, addr, s.prefix, onClosed);
    }
    return new HttpConn(this.target, addr, this.prefix, onClosed);
  }

  /** Where the next WebSocket goes, and from which source address (the same round-robin as newConn). */
  nextEndpoint(): { target: ConnTarget; localAddress: string | undefined } {
    const localAddress = this.addrs.length === 0 ? undefined : this.addrs[this.addrIndex++ % this.addrs.length];
    const target = this.spread.length > 0 ? this.spread[this.portIndex++ % this.spread.length]!.target : this.target;
    return { target, localAddress };
  }

  error(what: string): void {
    this.errors++;
    if (this.firstError === null) this.firstError = what;
  }

  /** A published message arrived at a subscriber. */
  delivered(data: unknown): void {
    const p = data as BenchPayload | null;
    if (p === null || typeof p !== 'object' || typeof p.t !== 'number') return;
    const now = preciseNow();
    let tag = this.tags.get(p.g);
    if (tag === undefined) {
      tag = { count: 0, hist: new Histogram(), firstAt: now, lastAt: now };
      this.tags.set(p.g, tag);
    }
    tag.count++;
    tag.lastAt = now;
    tag.hist.record((now - p.t) * 1000);
  }

  snapshot(reset: boolean): WorkerSnapshot {
    const cpu = process.cpuUsage();
    const deliveries: Record<string, TagCounters> = {};
    for (const [name, t] of this.tags) {
      deliveries[name] = { count: t.count, hist: t.hist.toData(), firstAt: t.firstAt, lastAt: t.lastAt };
    }
    const snap: WorkerSnapshot = {
      cpu: cpu.user + cpu.system,
      connectReplies: this.connectReplies,
      deliveries,
      holding: this.holding,
      clients: this.clients,
      errors: this.errors,
      reconnects: this.reconnects,
      rehandshakes: this.rehandshakes,
      acks: this.acks,
      nacks: this.nacks,
      firstError: this.firstError,
    };
    if (reset) {
      this.connectReplies = 0;
      this.acks = 0;
      this.nacks = 0;
      this.tags = new Map();
    }
    return snap;
  }
}
