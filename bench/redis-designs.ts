/**
 * `npm run bench -- redis-designs` (issue 14): burst fan-out measured at the engine level,
 * on a real redis-server, for the fan-out designs the Redis engine could take. No HTTP and
 * no generator processes: S sessions live in this process, all subscribed to /bench/fan
 * (and, in the `overlap` variant, every tenth also to /bench/*), all holding a connect;
 * bursts of B publishes, each followed by the long-polling connect cycle every woken
 * session runs (take the mail and end the hold, begin a connect that holds again) until
 * every session has every message. Deliveries are checked (none lost, none duplicated,
 * per-session order).
 *
 * Designs (drivers in bench/redis-designs/):
 *   memory    the in-memory engine, for scale
 *   A         today's Redis engine (per-session queues of ids), through the Engine API
 *   B         channel logs with per-session positions; each session reads its logs in Redis
 *   C         B plus a process-level read: one read per log, handed out in memory;
 *             positions written as each hold ends (long-polling)
 *   C-stream  C with streaming holds: positions written once a second
 *
 * Per design: deliveries/s (first publish to last delivery), Redis CPU (INFO), Redis
 * commands (INFO, scripts' own included) and Node CPU (process.cpuUsage) per delivery,
 * over each burst and its whole connect cycle, and Redis memory per message a burst leaves
 * before the takes. Tables on stdout, in .bench-out/results/redis-designs.json and in
 * docs/scaling.md between the `bench:redis-designs` markers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { BenchConfig } from './config.js';
import { ROOT, sleep } from './harness.js';
import { cpuNote, MachineCpu, type CpuSplit } from './machine-cpu.js';
import { BenchRedis, type RedisInfo } from './redis-server.js';
import { redisVersion } from './redis.js';
import { fmt, machine, markdownTable, median, textTable, writeBetweenMarkers, type Table } from './report.js';
import type { DesignDriver, DriverOptions } from './redis-designs/driver.js';
import { EngineDriver } from './redis-designs/engine-driver.js';
import { LogDriver } from './redis-designs/log-driver.js';
import { payloadOf, Tally } from './redis-designs/tally.js';
import type { Log } from './scenarios/common.js';

export const DESIGNS = ['memory', 'A', 'B', 'C', 'C-stream'] as const;
export type Design = (typeof DESIGNS)[number];
export type Variant = 'plain' | 'overlap';

const LABEL: Record<Design, string> = {
  memory: 'in-memory engine (for scale)',
  A: '(A) today: a queue of ids per session',
  B: '(B) channel logs, each session reads',
  C: '(C) logs, process reads, long-polling',
  'C-stream': '(C) logs, process reads, streaming',
};

const CHANNEL = '/bench/fan';
const PATTERN = '/bench/*';
/** Per-session queue (A) and per-log (B, C) bound: the server's default `maxQueue`. */
const MAX_QUEUE = 10_000;
/** Pause between bursts, ms (no connections to settle at the engine level). */
const GAP_MS = 200;
/** Steady phase: publishes made one at a time, each delivered everywhere before the next. */
const STEADY_PUBLISHES = 10;

/** One design at one size and variant. */
export interface DesignRun {
  design: Design;
  /** Whether the design runs on Redis (the Redis columns apply). */
  redis: boolean;
  sessions: number;
  variant: Variant;
  /** Publishes per burst. */
  perBurst: number;
  /** Timed bursts. */
  bursts: number;
  /** Over the timed bursts: deliveries expected and counted (distinct). */
  expected: number;
  delivered: number;
  /** Of those, handed out from a read shared by several sessions (C's process read). */
  shared: number;
  /** Over the whole run (untimed bursts included). */
  lost: number;
  duplicates: number;
  outOfOrder: number;
  dropped: number;
  errors: number;
  /** First publish to last delivery, summed over the timed bursts, ms. */
  wallMs: number;
  /** First publish until every session holds again, summed, ms. */
  cycleMs: number;
  /** Over the timed bursts and their connect cycles. */
  redisCpuUs: number;
  redisCommands: number;
  redisScripts: number;
  nodeCpuUs: number;
  /**
   * Redis memory (MEMORY USAGE over every key) a burst adds, per message, before any take
   * (the burst after the warm-up, wakes held back), bytes; NaN without Redis.
   */
  memPerMessage: number;
  /** The same from INFO used_memory (client buffers included: noisier). */
  usedMemoryPerMessage: number;
  /** Redis memory (as memPerMessage) still held per message published after the warm-up, once every take is done, bytes. */
  memKeptPerMessage: number;
  /** Redis memory (as memPerMessage) per session after setup (subscribed, holding, nothing queued), bytes. */
  memPerSession: number;
  /** Steady phase: one publish at a time, nothing batched across publishes. */
  steady: Window;
}

