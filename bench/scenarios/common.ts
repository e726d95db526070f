/**
 * What the scenarios share: starting a target with its generator workers (and always
 * stopping both), spreading clients over workers, merged generator snapshots, bounded
 * waits, and the metric record every run returns.
 */
import type { BenchConfig } from '../config.js';
import { sleep, startTarget, startWorkers, type TargetProc, type WorkerProc } from '../harness.js';
import { Histogram } from '../shared/histogram.js';
import { usesRedis, type ChurnSpec, type ClientTransport, type SpawnSpec, type TargetConfig, type TargetName, type TargetStats, type WorkerSnapshot } from '../shared/protocol.js';
import path from 'node:path';
import { ROOT } from '../harness.js';
import { BenchRedis, type RedisInfo } from '../redis-server.js';

/** Flat numeric results of one run of one scenario against one target. */
export type Metrics = Record<string, number>;

/** How a metric is shown in tables. */
export interface MetricRow {
  key: string;
  label: string;
  unit: string;
  digits: number;
  /** Whether a smaller value is better (for ratios' reading). */
  lowerIsBetter: boolean;
}

export type Log = (line: string) => void;

export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(target: TargetName, cfg: BenchConfig, log: Log): Promise<Metrics>;
  rows(cfg: BenchConfig): MetricRow[];
}

export const PATH = '/cometd';

export interface Rig {
  target: TargetProc;
  workers: WorkerProc[];
  gen: Generator;
  /** The redis-server of a `bayeux-redis` or `faye-redis` run (started for it, stopped after); null for other targets. */
  redis: BenchRedis | null;
  /** Profiles a measurement window when `--profile window` is on; a no-op otherwise. */
  profiled<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

/** Starts a target and the generator workers, runs `fn`, and stops them all whatever happens. */
export async function withRig<T>(
  name: TargetName,
  cfg: BenchConfig,
  targetConfig: Partial<TargetConfig>,
  label: string,
  fn: (rig: Rig) => Promise<T>,
): Promise<T> {
  const tc: TargetConfig = { timeout: cfg.timeout, maxInterval: cfg.maxInterval, path: PATH, ...targetConfig };
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const profileFile = cfg.profile === 'process' ? path.resolve(ROOT, cfg.profileDir, `${name}-${label}-${stamp}.cpuprofile`) : undefined;
  // A Redis target gets a fresh redis-server per run, so its counters start at zero.
  const redis = usesRedis(name) ? await BenchRedis.start() : null;
  if (redis) {
    tc.redisUrl = redis.url;
    if (cfg.redisCommandTimeout > 0) tc.redisCommandTimeout = cfg.redisCommandTimeout;
  }
  let target: TargetProc;
  try {
    target = await startTarget(name, tc, { profileFile, pin: cfg.pin });
  } catch (err) {
    await redis?.stop();
    throw err;
  }
  let workers: WorkerProc[] = [];
  const profiled = async <R>(window: string, run: () => Promise<R>): Promise<R> => {
    if (cfg.profile !== 'window') return run();
    const file = path.resolve(ROOT, cfg.profileDir, `${name}-${window}-${stamp}.cpuprofile`);
    await target.profile('start', file);
    try {
      return await run();
    } finally {
      await target.profile('stop', file);
      process.stderr.write(`  cpu profile: ${path.relative(ROOT, file)}\n`);
    }
  };
  try {
    workers = await startWorkers(cfg.workers, target.port, cfg.addrs, PATH, { pin: cfg.pin });
    return await fn({ target, workers, gen: new Generator(workers), redis, profiled });
  } finally {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await target.stop();
    await redis?.stop();
    if (profileFile) process.stderr.write(`  cpu profile: ${path.relative(ROOT, profileFile)}\n`);
  }
}

/** Merged view of the generator workers' counters. */
export interface GenSnapshot {
  cpu: number;
  connectReplies: number;
  holding: number;
  clients: number;
  errors: number;
  reconnects: number;
  rehandshakes: number;
  acks: number;
  nacks: number;
  firstError: string | null;
  tags: Map<string, { count: number; hist: Histogram; firstAt: number; lastAt: number }>;
}

export class Generator {
  private nextIndex = 0;
  constructor(readonly workers: WorkerProc[]) {}

