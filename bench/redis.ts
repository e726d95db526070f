/**
 * `npm run bench -- redis`: bayeux-server on the Redis engine (`bayeux-redis`, and
 * `bayeux-redis-logs` with `fanout: 'logs'`) against itself on the in-memory engine and
 * against its Redis peer, Faye on faye-redis, one process each.
 *
 * - fan-out and publish (the scenarios of `compare`), the four targets alternating round
 *   by round (each Redis target on a fresh redis-server per run), medians, ratios of each
 *   Redis engine ÷ in-memory and ÷ faye-redis; the Redis side measured from Redis (`INFO`: CPU,
 *   script calls, commands) for every Redis target, since Redis shares the cores. The
 *   issue-14 targets for the burst fan-out are checked on the medians. faye-redis loses
 *   messages; a fan-out run reports them lost and goes on.
 * - Redis round trips per publish (bayeux-server only: the count names our engine's scripts
 *   and needs two processes), counted by Redis itself (MONITOR, outside any timed window),
 *   at several subscriber counts: every command a client sent, scripts named
 *   after the engine's scripts, for app-code publishes and for a client publishing over
 *   the wire; and the commands run inside the publish script.
 *
 * Results go to stdout, to .bench-out/results/redis-*.json, and into docs/performance.md
 * between the `bench:redis` markers.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import { ROOT, sleep, startTarget, startWorkers, type WorkerProc } from './harness.js';
import { fmt, machine, markdownTable, medians, textTable, writeBetweenMarkers, type Runs, type Table } from './report.js';
import { runScenario, type ScenarioOutcome } from './run-scenario.js';
import { Generator, PATH, withRig, type Log, type MetricRow, type Metrics, type Scenario } from './scenarios/common.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { publishScenario } from './scenarios/publish.js';
import { cpuNote, MachineCpu, type CpuSplit } from './machine-cpu.js';
import type { MonitorCounts } from './redis-server.js';
import type { TargetName } from './shared/protocol.js';

const RESULTS_DIR = path.join(ROOT, '.bench-out', 'results');
const MEM: TargetName = 'bayeux';
const RED: TargetName = 'bayeux-redis';
/** The Redis engine with `fanout: 'logs'` (issue 14). */
const LOGS: TargetName = 'bayeux-redis-logs';
/** The peer on Redis: Faye 1.4.3 on faye-redis 0.2.0. */
const PEER: TargetName = 'faye-redis';
/** What fan-out and publish run, alternating round by round. */
const ENGINE_TARGETS: TargetName[] = [MEM, RED, LOGS, PEER];
const COLUMN: Partial<Record<TargetName, string>> = {
  [MEM]: 'in-memory engine',
  [RED]: 'Redis engine',
  [LOGS]: 'Redis engine, logs',
  [PEER]: 'Faye on faye-redis',
};
/** Our Redis targets, as the verdicts and (short) the ratio columns name them. */
const OURS: [TargetName, string, string][] = [
  [RED, 'Redis engine', 'Redis'],
  [LOGS, 'Redis engine (logs)', 'Redis logs'],
];
/** Issue 14: burst fan-out deliveries/s of the Redis engine, at least this × the in-memory engine's… */
const MIN_VS_MEMORY = 0.5;
/** …and at least this × Faye on faye-redis's. */
const MIN_VS_PEER = 3;