/** What one measured phase costs. */
export interface Window {
  delivered: number;
  /** Wall time, ms (steady: publish to every session holding again, summed). */
  wallMs: number;
  redisCpuUs: number;
  redisCommands: number;
  redisScripts: number;
  nodeCpuUs: number;
}

function channelsOf(variant: Variant): (i: number) => string[] {
  return (i) => (variant === 'overlap' && i % 10 === 0 ? [CHANNEL, PATTERN] : [CHANNEL]);
}

function makeDriver(design: Design, o: DriverOptions): DesignDriver {
  switch (design) {
    case 'memory':
      return EngineDriver.memory(o);
    case 'A':
      return EngineDriver.redis(o);
    case 'B':
      return new LogDriver('session-read', o);
    case 'C':
      return new LogDriver('process-read', o);
    case 'C-stream':
      return new LogDriver('stream', o);
  }
}

/**
 * Redis memory held for data: MEMORY USAGE (every element counted) summed over every key.
 * Steadier than used_memory, which moves by tens of kilobytes with client buffers alone,
 * as much as a burst of 20 messages weighs in a log.
 */
async function dataMemory(r: Redis): Promise<number> {
  let cursor = '0';
  let total = 0;
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipe = r.pipeline();
    for (const k of keys) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    for (const [err, v] of (await pipe.exec()) ?? []) if (!err && typeof v === 'number') total += v;
  } while (cursor !== '0');
  return total;
}

/** Commands run, by INFO commandstats (scripts' own commands included; INFO itself left out). */
function calls(i: RedisInfo): number {
  let n = 0;
  for (const v of Object.values(i.calls)) n += v;
  return n;
}