  /** Creates `count` clients spread evenly over the workers; resolves when all are set up. */
  async spawn(count: number, spec: Omit<SpawnSpec, 'first' | 'count'>, timeoutMs: number): Promise<{ established: number; failed: number }> {
    const n = this.workers.length;
    const parts = this.workers.map((w, i) => {
      const c = Math.floor(count / n) + (i < count % n ? 1 : 0);
      const first = this.nextIndex;
      this.nextIndex += c;
      return w.spawn({ ...spec, first, count: c }, timeoutMs);
    });
    const results = await Promise.all(parts);
    return results.reduce((a, r) => ({ established: a.established + r.established, failed: a.failed + r.failed }), { established: 0, failed: 0 });
  }

  async snapshot(reset: boolean): Promise<GenSnapshot> {
    const snaps: WorkerSnapshot[] = await Promise.all(this.workers.map((w) => w.snapshot(reset)));
    const merged: GenSnapshot = {
      cpu: 0,
      connectReplies: 0,
      holding: 0,
      clients: 0,
      errors: 0,
      reconnects: 0,
      rehandshakes: 0,
      acks: 0,
      nacks: 0,
      firstError: null,
      tags: new Map(),
    };
    for (const s of snaps) {
      merged.cpu += s.cpu;
      merged.connectReplies += s.connectReplies;
      merged.holding += s.holding;
      merged.clients += s.clients;
      merged.errors += s.errors;
      merged.reconnects += s.reconnects;
      merged.rehandshakes += s.rehandshakes;
      merged.acks += s.acks;
      merged.nacks += s.nacks;
      merged.firstError ??= s.firstError;
      for (const [tag, t] of Object.entries(s.deliveries)) {
        const m = merged.tags.get(tag);
        if (!m) merged.tags.set(tag, { count: t.count, hist: Histogram.from([t.hist]), firstAt: t.firstAt, lastAt: t.lastAt });
        else {
          m.count += t.count;
          m.hist.merge(t.hist);
          m.firstAt = Math.min(m.firstAt, t.firstAt);
          m.lastAt = Math.max(m.lastAt, t.lastAt);
        }
      }
    }
    return merged;
  }

  /** Runs churn on every worker at once, `concurrency` split between them. */
  async churn(spec: ChurnSpec, timeoutMs: number): Promise<{ created: number; disconnected: number; vanished: number; failed: number }> {
    const n = this.workers.length;
    const results = await Promise.all(
      this.workers.map((w, i) =>
        w.churn(
          {
            ...spec,
            concurrency: Math.max(1, Math.floor(spec.concurrency / n) + (i < spec.concurrency % n ? 1 : 0)),
            sessions: Math.floor(spec.sessions / n) + (i < spec.sessions % n ? 1 : 0),
          },
          timeoutMs,
        ),
      ),
    );
    return results.reduce(
      (a, r) => ({
        created: a.created + r.created,
        disconnected: a.disconnected + r.disconnected,
        vanished: a.vanished + r.vanished,
        failed: a.failed + r.failed,
      }),
      { created: 0, disconnected: 0, vanished: 0, failed: 0 },
    );
  }

  /** Waits (bounded) until `n` clients hold a connect; returns how many do. */
  async waitHolding(n: number, timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    let holding = 0;
    while (Date.now() < until) {
      holding = (await this.snapshot(false)).holding;
      if (holding >= n) return holding;
      await sleep(100);
    }
    return holding;
  }

