/**
 * `npm run bench -- scale100k`: many idle long-poll sessions on one machine, held by
 * several bayeux-server processes on one Redis.
 *
 * One redis-server, `scaleProcs` bayeux-server processes on the Redis engine, and
 * `scaleWorkers` generator processes; every process stays under the 20,000-descriptor
 * cap. Each generator connection goes to one server process (round-robin over them), and
 * a client keeps its connection, so its session stays on one process: sticky, as a
 * balancer with affinity would do (the Redis engine does not need it; idle sessions do not
 * care). Phases, each bounded in time, the whole run bounded by `scaleDeadline`:
 *
 * 1. warm-up (a few complete session lives per process), baseline after forced GC;
 * 2. ramp: `scaleSessions` sessions handshake, subscribe to one channel and hold
 *    /meta/connect;
 * 3. memory after forced GC, per process: held connects, heap and RSS per session, open
 *    descriptors; Redis used_memory per session;
 * 4. heartbeat: CPU per process over `scaleWindow` divided by the connect round trips it
 *    answered (hold timeout `scaleTimeout`);
 * 5. one publish from app code in the first process; time until every session has it,
 *    messages lost.
 *
 * Every process started is stopped by its PID at the end, whatever happened.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import { killAllChildren, ROOT, sleep, startTarget, startWorkers, type TargetProc, type WorkerProc } from './harness.js';
import { cpuNote, machineBusySince, machineMark, MachineCpu, type CpuSplit } from './machine-cpu.js';
import { BenchRedis, type RedisInfo } from './redis-server.js';
import { fmt, machine, markdownTable, textTable, writeBetweenMarkers, type Table } from './report.js';
import { cpuOf, Generator, PATH, percent, type Log } from './scenarios/common.js';
import { redisVersion } from './redis.js';
import type { ClientTransport, TargetStats } from './shared/protocol.js';

const CHANNEL = '/bench/scale';

/** The target of `--scale-fanout`: the Redis engine in logs mode (its default) or queues mode. */
function scaleTarget(cfg: BenchConfig): 'bayeux-redis' | 'bayeux-redis-logs' {
  if (cfg.scaleFanout === 'queues') return 'bayeux-redis';
  if (cfg.scaleFanout === 'logs') return 'bayeux-redis-logs';
  throw new Error(`--scale-fanout: queues or logs, not ${cfg.scaleFanout}`);
}

/** The clients' transport of `--scale-transport`. */
function scaleTransport(cfg: BenchConfig): ClientTransport {
  if (cfg.scaleTransport === 'long-polling' || cfg.scaleTransport === 'websocket') return cfg.scaleTransport;
  throw new Error(`--scale-transport: long-polling or websocket, not ${cfg.scaleTransport}`);
}

export interface ProcResult {
  pid: number;
  held: number;
  heapPerSession: number;
  rssPerSession: number;
  heapMB: number;
  rssMB: number;
  fds: number;
  hbCpu: number;
  hbRoundTrips: number;
  hbCpuPerRoundTrip: number;
  deliverCpu: number;
}

export interface ScaleResult {
  date: string;
  /** Machine CPU over the whole run, split into this bench's own and other work. */
  machineCpu: CpuSplit | null;
  procs: number;
  workers: number;
  asked: number;
  established: number;
  failed: number;
  held: number;
  clusterSessions: number;
  rampSeconds: number;
  redisMemoryPerSession: number;
  redisMemoryMB: number;
  redisFds: number;
  workerFdsMax: number;
  perProc: ProcResult[];
  hbWindowSeconds: number;
  hbRoundTripsPerSec: number;
  hbServerCpu: number;
  hbRedisCpu: number;
  hbGenCpu: number;
  /** Machine busy CPU in the heartbeat window not used by servers, Redis or generators (% of one core). */
  hbOtherCpu: number;
  hbServerCpuPerRoundTrip: number;
  hbRedisCpuPerRoundTrip: number;
  reached: number;
  lost: number;
  reachAllMs: number;
  latencyP50: number;
  latencyP99: number;
  deliverServerCpuMs: number;
  deliverRedisCpuMs: number;
  errors: number;
  rehandshakes: number;
  firstError: string | null;
  timeout: number;
  commandTimeout: number;
  /** The engine's fan-out mode (`--scale-fanout`); absent in results saved before it existed. */
  fanout?: string;
  /** The clients' transport (`--scale-transport`); absent (long-polling) in results saved before it existed. */
  transport?: string;
}