/** Extra rows for the Redis engine (keys the scenarios record only with Redis, and totals). */
function extraRows(scenario: Scenario, cfg: BenchConfig): MetricRow[] {
  const r = (key: string, label: string, unit: string, digits: number): MetricRow => ({ key, label, unit, digits, lowerIsBetter: true });
  if (scenario.name === 'fanout') {
    return cfg.fanSizes.flatMap((s) => [
      r(`lostShare@${s}`, `${s} subs: deliveries lost, share of those due`, '%', 1),
      r(`steadyRedisCpuPerDelivery@${s}`, `steady, ${s} subs: Redis CPU per delivery`, 'µs', 2),
      r(`steadyTotalCpuPerDelivery@${s}`, `steady, ${s} subs: server + Redis CPU per delivery`, 'µs', 2),
      r(`steadyScriptsPerDelivery@${s}`, `steady, ${s} subs: Redis script calls per delivery`, '', 2),
      r(`burstRedisCpuPerDelivery@${s}`, `burst, ${s} subs: Redis CPU per delivery`, 'µs', 2),
      r(`burstTotalCpuPerDelivery@${s}`, `burst, ${s} subs: server + Redis CPU per delivery`, 'µs', 2),
      r(`burstRedisCpu@${s}`, `burst, ${s} subs: Redis CPU`, '%', 0),
      r(`burstScriptsPerDelivery@${s}`, `burst, ${s} subs: Redis script calls per delivery`, '', 3),
      r(`burstRedisCommandsPerPublish@${s}`, `burst, ${s} subs: Redis commands run per publish (scripts' own included)`, '', 0),
    ]);
  }
  const label = `${cfg.publishers} publishers × ${cfg.subsPerChannel} subs`;
  return [
    r('redisCpuPerPublish', `${label}: Redis CPU per publish`, 'µs', 1),
    r('totalCpuPerPublish', `${label}: server + Redis CPU per publish`, 'µs', 1),
    r('redisCpu', `${label}: Redis CPU`, '%', 0),
    r('scriptsPerPublish', `${label}: Redis script calls per publish (publish and its 3 deliveries)`, '', 2),
    r('redisCommandsPerPublish', `${label}: Redis commands run per publish (scripts' own included)`, '', 1),
  ];
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return '×' + (a / b).toFixed(2);
}

/**
 * Rows: metrics; columns: in-memory, Redis engine (queues, logs), faye-redis (those that
 * ran), then each Redis engine ÷ in-memory and ÷ faye-redis.
 */
export function engineTable(scenario: Scenario, cfg: BenchConfig, med: Map<TargetName, Metrics>): Table {
  const cols = ENGINE_TARGETS.filter((t) => med.has(t));
  const over = [MEM, PEER].filter((t) => med.has(t));
  const pairs = OURS.filter(([t]) => med.has(t)).flatMap(([t, , short]) => over.map((o) => ({ t, o, head: `${short} ÷ ${o === MEM ? 'in-memory' : 'faye-redis'}` })));
  const rows = [...scenario.rows(cfg), ...extraRows(scenario, cfg)].map((r) => {
    const label = r.unit && r.unit !== '×' ? `${r.label} (${r.unit})` : r.label;
    return [label, ...cols.map((t) => fmt(med.get(t)?.[r.key], r.digits)), ...pairs.map((p) => ratio(med.get(p.t)?.[r.key], med.get(p.o)?.[r.key]))];
  });
  return { head: ['metric', ...cols.map((t) => COLUMN[t] ?? t), ...pairs.map((p) => p.head)], rows };
}

/**
 * The issue-14 targets for the burst fan-out, per size measured (the issue names 1,000 and
 * 10,000): deliveries/s against the in-memory engine and against faye-redis, nothing
 * lost on the Redis engine, and Redis CPU per delivery of both Redis targets, reported.
 */
export function verdicts(cfg: BenchConfig, med: Map<TargetName, Metrics>): Table {
  const get = (t: TargetName, key: string): number => med.get(t)?.[key] ?? NaN;
  const q = (a: number, b: number): number => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
  const status = (x: number, ok: boolean): string => (Number.isFinite(x) ? (ok ? 'met' : 'NOT met') : 'not measured');
  const rate = (v: number): string => `${fmt(v, 0)}/s`;
  // The queues engine always (not measured when it did not run); the logs engine when it ran.
  const ours = OURS.filter(([t]) => t === RED || med.has(t));
  const rows = cfg.fanSizes.flatMap((s) => {
    const key = `burstDeliveriesPerSec@${s}`;
    const peerLost = get(PEER, `lostShare@${s}`);
    const cpu = [...ours.map(([t]) => t), PEER].map((t) => get(t, `burstRedisCpuPerDelivery@${s}`));
    const cpuNames = [...ours.map(([, name]) => name), 'faye-redis'];
    return [
      ...ours.flatMap(([t, name]) => {
        const red = get(t, key);
        const vsMem = q(red, get(MEM, key));
        const vsPeer = q(red, get(PEER, key));
        const lost = get(t, `lost@${s}`);
        return [
          [`burst, ${s} subs: deliveries/s, ${name} ÷ in-memory`, `≥ ×${MIN_VS_MEMORY.toFixed(2)}`, `×${fmt(vsMem, 2)} (${rate(red)} vs ${rate(get(MEM, key))})`, status(vsMem, vsMem >= MIN_VS_MEMORY)],
          [
            `burst, ${s} subs: deliveries/s, ${name} ÷ faye-redis`,
            `≥ ×${MIN_VS_PEER.toFixed(2)}`,
            `×${fmt(vsPeer, 2)} (${rate(red)} vs ${rate(get(PEER, key))}; faye-redis lost ${fmt(peerLost, 1)} % of its deliveries)`,
            status(vsPeer, vsPeer >= MIN_VS_PEER),
          ],
          [`${s} subs: deliveries lost, ${name}`, '0', fmt(lost, 0), status(lost, lost === 0)],
        ];
      }),
      [
        `burst, ${s} subs: Redis CPU per delivery`,
        'reported',
        cpu.map((c, i) => `${cpuNames[i]} ${fmt(c, 2)} µs`).join(', '),
        cpu.every((c) => Number.isFinite(c)) ? 'reported' : 'not measured',
      ],
    ];
  });
  return { head: ['figure', 'issue-14 target', 'measured (medians)', 'status'], rows };
}