  /**
   * Waits (bounded) until `expected` deliveries tagged `tag` have arrived; with `stallMs` >
   * 0, also stops once the count has not grown for that long after the first delivery (the
   * rest is not coming). Before the first one only the bound applies: a server that is slow
   * to begin (faye-redis queues a burst in Redis for many seconds) is slow, not lossy.
   */
  async waitDeliveries(tag: string, expected: number, timeoutMs: number, pollMs = 50, stallMs = 0): Promise<GenSnapshot> {
    const until = Date.now() + timeoutMs;
    let snap = await this.snapshot(false);
    let last = snap.tags.get(tag)?.count ?? 0;
    let grewAt = Date.now();
    while ((snap.tags.get(tag)?.count ?? 0) < expected && Date.now() < until) {
      if (stallMs > 0 && last > 0 && Date.now() - grewAt >= stallMs) break;
      await sleep(pollMs);
      snap = await this.snapshot(false);
      const n = snap.tags.get(tag)?.count ?? 0;
      if (n > last) {
        last = n;
        grewAt = Date.now();
      }
    }
    return snap;
  }
}

/** Waits (bounded) until the target reports at most `n` sessions; returns its last stats. */
export async function waitSessions(target: TargetProc, n: number, timeoutMs: number): Promise<TargetStats> {
  const until = Date.now() + timeoutMs;
  let s = await target.stats(false);
  while (s.sessions > n && Date.now() < until) {
    await sleep(500);
    s = await target.stats(false);
  }
  return s;
}

/** Waits (bounded) until the target holds at least `n` open requests more than `base`. */
export async function waitOpenRequests(target: TargetProc, base: number, n: number, timeoutMs: number): Promise<TargetStats> {
  const until = Date.now() + timeoutMs;
  let s = await target.stats(false);
  while (s.openRequests - base < n && Date.now() < until) {
    await sleep(100);
    s = await target.stats(false);
  }
  return s;
}

/**
 * Runs a few sessions through their whole life (handshake, subscribe, a short held
 * connect, disconnect) so code is compiled and pools are filled before a baseline.
 * `concurrency` sessions run at once: node:http keeps up to 1000 spent HTTP parsers for
 * reuse, so a baseline taken before as many connections were open as later would count
 * that pool as growth.
 */
export async function warmUp(rig: Rig, cfg: BenchConfig, concurrency = 10, transport: ClientTransport = 'long-polling'): Promise<void> {
  if (cfg.warmSessions <= 0) return;
  const sessions = Math.max(cfg.warmSessions, concurrency * 2);
  await rig.gen.churn({ transport, durationMs: 0, sessions, concurrency, vanish: 0, channels: 1, holdMs: 200 }, 60_000);
  await waitSessions(rig.target, 0, 10_000);
  // Let held connects of disconnected sessions time out where a server keeps them.
  await sleep(400);
  await rig.gen.snapshot(true);
}

export function cpuOf(s: TargetStats): number {
  return s.cpuUser + s.cpuSystem;
}

export function percent(cpuUs: number, wallMs: number): number {
  return wallMs > 0 ? cpuUs / (wallMs * 10) : NaN;
}

/** Redis readings around a measurement window (null without Redis). */
export async function redisInfo(rig: Rig): Promise<RedisInfo | null> {
  return rig.redis ? rig.redis.info() : null;
}

/**
 * The Redis side of a window: CPU (µs), script calls (EVALSHA/EVAL: each one round trip)
 * and every command run (scripts' inner commands included). Zeros without Redis.
 */
export function redisDelta(a: RedisInfo | null, b: RedisInfo | null): { cpu: number; scripts: number; commands: number } {
  if (a === null || b === null) return { cpu: 0, scripts: 0, commands: 0 };
  const calls = (i: RedisInfo, k: string): number => i.calls[k] ?? 0;
  return {
    cpu: b.cpu - a.cpu,
    scripts: calls(b, 'evalsha') - calls(a, 'evalsha') + calls(b, 'eval') - calls(a, 'eval'),
    commands: b.commands - a.commands,
  };
}