/** The engine options a run set away from their defaults, as the settings line says them. */
function engineExceptions(r: ScaleResult): string {
  const set = [r.commandTimeout !== 2000 ? `commandTimeoutMs ${r.commandTimeout}` : '', r.fanout === 'logs' ? "fanout 'logs'" : ''].filter((x) => x);
  return set.length > 0 ? ` except ${set.join(' and ')}` : '';
}

function fdCount(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** Runs `fn` with a bound: the phase's own and what is left of the run's. */
async function phase<T>(label: string, ms: number, deadline: number, log: Log, fn: () => Promise<T>): Promise<T> {
  const bound = Math.max(1, Math.min(ms, deadline - Date.now()));
  log(`  ${label} (bound ${(bound / 1000).toFixed(0)} s)`);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: not done within ${(bound / 1000).toFixed(0)} s`)), bound);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function scale100k(cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<ScaleResult> {
  const cpu = MachineCpu.start();
  const r = await run(cfg, log);
  // Every process the run started has been stopped and reaped by now.
  r.machineCpu = cpu.finish();
  return r;
}

async function run(cfg: BenchConfig, log: Log): Promise<ScaleResult> {
  const started = Date.now();
  const deadline = started + cfg.scaleDeadline;
  const n = cfg.scaleSessions;
  const p = cfg.scaleProcs;
  log(`scale: ${n} sessions over ${p} bayeux-server processes on one Redis, ${cfg.scaleWorkers} generator processes, ${cfg.scaleAddrs} source addresses`);
  const transport = scaleTransport(cfg);
  const perProc = Math.ceil(n / p);
  const perWorker = Math.ceil(n / cfg.scaleWorkers);
  if (perProc > 19_500 || perWorker > 19_500) throw new Error(`over the descriptor cap: ${perProc} sessions per server process, ${perWorker} per generator (keep both under 19,500)`);
  if (n > cfg.scaleAddrs * 25_000) throw new Error(`${cfg.scaleAddrs} source addresses give too few ephemeral ports for ${n} connections`);

  let redis: BenchRedis | null = null;
  let targets: TargetProc[] = [];
  let workers: WorkerProc[] = [];
  let progress: NodeJS.Timeout | undefined;
  try {
    redis = await phase('start redis-server', 20_000, deadline, log, () => BenchRedis.start());
    const url = redis.url;
    targets = await phase(`start ${p} bayeux-server processes`, 60_000, deadline, log, () =>
      Promise.all(
        Array.from({ length: p }, () =>
          startTarget(scaleTarget(cfg), {
            timeout: cfg.scaleTimeout,
            maxInterval: cfg.maxInterval,
            path: PATH,
            redisUrl: url,
            ...(cfg.redisCommandTimeout > 0 ? { redisCommandTimeout: cfg.redisCommandTimeout } : {}),
          }),
        ),
      ),
    );
    workers = await phase(`start ${cfg.scaleWorkers} generator processes`, 60_000, deadline, log, () =>
      startWorkers(
        cfg.scaleWorkers,
        targets.map((t) => t.port),
        cfg.scaleAddrs,
        PATH,
      ),
    );
    const gen = new Generator(workers);
    const allStats = (gc: boolean): Promise<TargetStats[]> => Promise.all(targets.map((t) => t.stats(gc)));

    // 1. Warm-up and baseline.
    await phase('warm-up', 120_000, deadline, log, async () => {
      const sessions = Math.max(cfg.warmSessions, p * 20);
      await gen.churn({ durationMs: 0, sessions, concurrency: Math.min(sessions, p * 8), vanish: 0, channels: 1, holdMs: 200 }, 110_000);
      for (let i = 0; i < 200; i++) {
        if ((await targets[0]!.stats(false)).sessions === 0) break;
        await sleep(250);
      }
      await sleep(500);
      await gen.snapshot(true);
    });
    const base = await phase('baseline (forced GC)', 120_000, deadline, log, () => allStats(true));
    const redisBase = await redis.info();

    // 2. Ramp.
    const t0 = Date.now();
    progress = setInterval(() => {
      gen.snapshot(false).then(
        (s) => log(`    … ${s.holding} holding, ${s.clients} clients, ${s.errors} errors after ${((Date.now() - t0) / 1000).toFixed(0)} s`),
        () => {},
      );
    }, 15_000);
    const spawned = await phase(`ramp to ${n} sessions`, cfg.scaleRampTimeout, deadline, log, async () => {
      const r = await gen.spawn(
        n,
        { transport, subscribePrefix: CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.scaleRampConcurrency },
        cfg.scaleRampTimeout,
      );
      await gen.waitHolding(r.established, Math.max(1000, deadline - Date.now()));
      return r;
    });
    clearInterval(progress);
    progress = undefined;
    const rampSeconds = (Date.now() - t0) / 1000;
    log(`    ramp: ${spawned.established} established, ${spawned.failed} failed in ${rampSeconds.toFixed(0)} s`);
    await sleep(2000);

    // 3. Memory after forced GC, descriptors.
    const after = await phase('memory (forced GC)', 300_000, deadline, log, () => allStats(true));
    const redisAfter = await redis.info();
    const fds = targets.map((t) => fdCount(t.pid));
    const workerFds = workers.map((w) => fdCount(w.pid));
    const redisFds = fdCount(redis.pid);
    // Held connects: open HTTP responses for long-polling; for WebSocket, the open sockets (each holds its connect).
    const held = after.map((a, i) => (transport === 'websocket' ? a.connections - base[i]!.connections : a.openRequests - base[i]!.openRequests));
    const totalHeld = held.reduce((a, b) => a + b, 0);
    log(`    held per process: ${held.join(', ')} (total ${totalHeld}); descriptors: servers ${fds.join(', ')}, generators ${workerFds.join(', ')}, redis ${redisFds}`);

    // 4. Heartbeat.
    const hb = await phase('heartbeat window', cfg.scaleWindow + 120_000, deadline, log, async () => {
      const s0 = await allStats(false);
      const r0 = await redis!.info();
      const g0 = await gen.snapshot(true);
      const m0 = machineMark();
      const w0 = Date.now();
      await sleep(cfg.scaleWindow);
      const s1 = await allStats(false);
      const r1 = await redis!.info();
      const g1 = await gen.snapshot(false);
      const machineUs = machineBusySince(m0) * 1e6;
      return { s0, s1, r0, r1, g0, g1, machineUs, wall: Date.now() - w0 };
    });
    const hbCpu = hb.s1.map((s, i) => cpuOf(s) - cpuOf(hb.s0[i]!));
    const hbRts = hb.s1.map((s, i) => s.requests - hb.s0[i]!.requests);
    const rts = hbRts.reduce((a, b) => a + b, 0);
    const serverCpu = hbCpu.reduce((a, b) => a + b, 0);
    const redisCpu = hb.r1.cpu - hb.r0.cpu;

    // 5. One publish to everybody.
    const deliver = await phase(`one publish to ${totalHeld} sessions`, cfg.scaleDeliverTimeout + 30_000, deadline, log, async () => {
      await gen.waitHolding(spawned.established, 30_000);
      const s0 = await allStats(false);
      const r0: RedisInfo = await redis!.info();
      await gen.snapshot(true);
      // `--profile`: a CPU profile of every server process over this phase.
      const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
      const files = cfg.profile ? targets.map((_t, i) => path.resolve(ROOT, cfg.profileDir, `scale-deliver-${i}-${stamp}.cpuprofile`)) : [];
      await Promise.all(files.map((f, i) => targets[i]!.profile('start', f)));
      const pub = await targets[0]!.publish(CHANNEL, 1, -1, 'all');
      const snap = await gen.waitDeliveries('all', spawned.established, cfg.scaleDeliverTimeout, 100);
      await Promise.all(files.map((f, i) => targets[i]!.profile('stop', f)));
      for (const f of files) log(`    cpu profile: ${path.relative(ROOT, f)}`);
      const s1 = await allStats(false);
      const r1 = await redis!.info();
      return { pub, snap, s0, s1, r0, r1 };
    });
    const t = deliver.snap.tags.get('all');
    // What Redis ran for the publish (scripts' own commands included), the most called first.
    const ran = Object.entries(deliver.r1.calls)
      .map(([name, n]) => [name, n - (deliver.r0.calls[name] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 12);
    log(`    Redis commands during the publish: ${ran.map(([name, n]) => `${name} ${n}`).join(', ')}`);
    const reached = t?.count ?? 0;
    const end = await gen.snapshot(false);

    const result: ScaleResult = {
      machineCpu: null,
      date: new Date(started).toISOString(),
      procs: p,
      workers: cfg.scaleWorkers,
      asked: n,
      established: spawned.established,
      failed: spawned.failed,
      held: totalHeld,
      clusterSessions: after[0]!.sessions,
      rampSeconds,
      redisMemoryPerSession: (redisAfter.usedMemory - redisBase.usedMemory) / Math.max(1, after[0]!.sessions),
      redisMemoryMB: redisAfter.usedMemory / 1e6,
      redisFds,
      workerFdsMax: Math.max(...workerFds),
      perProc: targets.map((tp, i) => ({
        pid: tp.pid,
        held: held[i]!,
        heapPerSession: (after[i]!.heapUsed - base[i]!.heapUsed) / Math.max(1, held[i]!),
        rssPerSession: (after[i]!.rss - base[i]!.rss) / Math.max(1, held[i]!),
        heapMB: after[i]!.heapUsed / 1e6,
        rssMB: after[i]!.rss / 1e6,
        fds: fds[i]!,
        hbCpu: percent(hbCpu[i]!, hb.wall),
        hbRoundTrips: (hbRts[i]! / hb.wall) * 1000,
        hbCpuPerRoundTrip: hbRts[i]! > 0 ? hbCpu[i]! / hbRts[i]! : NaN,
        deliverCpu: (cpuOf(deliver.s1[i]!) - cpuOf(deliver.s0[i]!)) / 1000,
      })),
      hbWindowSeconds: hb.wall / 1000,
      hbRoundTripsPerSec: (rts / hb.wall) * 1000,
      hbServerCpu: percent(serverCpu, hb.wall),
      hbRedisCpu: percent(redisCpu, hb.wall),
      hbGenCpu: percent(hb.g1.cpu - hb.g0.cpu, hb.wall),
      hbOtherCpu: percent(Math.max(0, hb.machineUs - serverCpu - redisCpu - (hb.g1.cpu - hb.g0.cpu)), hb.wall),
      hbServerCpuPerRoundTrip: rts > 0 ? serverCpu / rts : NaN,
      hbRedisCpuPerRoundTrip: rts > 0 ? redisCpu / rts : NaN,
      reached,
      lost: spawned.established - reached,
      reachAllMs: t ? t.lastAt - deliver.pub.t0 : NaN,
      latencyP50: t ? t.hist.quantile(0.5) / 1000 : NaN,
      latencyP99: t ? t.hist.quantile(0.99) / 1000 : NaN,
      deliverServerCpuMs: deliver.s1.reduce((a, s, i) => a + cpuOf(s) - cpuOf(deliver.s0[i]!), 0) / 1000,
      deliverRedisCpuMs: (deliver.r1.cpu - deliver.r0.cpu) / 1000,
      errors: end.errors + spawned.failed,
      rehandshakes: end.rehandshakes,
      firstError: end.firstError,
      timeout: cfg.scaleTimeout,
      commandTimeout: cfg.redisCommandTimeout || 2000,
      fanout: cfg.scaleFanout,
      transport: cfg.scaleTransport,
    };
    log(
      `    publish: reached ${reached} of ${spawned.established} in ${(result.reachAllMs / 1000).toFixed(2)} s (p50 ${result.latencyP50.toFixed(0)} ms, p99 ${result.latencyP99.toFixed(0)} ms), lost ${result.lost}; ` +
        `errors ${result.errors}, rehandshakes ${result.rehandshakes}` +
        (end.firstError ? ` (first error: ${end.firstError})` : ''),
    );
    return result;
  } finally {
    if (progress) clearInterval(progress);
    await Promise.all(workers.map((w) => w.stop(5000).catch(() => w.kill())));
    await Promise.all(targets.map((t) => t.stop(5000).catch(() => t.kill())));
    await redis?.stop();
    killAllChildren();
  }
}

export function scaleTables(r: ScaleResult): { summary: Table; procs: Table } {
  const summary: Table = {
    head: ['figure', 'value'],
    rows: [
      ['sessions asked / set up / failed', `${fmt(r.asked, 0)} / ${fmt(r.established, 0)} / ${fmt(r.failed, 0)}`],
      ['held /meta/connect, all processes', fmt(r.held, 0)],
      ['sessions in Redis (ZCARD)', fmt(r.clusterSessions, 0)],
      ['ramp (handshake, subscribe, hold)', `${fmt(r.rampSeconds, 0)} s (${fmt(r.established / r.rampSeconds, 0)} sessions/s)`],
      ['Redis used_memory per session', `${fmt(r.redisMemoryPerSession, 0)} B (${fmt(r.redisMemoryMB, 0)} MB in all)`],
      ['open descriptors: most in one generator process / redis-server', `${fmt(r.workerFdsMax, 0)} / ${fmt(r.redisFds, 0)}`],
      [`heartbeat (hold ${r.timeout / 1000} s): connect round trips/s, all processes`, fmt(r.hbRoundTripsPerSec, 0)],
      ['heartbeat: server CPU, all processes / Redis / generator', `${fmt(r.hbServerCpu, 0)} % / ${fmt(r.hbRedisCpu, 0)} % / ${fmt(r.hbGenCpu, 0)} %`],
      ['heartbeat: other work on the machine in the same window', `${fmt(r.hbOtherCpu, 0)} %`],
      ['heartbeat: CPU per connect round trip, server / Redis', `${fmt(r.hbServerCpuPerRoundTrip, 1)} µs / ${fmt(r.hbRedisCpuPerRoundTrip, 1)} µs`],
      ['one publish: sessions reached / lost', `${fmt(r.reached, 0)} / ${fmt(r.lost, 0)}`],
      ['one publish: time until every session has it', `${fmt(r.reachAllMs / 1000, 2)} s`],
      ['one publish: latency p50 / p99', `${fmt(r.latencyP50, 0)} ms / ${fmt(r.latencyP99, 0)} ms`],
      ['one publish: CPU spent delivering it, servers / Redis', `${fmt(r.deliverServerCpuMs, 0)} ms / ${fmt(r.deliverRedisCpuMs, 0)} ms`],
      ['client errors / re-handshakes during the run', `${fmt(r.errors, 0)} / ${fmt(r.rehandshakes, 0)}`],
    ],
  };
  const procs: Table = {
    head: ['process', 'sessions held', 'open descriptors', 'heap per session (B)', 'RSS per session (B)', 'heap (MB)', 'RSS (MB)', 'heartbeat CPU (%)', 'round trips/s', 'CPU per round trip (µs)'],
    rows: r.perProc.map((x, i) => [
      `server ${i + 1}`,
      fmt(x.held, 0),
      fmt(x.fds, 0),
      fmt(x.heapPerSession, 0),
      fmt(x.rssPerSession, 0),
      fmt(x.heapMB, 1),
      fmt(x.rssMB, 1),
      fmt(x.hbCpu, 1),
      fmt(x.hbRoundTrips, 0),
      fmt(x.hbCpuPerRoundTrip, 1),
    ]),
  };
  return { summary, procs };
}

export function printScale(r: ScaleResult): void {
  const { summary, procs } = scaleTables(r);
  process.stdout.write(`\n${textTable(summary)}\n\n${textTable(procs)}\n`);
  process.stdout.write(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
}

export function writeScaleDoc(r: ScaleResult, cfg: BenchConfig, file: string): void {
  const { summary, procs } = scaleTables(r);
  const block = [
    `_Written by \`npm run bench -- scale100k\` on ${r.date.slice(0, 16).replace('T', ' ')} UTC._`,
    '',
    `Machine: ${machine()}; Redis and ${r.procs} server processes share them too.`,
    '',
    'Settings:',
    '',
    [
      `${fmt(r.asked, 0)} sessions, each subscribed to one channel and holding /meta/connect${r.transport === 'websocket' ? ' over WebSocket' : ' (long-polling)'}; ${r.procs} bayeux-server processes on the Redis engine (redis-server ${redisVersion()}, no persistence, one instance), engine options at their defaults${engineExceptions(r)}`,
      `${r.workers} generator processes, ${cfg.scaleAddrs} loopback source addresses, ${cfg.scaleRampConcurrency} sessions set up at once per generator; each connection goes to one server process (round-robin), and a session keeps its connection, so it stays on one process`,
      `hold timeout ${r.timeout / 1000} s, session lifetime ${cfg.maxInterval / 1000} s; heartbeat window ${fmt(r.hbWindowSeconds, 0)} s; the publish is made by app code (\`bayeux.publish\`) in server 1`,
      'memory after two forced GCs, minus the baseline taken after a warm-up; every process (servers, generators, redis-server) runs under the 20,000 open-files limit',
    ]
      .map((l) => '- ' + l)
      .join('\n'),
    '',
    markdownTable(summary, false),
    '',
    'Per server process:',
    '',
    markdownTable(procs),
    '',
    ...(r.firstError ? [`First client error: \`${r.firstError.slice(0, 200)}\``, ''] : []),
    cpuNote(r.machineCpu),
  ].join('\n');
  writeBetweenMarkers(file, block, 'scale100k');
}

export function saveScale(r: ScaleResult): void {
  const dir = path.join(ROOT, '.bench-out', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'scale100k.json'), JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
}

/** The last saved run (for rebuilding the tables). */
export function loadScale(): ScaleResult {
  const file = path.join(ROOT, '.bench-out', 'results', 'scale100k.json');
  if (!fs.existsSync(file)) throw new Error('no saved scale100k results (.bench-out/results/scale100k.json)');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ScaleResult;
}