/** What one side of a round-trip count saw. */
export interface CountedRun {
  publishes: number;
  deliveries: number;
  seconds: number;
  /** Round trips from the publishing process's connection, by script or command. */
  publisher: Record<string, number>;
  /** Round trips from the subscribers' process's connection. */
  subscribers: Record<string, number>;
  /** Commands run inside scripts, as `script → command`. */
  insideScripts: Record<string, number>;
}

/** Round trips counted at one subscriber count. */
export interface RoundTrips {
  subscribers: number;
  app: CountedRun;
  wire: CountedRun;
}

const RT_CHANNEL = '/bench/rt';

/**
 * Counts the commands Redis receives from two bayeux-server processes on one Redis: the
 * subscribers hold their connects on process A, the publishing is done on process B, so
 * Redis itself tells the publish's round trips (B's connection) from the deliveries' (A's).
 * First `rtPublishes` app-code publishes in B (one at a time: each delivered everywhere and
 * every subscriber holding again before the next), then one client publishing over HTTP
 * to B for `rtDuration`.
 */
export async function countRoundTrips(cfg: BenchConfig, s: number, log: Log): Promise<RoundTrips> {
  return withRig(RED, cfg, {}, `roundtrips-${s}`, async (rig) => {
    const { gen } = rig;
    const redis = rig.redis!;
    const b = await startTarget(RED, {
      timeout: cfg.timeout,
      maxInterval: cfg.maxInterval,
      path: PATH,
      redisUrl: redis.url,
      ...(cfg.redisCommandTimeout > 0 ? { redisCommandTimeout: cfg.redisCommandTimeout } : {}),
    });
    let pubWorkers: WorkerProc[] = [];
    try {
      pubWorkers = await startWorkers(1, b.port, cfg.addrs, PATH);
      const pubGen = new Generator(pubWorkers);
      const spawned = await gen.spawn(s, { subscribePrefix: RT_CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
      if (spawned.failed > 0) throw new Error(`${spawned.failed} of ${s} subscribers failed to set up`);
      const pub = await pubGen.spawn(1, { subscribePrefix: null, subscribeModulo: 0, publishPrefix: RT_CHANNEL, publishModulo: 0, concurrency: 1 }, cfg.settleTimeout);
      if (pub.established !== 1) throw new Error('the publisher failed to set up');
      if ((await gen.waitHolding(s, cfg.settleTimeout)) < s) throw new Error('not every subscriber holds a connect');
      // One publish first, so every script the count sees is loaded (no EVAL fallback in it).
      await b.publish(RT_CHANNEL, 1, -1, 'rtwarm');
      await gen.waitDeliveries('rtwarm', s, cfg.drainTimeout, 5);
      await gen.waitHolding(s, 10_000);
      await sleep(500);
      await gen.snapshot(true);
      const sideOf = (c: MonitorCounts, pid: number): Record<string, number> => {
        const side = { ...(c.byConnection[`bench-${pid}`] ?? {}) };
        delete side.bxSweep; // background, once a second per process
        return side;
      };
      const counted = (c: MonitorCounts, publishes: number, deliveries: number, seconds: number): CountedRun => ({
        publishes,
        deliveries,
        seconds,
        publisher: sideOf(c, b.pid),
        subscribers: sideOf(c, rig.target.pid),
        insideScripts: c.insideScripts,
      });

      // App-code publishes in B, one at a time.
      let mon = await redis.monitor();
      let t0 = Date.now();
      let delivered = 0;
      for (let k = 0; k < cfg.rtPublishes; k++) {
        const tag = `rt${k}`;
        await b.publish(RT_CHANNEL, 1, -1, tag);
        const snap = await gen.waitDeliveries(tag, s, cfg.drainTimeout, 5);
        delivered += snap.tags.get(tag)?.count ?? 0;
        await gen.waitHolding(s, 10_000);
      }
      const app = counted(await mon.stop(), cfg.rtPublishes, delivered, (Date.now() - t0) / 1000);

      // One client publishing over HTTP to B (closed loop: next publish on the acknowledgement).
      await gen.snapshot(true);
      mon = await redis.monitor();
      t0 = Date.now();
      const loop = await pubWorkers[0]!.publishLoop(cfg.rtDuration, 'rtw');
      const snap = await gen.waitDeliveries('rtw', loop.acks * s, cfg.drainTimeout, 5);
      await gen.waitHolding(s, 10_000);
      const wire = counted(await mon.stop(), loop.acks, snap.tags.get('rtw')?.count ?? 0, (Date.now() - t0) / 1000);

      const lost = app.publishes * s - app.deliveries + (wire.publishes * s - wire.deliveries);
      if (lost !== 0) throw new Error(`round-trip count at ${s} subscribers: ${lost} deliveries missing`);
      log(
        `    round trips at ${s} subscribers: app publish: ${JSON.stringify(per(app.publisher, app.publishes))} per publish, ` +
          `${JSON.stringify(per(app.subscribers, app.deliveries))} per delivery; wire publish (${wire.publishes}): ` +
          `${JSON.stringify(per(wire.publisher, wire.publishes))} per publish, ${JSON.stringify(per(wire.subscribers, wire.deliveries))} per delivery`,
      );
      return { subscribers: s, app, wire };
    } finally {
      await Promise.all(pubWorkers.map((w) => w.stop(5000)));
      await b.stop();
    }
  });
}

function per(counts: Record<string, number>, n: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Math.round((v / Math.max(1, n)) * 100) / 100]));
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