/** Script calls (each one round trip), by INFO commandstats. */
function scripts(i: RedisInfo): number {
  return (i.calls.evalsha ?? 0) + (i.calls.eval ?? 0);
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

/** One run: a fresh redis-server (none for the in-memory engine), set up, a warm-up burst, the timed bursts. */
export async function runDesign(design: Design, sessions: number, variant: Variant, cfg: BenchConfig, log: Log): Promise<DesignRun> {
  const perBurst = Math.max(1, Math.round(cfg.burstDeliveries / sessions));
  const messages = perBurst * (cfg.bursts + 2) + STEADY_PUBLISHES;
  const tally = new Tally(sessions, messages);
  const redis = design === 'memory' ? null : await BenchRedis.start();
  const probe = redis ? new Redis(redis.url, { maxRetriesPerRequest: 0 }) : null;
  const info = async (): Promise<RedisInfo | null> => (redis ? redis.info() : null);
  const memory = async (): Promise<number> => (probe ? dataMemory(probe) : NaN);
  const used = (a: number, b: number, per: number): number => (b - a) / per;
  const driver = makeDriver(design, { sessions, channelsOf: channelsOf(variant), tally, maxQueue: MAX_QUEUE, redisUrl: redis?.url ?? '' });
  const run: DesignRun = {
    design,
    redis: redis !== null,
    sessions,
    variant,
    perBurst,
    bursts: cfg.bursts,
    expected: 0,
    delivered: 0,
    shared: 0,
    lost: 0,
    duplicates: 0,
    outOfOrder: 0,
    dropped: 0,
    errors: 0,
    wallMs: 0,
    cycleMs: 0,
    redisCpuUs: 0,
    redisCommands: 0,
    redisScripts: 0,
    nodeCpuUs: 0,
    memPerMessage: NaN,
    usedMemoryPerMessage: NaN,
    memKeptPerMessage: NaN,
    memPerSession: NaN,
    steady: { delivered: 0, wallMs: 0, redisCpuUs: 0, redisCommands: 0, redisScripts: 0, nodeCpuUs: 0 },
  };
  let seq = 0;
  const burst = (tag: string): Promise<unknown>[] => {
    // One synchronous loop, as the fan-out bench's bursts: all queued before any take.
    const pending: Promise<unknown>[] = [];
    for (let k = 0; k < perBurst; k++) {
      const p = driver.publish(CHANNEL, payloadOf(seq++, CHANNEL, tag));
      if (p instanceof Promise) pending.push(p);
    }
    return pending;
  };
  try {
    const empty = await memory();
    await bounded(driver.setup(), cfg.settleTimeout, 'setup');
    if (!(await driver.idle(cfg.settleTimeout))) throw new Error('setup: not every session holds');
    run.memPerSession = used(empty, await memory(), sessions);
    const drain = async (what: string): Promise<void> => {
      if (!(await tally.waitFor(seq * sessions, cfg.drainTimeout)) || !(await driver.idle(cfg.drainTimeout))) log(`    ${design} ${sessions} ${variant}: ${what} not drained`);
    };

    // Warm-up burst (untimed): scripts loaded, logs created, JIT warm.
    await bounded(Promise.all(burst('warm')), cfg.drainTimeout, 'warm-up publish');
    await drain('warm-up burst');
    const warm = await memory();
    const warmSeq = seq;
    // A burst weighed in Redis before any take (wakes held back), then drained.
    driver.pause();
    const before = await memory();
    const beforeInfo = await info();
    await bounded(Promise.all(burst('weigh')), cfg.drainTimeout, 'weighed publish');
    const afterInfo = await info();
    run.memPerMessage = used(before, await memory(), perBurst);
    if (beforeInfo && afterInfo) run.usedMemoryPerMessage = (afterInfo.usedMemory - beforeInfo.usedMemory) / perBurst;
    driver.resume();
    await drain('weighed burst');

    for (let b = 0; b < cfg.bursts; b++) {
      await sleep(GAP_MS);
      const r0 = await info();
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      const uniqueBefore = tally.unique;
      const sharedBefore = tally.shared;
      await Promise.all(burst(`burst${b}`));
      const complete = await tally.waitFor(seq * sessions, cfg.drainTimeout);
      const wLast = tally.lastAt;
      const idle = await driver.idle(cfg.drainTimeout);
      const w1 = performance.now();
      const c1 = process.cpuUsage(c0);
      const r1 = await info();
      run.expected += perBurst * sessions;
      run.delivered += tally.unique - uniqueBefore;
      run.shared += tally.shared - sharedBefore;
      run.wallMs += (complete ? wLast : w1) - w0;
      run.cycleMs += w1 - w0;
      run.nodeCpuUs += c1.user + c1.system;
      if (r0 && r1) {
        run.redisCpuUs += r1.cpu - r0.cpu;
        run.redisCommands += calls(r1) - calls(r0);
        run.redisScripts += scripts(r1) - scripts(r0);
      }
      if (!complete || !idle) log(`    ${design} ${sessions} ${variant}: burst ${b} ${complete ? 'complete' : 'INCOMPLETE'}, ${idle ? 'idle' : 'NOT idle'} after ${cfg.drainTimeout} ms`);
    }
    run.memKeptPerMessage = used(warm, await memory(), seq - warmSeq);

    // Steady: one publish at a time; each is delivered and every session holds again before
    // the next (streaming sessions hold throughout; their positions go out once a second).
    await sleep(GAP_MS);
    const r0 = await info();
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const uniqueBefore = tally.unique;
    for (let k = 0; k < STEADY_PUBLISHES; k++) {
      await driver.publish(CHANNEL, payloadOf(seq++, CHANNEL, 'steady'));
      if (!(await tally.waitFor(seq * sessions, cfg.drainTimeout)) || !(await driver.idle(cfg.drainTimeout, false))) {
        log(`    ${design} ${sessions} ${variant}: steady publish ${k} not drained`);
        break;
      }
    }
    const w1 = performance.now();
    await driver.idle(cfg.drainTimeout);
    const c1 = process.cpuUsage(c0);
    const r1 = await info();
    run.steady = {
      delivered: tally.unique - uniqueBefore,
      wallMs: w1 - w0,
      redisCpuUs: r0 && r1 ? r1.cpu - r0.cpu : 0,
      redisCommands: r0 && r1 ? calls(r1) - calls(r0) : 0,
      redisScripts: r0 && r1 ? scripts(r1) - scripts(r0) : 0,
      nodeCpuUs: c1.user + c1.system,
    };
  } finally {
    run.lost = seq * sessions - tally.unique;
    run.duplicates = tally.duplicates;
    run.outOfOrder = tally.outOfOrder;
    run.dropped = tally.dropped;
    run.errors = driver.errors;
    await driver.close().catch(() => {});
    probe?.disconnect();
    await redis?.stop();
  }
  return run;
}

// ── Report ────────────────────────────────────────────────────────────────────────────

const perDelivery = (r: DesignRun, v: number): number => (r.delivered > 0 ? v / r.delivered : NaN);
const rate = (r: DesignRun): number => (r.wallMs > 0 ? r.delivered / (r.wallMs / 1000) : NaN);
/** Over the whole cycle, until every session holds again: the rate a long-polling client base can keep up. */
const cycleRate = (r: DesignRun): number => (r.cycleMs > 0 && r.design !== 'C-stream' ? r.delivered / (r.cycleMs / 1000) : NaN);

/** Medians over rounds of each figure a table shows. */
interface Figures {
  rate: number;
  cycleRate: number;
  redisCpu: number;
  redisBusy: number;
  sharedShare: number;
  commands: number;
  scripts: number;
  nodeCpu: number;
  memPerMessage: number;
  memKept: number;
  memPerSession: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  errors: number;
}

function figures(rounds: DesignRun[]): Figures {
  const m = (f: (r: DesignRun) => number): number => median(rounds.map(f));
  const sum = (f: (r: DesignRun) => number): number => rounds.reduce((a, r) => a + f(r), 0);
  return {
    rate: m(rate),
    cycleRate: m(cycleRate),
    redisCpu: m((r) => (r.redis ? perDelivery(r, r.redisCpuUs) : NaN)),
    // Streaming's cycle includes the wait for the once-a-second position write: no busy figure.
    redisBusy: m((r) => (r.cycleMs > 0 && r.redis && r.design !== 'C-stream' ? (r.redisCpuUs / 1000 / r.cycleMs) * 100 : NaN)),
    sharedShare: m((r) => (r.delivered > 0 ? (r.shared / r.delivered) * 100 : NaN)),
    commands: m((r) => (r.redis ? perDelivery(r, r.redisCommands) : NaN)),
    scripts: m((r) => (r.redis ? perDelivery(r, r.redisScripts) : NaN)),
    nodeCpu: m((r) => perDelivery(r, r.nodeCpuUs)),
    memPerMessage: m((r) => r.memPerMessage),
    memKept: m((r) => r.memKeptPerMessage),
    memPerSession: m((r) => r.memPerSession),
    lost: sum((r) => r.lost),
    duplicates: sum((r) => r.duplicates),
    outOfOrder: sum((r) => r.outOfOrder),
    errors: sum((r) => r.errors),
  };
}

const VARIANT_LABEL: Record<Variant, string> = { plain: 'all on /bench/fan', overlap: '+10 % also on /bench/*' };

/** One table per size: a row per variant and design. */
export function designTable(runs: DesignRun[], sessions: number): Table {
  const rows: string[][] = [];
  for (const variant of ['plain', 'overlap'] as Variant[]) {
    const of = (d: Design): DesignRun[] => runs.filter((r) => r.sessions === sessions && r.variant === variant && r.design === d);
    const mem = of('memory').length ? figures(of('memory')) : null;
    for (const d of DESIGNS) {
      const rs = of(d);
      if (rs.length === 0) continue;
      const f = figures(rs);
      rows.push([
        `${LABEL[d]}, ${VARIANT_LABEL[variant]}`,
        fmt(f.rate, 0),
        mem && d !== 'memory' ? '×' + fmt(f.rate / mem.rate, 2) : d === 'memory' ? '×1.00' : 'n/a',
        fmt(f.cycleRate, 0),
        fmt(f.redisCpu, 2),
        fmt(f.redisBusy, 0),
        fmt(f.commands, 2),
        fmt(f.scripts, 3),
        fmt(f.nodeCpu, 2),
        d === 'C' || d === 'C-stream' ? fmt(f.sharedShare, 0) : '',
        fmt(f.memPerMessage, 0),
        fmt(f.memKept > -0.5 && f.memKept < 0 ? 0 : f.memKept, 0), // not "-0"
        fmt(f.memPerSession, 0),
        `${f.lost} / ${f.duplicates} / ${f.outOfOrder}${f.errors ? ` (${f.errors} errors)` : ''}`,
      ]);
    }
  }
  return {
    head: [
      `${sessions.toLocaleString('en-US')} sessions, ${runs.find((r) => r.sessions === sessions)?.perBurst ?? '?'} publishes per burst`,
      'deliveries/s',
      '÷ in-memory',
      'deliveries/s, whole cycle',
      'Redis CPU per delivery (µs)',
      'Redis busy (% of a core)',
      'Redis commands per delivery',
      'Redis script calls per delivery',
      'Node CPU per delivery (µs)',
      'deliveries from a shared read (%)',
      'Redis memory per message left by a burst, before the takes (B)',
      'Redis memory per message kept after the takes (B)',
      'Redis memory per held session (B)',
      'lost / duplicated / out of order',
    ],
    rows,
  };
}

/** Per size: the steady phase (one publish at a time), a row per variant and design. */
export function steadyTable(runs: DesignRun[], sessions: number): Table {
  const rows: string[][] = [];
  const per = (w: Window, v: number): number => (w.delivered > 0 ? v / w.delivered : NaN);
  for (const variant of ['plain', 'overlap'] as Variant[]) {
    const of = (d: Design): DesignRun[] => runs.filter((r) => r.sessions === sessions && r.variant === variant && r.design === d);
    const memRate = median(of('memory').map((r) => r.steady.delivered / (r.steady.wallMs / 1000)));
    for (const d of DESIGNS) {
      const rs = of(d);
      if (rs.length === 0) continue;
      const m = (f: (r: DesignRun) => number): number => median(rs.map(f));
      const rateOf = m((r) => (r.steady.wallMs > 0 ? r.steady.delivered / (r.steady.wallMs / 1000) : NaN));
      rows.push([
        `${LABEL[d]}, ${VARIANT_LABEL[variant]}`,
        fmt(rateOf, 0),
        d === 'memory' ? '×1.00' : Number.isFinite(memRate) ? '×' + fmt(rateOf / memRate, 2) : 'n/a',
        d === 'memory' ? 'n/a' : fmt(m((r) => per(r.steady, r.steady.redisCpuUs)), 2),
        d === 'memory' ? 'n/a' : fmt(m((r) => per(r.steady, r.steady.redisCommands)), 2),
        d === 'memory' ? 'n/a' : fmt(m((r) => per(r.steady, r.steady.redisScripts)), 3),
        fmt(m((r) => per(r.steady, r.steady.nodeCpuUs)), 2),
        fmt(m((r) => (r.steady.redisCpuUs + r.steady.nodeCpuUs) / Math.max(1, r.steady.delivered)), 2),
      ]);
    }
  }
  return {
    head: [
      `${sessions.toLocaleString('en-US')} sessions, ${STEADY_PUBLISHES} publishes one at a time`,
      'deliveries/s',
      '÷ in-memory',
      'Redis CPU per delivery (µs)',
      'Redis commands per delivery',
      'Redis script calls per delivery',
      'Node CPU per delivery (µs)',
      'Redis + Node CPU per delivery (µs)',
    ],
    rows,
  };
}

function settings(cfg: BenchConfig, sizes: number[]): string {
  return [
    `one Node process drives S sessions through each design (no HTTP, no generator); a fresh redis-server ${redisVersion()} per run (no persistence, loopback, started by the bench)`,
    `sizes ${sizes.map((s) => `${s.toLocaleString('en-US')} (${Math.max(1, Math.round(cfg.burstDeliveries / s))} publishes per burst)`).join(', ')}; ${cfg.bursts} timed bursts after two untimed ones (a warm-up, and one weighed before its takes), ${GAP_MS} ms apart; each burst published in one synchronous loop`,
    'plain: every session subscribed to /bench/fan; overlap: every tenth also to /bench/* (each message must still arrive once)',
    `maxQueue ${MAX_QUEUE.toLocaleString('en-US')} (per session queue in A, per log in B and C); engine options at their defaults but A's commandTimeoutMs, 30 s (a take whose reply times out loses its mail; see Known issues); ${cfg.rounds} round(s)${cfg.rounds > 1 ? ', medians; lost, duplicated and out of order summed' : ''}`,
    'deliveries/s: from the first publish to the last delivery; whole cycle: until every session holds again (not for streaming, whose sessions never stop holding); CPU, commands and script calls: over each burst and its connect cycle until every session holds again (C streaming: until the positions are written, once a second); Redis figures from INFO (commands: commandstats calls, scripts’ own included); Node CPU: process.cpuUsage of the one process (drivers, ioredis, checks)',
    'memory (MEMORY USAGE summed over every key, so allocation sizes: a burst of a few KB can round by one allocator size class): growth over the weighed burst with the takes held back, per message published; kept: growth from after the warm-up burst to the end of the run, per message published since; per session: growth over the setup (sessions subscribed and holding)',
    'deliveries from a shared read: the share of deliveries C hands out from its process read; the rest came with a connect’s own read in Redis (a long-polling session that reconnects after a burst has started reads what it missed itself)',
  ]
    .map((l) => '- ' + l)
    .join('\n');
}

const RESULTS = path.join(ROOT, '.bench-out', 'results', 'redis-designs.json');

/** `npm run bench -- redis-designs`. Returns the number of runs that failed or lost messages. */
export async function redisDesigns(cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<number> {
  const designs = cfg.designs && cfg.designs !== 'none' ? cfg.designs.split(',').map((d) => d.trim()) : [...DESIGNS];
  for (const d of designs) if (!(DESIGNS as readonly string[]).includes(d)) throw new Error(`redis-designs: unknown design ${d} (${DESIGNS.join(', ')})`);
  if (cfg.designs === 'none') return rebuild(cfg, log);
  const started = new Date();
  const cpu = MachineCpu.start();
  const runs: DesignRun[] = [];
  let failures = 0;
  for (let round = 0; round < cfg.rounds; round++) {
    for (const sessions of cfg.fanSizes) {
      for (const variant of ['plain', 'overlap'] as Variant[]) {
        for (const d of designs as Design[]) {
          const t0 = Date.now();
          try {
            const r = await runDesign(d, sessions, variant, cfg, log);
            runs.push(r);
            const bad = r.lost + r.duplicates + r.outOfOrder + r.errors;
            if (bad > 0) failures++;
            log(
              `  ${d} ${sessions} ${variant}: ${fmt(rate(r), 0)} deliveries/s, Redis ${fmt(perDelivery(r, r.redisCpuUs), 2)} µs and ` +
                `${fmt(perDelivery(r, r.redisCommands), 2)} commands per delivery, Node ${fmt(perDelivery(r, r.nodeCpuUs), 2)} µs, shared ${r.shared}, ` +
                `lost ${r.lost}, dup ${r.duplicates}, order ${r.outOfOrder}, dropped ${r.dropped}, errors ${r.errors} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
            );
          } catch (err) {
            failures++;
            log(`  FAILED ${d} ${sessions} ${variant}: ${(err as Error)?.stack ?? String(err)}`);
          }
        }
      }
    }
  }
  const split: CpuSplit | null = cpu.finish();
  const saved: Saved = { date: started.toISOString(), rounds: cfg.rounds, sizes: cfg.fanSizes, bursts: cfg.bursts, burstDeliveries: cfg.burstDeliveries, runs, cpu: split };
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, JSON.stringify(saved, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
  report(saved, cfg, log);
  return failures;
}

/** What a run saves (.bench-out/results/redis-designs.json), so `--designs none` can rebuild the tables. */
interface Saved {
  date: string;
  rounds: number;
  sizes: number[];
  bursts: number;
  burstDeliveries: number;
  runs: DesignRun[];
  cpu: CpuSplit | null;
}

/** `--designs none`: the tables of the last run, rebuilt (and written) without running anything. */
function rebuild(cfg: BenchConfig, log: Log): number {
  if (!fs.existsSync(RESULTS)) throw new Error(`redis-designs: no saved results (${path.relative(ROOT, RESULTS)})`);
  const saved = JSON.parse(fs.readFileSync(RESULTS, 'utf8'), (_k, v: unknown) => (v === null ? NaN : v)) as Saved;
  log(`redis-designs: results of ${saved.date.slice(0, 16).replace('T', ' ')} UTC (not rerun)`);
  // Runs saved before the steady phase existed.
  for (const r of saved.runs) r.steady ??= { delivered: 0, wallMs: 0, redisCpuUs: 0, redisCommands: 0, redisScripts: 0, nodeCpuUs: 0 };
  report(saved, { ...cfg, rounds: saved.rounds, fanSizes: saved.sizes, bursts: saved.bursts, burstDeliveries: saved.burstDeliveries }, log);
  return 0;
}

function report(saved: Saved, cfg: BenchConfig, log: Log): void {
  const { runs, cpu: split } = saved;
  const started = new Date(saved.date);
  const tables = cfg.fanSizes.map((s) => designTable(runs, s));
  const steady = cfg.fanSizes.map((s) => steadyTable(runs, s));
  for (const t of [...tables, ...steady]) process.stdout.write(`\n${textTable(t)}\n`);
  process.stdout.write(JSON.stringify({ redisDesigns: runs }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
  if (cfg.doc) {
    const block = [
      `_Written by \`npm run bench -- redis-designs\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC._`,
      '',
      `Machine: ${machine()}; Redis shares them too.`,
      '',
      'Settings:',
      '',
      settings(cfg, cfg.fanSizes),
      '',
      '#### Bursts',
      '',
      ...tables.flatMap((t) => [markdownTable(t), '']),
      `#### Steady: one publish at a time (${STEADY_PUBLISHES} per run, after the bursts)`,
      '',
      'Each publish is delivered to every session, and every session holds again (streaming: its read is done), before the next: nothing is batched across publishes, so each delivery costs one connect cycle, as in a steady fan-out at a low rate.',
      '',
      ...steady.flatMap((t) => [markdownTable(t), '']),
      cpuNote(split),
    ].join('\n');
    const file = path.resolve(ROOT, cfg.doc);
    writeBetweenMarkers(file, block, 'redis-designs');
    log(`tables written to ${path.relative(ROOT, file)}`);
  }
}