export function roundTripTable(rts: RoundTrips[]): Table {
  const cols = rts.flatMap((r) => [
    { label: `app publish, ${r.subscribers} subs`, run: r.app },
    { label: `wire publish, ${r.subscribers} subs`, run: r.wire },
  ]);
  const pubNames = [...new Set(cols.flatMap((c) => Object.keys(c.run.publisher)))].sort();
  const subNames = [...new Set(cols.flatMap((c) => Object.keys(c.run.subscribers)))].sort();
  const perPub = (c: (typeof cols)[number], n: number): string => fmt(n / Math.max(1, c.run.publishes), 2);
  const perDel = (c: (typeof cols)[number], n: number): string => fmt(n / Math.max(1, c.run.deliveries), 2);
  const inside = (c: (typeof cols)[number], script: string): number =>
    Object.entries(c.run.insideScripts)
      .filter(([k]) => k.startsWith(script + ' → '))
      .reduce((a, [, v]) => a + v, 0);
  const rows: string[][] = [
    ['publishes counted', ...cols.map((c) => String(c.run.publishes))],
    ...pubNames.map((n) => [`publishing process: ${n}, per publish`, ...cols.map((c) => perPub(c, c.run.publisher[n] ?? 0))]),
    ['**publishing process: round trips per publish**', ...cols.map((c) => '**' + perPub(c, total(c.run.publisher)) + '**')],
    ...subNames.map((n) => [`subscribers’ process: ${n}, per delivery`, ...cols.map((c) => perDel(c, c.run.subscribers[n] ?? 0))]),
    ['subscribers’ process: round trips per delivery', ...cols.map((c) => perDel(c, total(c.run.subscribers)))],
    ['commands run inside bxPublish, per publish', ...cols.map((c) => perPub(c, inside(c, 'bxPublish')))],
    ['pub/sub notices sent by bxPublish, per publish', ...cols.map((c) => perPub(c, c.run.insideScripts['bxPublish → publish'] ?? 0))],
  ];
  return { head: ['Redis round trips (MONITOR)', ...cols.map((c) => c.label)], rows };
}

interface Saved {
  date: string;
  runs?: Record<string, Metrics[]>;
  failures?: string[];
  roundTrips?: RoundTrips[];
  cpu?: CpuSplit | null;
}

function save(name: string, body: Saved): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, `redis-${name}.json`), JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
}

function load(name: string): Saved | null {
  const file = path.join(RESULTS_DIR, `redis-${name}.json`);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Saved) : null;
}

function toRuns(saved: Record<string, (Record<string, number | null> | Metrics)[]>): Runs {
  const runs: Runs = new Map();
  for (const [t, rounds] of Object.entries(saved)) {
    runs.set(t as TargetName, rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v ?? NaN]))));
  }
  return runs;
}

function settings(cfg: BenchConfig, redisVersion: string): string {
  return [
    `rounds ${cfg.rounds} (medians; the targets alternate), ${cfg.workers} generator processes, ${cfg.addrs} source addresses, hold timeout ${cfg.timeout / 1000} s`,
    `one server process per target; bayeux-server's Redis engine (\`fanout: 'queues'\`, 0.1.0's mode, and \`fanout: 'logs'\`, the default since 2026-12-08) and Faye 1.4.3's faye-redis 0.2.0 (on redis@3.1.2) each on redis-server ${redisVersion} (no persistence, started by the bench on a loopback port, a fresh one per run), engine options at their defaults`,
    `fan-out sizes ${cfg.fanSizes.join(', ')}; steady ${cfg.steadyCount} messages at ${cfg.steadyRate}/s; ${cfg.bursts} bursts of ~${cfg.burstDeliveries.toLocaleString('en-US')} deliveries, each published in one synchronous loop`,
    `publish: ${cfg.publishers} publishers × ${cfg.subsPerChannel} subscribers for ${cfg.pubDuration / 1000} s`,
    `fan-out and publish: a wait for deliveries ends after ${cfg.drainTimeout / 1000} s, or after ${cfg.drainStall / 1000} s without one; what is missing then is counted lost`,
    `round trips (bayeux-server only): ${cfg.rtPublishes} app publishes one at a time, then one client publishing over the wire for ${cfg.rtDuration / 1000} s, at ${cfg.rtSizes.join(' and ')} subscribers`,
  ]
    .map((l) => '- ' + l)
    .join('\n');
}

/** The version of the redis-server on PATH (the one the bench starts). */
export function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `npm run bench -- redis`. Returns the number of failed runs. */
export async function redisCompare(cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<number> {
  const c: BenchConfig = { ...cfg, targets: ENGINE_TARGETS };
  const all = ['fanout', 'publish', 'roundtrips'];
  const wanted = c.scenarios === 'none' ? [] : c.scenarios ? c.scenarios.split(',').map((s) => s.trim()) : all;
  for (const w of wanted) if (!all.includes(w)) throw new Error(`redis: unknown part ${w} (${all.join(', ')})`);
  const started = new Date();
  let failures = 0;
  const outcomes: { scenario: Scenario; med: Map<TargetName, Metrics>; rounds: number; date: string; failures: string[]; cpu: CpuSplit | null }[] = [];
  for (const scenario of [fanoutScenario, publishScenario]) {
    if (wanted.includes(scenario.name)) {
      log(`== ${scenario.title}: in-memory vs Redis engine (queues, logs) vs faye-redis`);
      const date = new Date().toISOString();
      const o: ScenarioOutcome = await runScenario(scenario, c, log);
      failures += o.failures.length;
      save(scenario.name, { date, runs: Object.fromEntries(o.runs), failures: o.failures, cpu: o.cpu });
      outcomes.push({ scenario, med: o.medians, rounds: c.rounds, date, failures: o.failures, cpu: o.cpu });
    } else {
      const saved = load(scenario.name);
      if (!saved?.runs) continue;
      log(`== ${scenario.title}: results of ${saved.date.slice(0, 16).replace('T', ' ')} UTC (not rerun)`);
      const runs = toRuns(saved.runs);
      outcomes.push({
        scenario,
        med: medians(runs),
        rounds: Math.max(...[...runs.values()].map((r) => r.length)),
        date: saved.date,
        failures: saved.failures ?? [],
        cpu: saved.cpu ?? null,
      });
    }
  }
  let rts: RoundTrips[] = [];
  let rtDate = '';
  let rtCpu: CpuSplit | null = null;
  if (wanted.includes('roundtrips')) {
    log('== Redis round trips per publish');
    rtDate = new Date().toISOString();
    const cpu = MachineCpu.start();
    for (const s of c.rtSizes) {
      try {
        rts.push(await countRoundTrips(c, s, log));
      } catch (err) {
        failures++;
        log(`    FAILED round trips at ${s}: ${(err as Error)?.stack ?? String(err)}`);
      }
    }
    rtCpu = cpu.finish();
    save('roundtrips', { date: rtDate, roundTrips: rts, cpu: rtCpu });
  } else {
    const saved = load('roundtrips');
    if (saved?.roundTrips) {
      rts = saved.roundTrips;
      rtDate = saved.date;
      rtCpu = saved.cpu ?? null;
    }
  }

  const tables = outcomes.map((o) => ({ o, table: engineTable(o.scenario, c, o.med) }));
  for (const { o, table } of tables) process.stdout.write(`\n${o.scenario.title}, medians of ${o.rounds} round(s):\n${textTable(table)}\n`);
  const fan = outcomes.find((o) => o.scenario.name === 'fanout');
  const verdictTable = fan ? verdicts(c, fan.med) : null;
  if (verdictTable) process.stdout.write(`\nIssue-14 targets (burst fan-out):\n${textTable(verdictTable)}\n`);
  const rtTable = rts.length ? roundTripTable(rts) : null;
  if (rtTable) process.stdout.write(`\nRedis round trips per publish:\n${textTable(rtTable)}\n`);
  process.stdout.write(
    JSON.stringify({ redis: Object.fromEntries(outcomes.map((o) => [o.scenario.name, Object.fromEntries(o.med)])), roundTrips: rts }, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? null : v,
    ) + '\n',
  );

  if (c.doc) {
    const block = [
      `_Written by \`npm run bench -- redis\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC` +
        (wanted.length < all.length ? '; parts not rerun keep the tables of their last run (dates below)._' : '._'),
      '',
      `Machine: ${machine()}; Redis shares them too.`,
      '',
      'Settings:',
      '',
      settings(c, redisVersion()),
      '',
      ...(verdictTable
        ? [
            '#### Where the Redis engine stands against the issue-14 targets',
            '',
            `Burst fan-out, medians of ${fan!.rounds} round(s), run ${fan!.date.slice(0, 16).replace('T', ' ')} UTC; the issue names 1,000 and 10,000 subscribers.`,
            '',
            markdownTable(verdictTable, false),
            '',
          ]
        : []),
      ...tables.flatMap(({ o, table }) => [
        `#### ${o.scenario.title} (\`${o.scenario.name}\`), in-memory vs Redis engine (queues, logs) vs faye-redis`,
        '',
        `Medians of ${o.rounds} round(s), run ${o.date.slice(0, 16).replace('T', ' ')} UTC.` +
          (o.med.has(PEER)
            ? ' “Faye on faye-redis” is Faye 1.4.3 with the faye-redis 0.2.0 engine; it runs no scripts (its rows show 0), and deliveries it loses are counted, not waited for.'
            : ''),
        '',
        cpuNote(o.cpu),
        '',
        markdownTable(table),
        '',
        ...(o.failures.length ? ['Failed runs:', '', ...o.failures.map((f) => '- `' + f.split('\n')[0] + '`'), ''] : []),
      ]),
      ...(rtTable
        ? [
            '#### Redis round trips per publish',
            '',
            `Counted by Redis (MONITOR, outside the timed runs), run ${rtDate.slice(0, 16).replace('T', ' ')} UTC, for bayeux-server’s Redis engine only (faye-redis is not counted). Each command a client sent is one round trip;` +
              ' scripts are named after the engine’s scripts. “App publish”: `bayeux.publish()` in the server process; “wire publish”: one client' +
              ' publishing over HTTP (closed loop). The subscribers’ connect cycle (take the mail, answer the held connect, hold the next one) is per delivery, not per publish.',
            '',
            markdownTable(rtTable),
            '',
            cpuNote(rtCpu),
            '',
          ]
        : []),
    ].join('\n');
    const file = path.resolve(ROOT, c.doc);
    writeBetweenMarkers(file, block, 'redis');
    log(`tables written to ${path.relative(ROOT, file)}`);
  }
  return failures;
}
