/**
 * `npm run bench -- websocket`: bayeux-server over WebSocket against Faye over WebSocket,
 * a bare `ws` server (the ceiling) and bayeux-server over long-polling, in one run, the
 * variants alternating round by round (A B C D A B C D …) within each scenario (idle,
 * fanout; see bench/scenarios/websocket.ts). Medians, the ratios bayeux ÷ bare-ws,
 * bayeux ÷ faye and bayeux over WebSocket ÷ over long-polling, and the issue-12 targets.
 *
 * Results go to stdout, to .bench-out/results/websocket-*.json, and into
 * docs/performance.md between the `bench:websocket` markers.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import { killAllChildren, ROOT } from './harness.js';
import { cpuNote, MachineCpu, type CpuSplit } from './machine-cpu.js';
import { fmt, machine, markdownTable, median, pinSection, pinSetting, textTable, writeBetweenMarkers, type Table } from './report.js';
import type { Log, Metrics } from './scenarios/common.js';
import { WS_SCENARIOS, WS_VARIANTS, wsVariants, type WsScenario, type WsVariant } from './scenarios/websocket.js';

const RESULTS_DIR = path.join(ROOT, '.bench-out', 'results');

/** All rounds of one scenario: variant → one Metrics per round. */
export type WsRuns = Map<WsVariant, Metrics[]>;

export function wsMedians(runs: WsRuns): Map<WsVariant, Metrics> {
  const out = new Map<WsVariant, Metrics>();
  for (const [variant, rounds] of runs) {
    const m: Metrics = {};
    for (const k of new Set(rounds.flatMap((r) => Object.keys(r)))) m[k] = median(rounds.map((r) => r[k] ?? NaN));
    out.set(variant, m);
  }
  return out;
}

export interface WsOutcome {
  scenario: WsScenario;
  runs: WsRuns;
  medians: Map<WsVariant, Metrics>;
  failures: string[];
  cpu: CpuSplit | null;
  date: string;
  /** Run with `--pin`. */
  pinned: boolean;
}

/** Runs one scenario `rounds` times over every variant, alternating. */
export async function runWsScenario(scenario: WsScenario, cfg: BenchConfig, log: Log): Promise<WsOutcome> {
  const variants = wsVariants(cfg);
  const runs: WsRuns = new Map(variants.map((v) => [v, [] as Metrics[]]));
  const failures: string[] = [];
  const date = new Date().toISOString();
  const cpu = MachineCpu.start();
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const v of variants) {
      log(`  websocket ${scenario.name} round ${round}/${cfg.rounds}: ${v}`);
      try {
        runs.get(v)!.push(await scenario.run(v, cfg, log));
      } catch (err) {
        const msg = `${v} round ${round}: ${(err as Error)?.stack ?? String(err)}`;
        failures.push(msg);
        log(`    FAILED ${msg}`);
        killAllChildren();
      }
    }
  }
  return { scenario, runs, medians: wsMedians(runs), failures, cpu: cpu.finish(), date, pinned: cfg.pin };
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : undefined;
}

/** The ratio columns, for the variants present: bayeux ÷ bare-ws, ÷ faye, ÷ bayeux over long-polling. */
const RATIOS: { other: WsVariant; head: string }[] = [
  { other: 'bare-ws', head: 'bayeux ÷ bare-ws' },
  { other: 'faye', head: 'bayeux ÷ faye' },
  { other: 'bayeux-lp', head: 'bayeux WebSocket ÷ long-polling' },
];

/** Rows: metrics; columns: variants (medians), then the ratios. */
export function wsTable(scenario: WsScenario, cfg: BenchConfig, med: Map<WsVariant, Metrics>): Table {
  const variants = [...med.keys()];
  const ratios = med.has('bayeux') ? RATIOS.filter((r) => med.has(r.other)) : [];
  const head = ['metric', ...variants.map((v) => WS_VARIANTS[v].label), ...ratios.map((r) => r.head)];
  const rows = scenario.rows(cfg).map((r) => {
    const label = r.unit ? `${r.label} (${r.unit})` : r.label;
    return [
      label,
      ...variants.map((v) => fmt(med.get(v)?.[r.key], r.digits)),
      ...ratios.map((x) => {
        const q = ratio(med.get('bayeux')?.[r.key], med.get(x.other)?.[r.key]);
        return q === undefined ? 'n/a' : '×' + q.toFixed(2);
      }),
    ];
  });
  return { head, rows };
}

export interface WsGoal {
  figure: string;
  goal: string;
  measured: string;
  met: string;
}

/** The size closest to `want` among those measured. */
function pick(sizes: readonly number[], want: number): number | undefined {
  return sizes.length === 0 ? undefined : [...sizes].sort((a, b) => Math.abs(a - want) - Math.abs(b - want))[0];
}

/** The issue-12 targets, evaluated on the medians. */
export function wsGoals(cfg: BenchConfig, all: Map<string, Map<WsVariant, Metrics>>): WsGoal[] {
  const get = (scenario: string, v: WsVariant, key: string): number | undefined => all.get(scenario)?.get(v)?.[key];
  const ok = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
  const verdict = (v: boolean | null): string => (v === null ? 'not measured' : v ? 'met' : 'NOT met');
  const rows: WsGoal[] = [];

  const idleN = pick(cfg.wsIdleSizes, 10_000);
  if (idleN !== undefined) {
    const b = get('idle', 'bayeux', `heapPerSession@${idleN}`);
    const l = get('idle', 'bare-ws', `heapPerSession@${idleN}`);
    const x = ratio(b, l);
    rows.push({
      figure: `heap per idle WebSocket session (${idleN} sessions)`,
      goal: '≤ 1.3 × bare ws',
      measured: `${fmt(b, 0)} B vs ${fmt(l, 0)} B bare (×${fmt(x, 2)}); long-polling ${fmt(get('idle', 'bayeux-lp', `heapPerSession@${idleN}`), 0)} B`,
      met: verdict(ok(x) ? x <= 1.3 : null),
    });
  }
  for (const s of [...new Set([pick(cfg.wsFanSizes, 1000), pick(cfg.wsFanSizes, 10_000)])]) {
    if (s === undefined) continue;
    const key = `burstCpuPerDelivery@${s}`;
    const b = get('fanout', 'bayeux', key);
    const l = get('fanout', 'bare-ws', key);
    const f = get('fanout', 'faye', key);
    const x = ratio(b, l);
    const fx = ratio(b, f);
    rows.push({
      figure: `server CPU per delivery, burst fan-out to ${s}`,
      goal: '≤ 1.0 × bare ws and ≤ ⅓ of Faye',
      measured:
        `${fmt(b, 2)} µs vs ${fmt(l, 2)} µs bare (×${fmt(x, 2)}), Faye ${fmt(f, 2)} µs (×${fmt(fx, 2)} of Faye's); ` +
        `long-polling ${fmt(get('fanout', 'bayeux-lp', key), 2)} µs`,
      met: verdict(ok(x) || ok(fx) ? (!ok(x) || x <= 1.0) && (!ok(fx) || fx <= 1 / 3) : null),
    });
  }
  const steadyN = pick(cfg.wsFanSizes, 10_000);
  if (steadyN !== undefined) {
    const b = get('fanout', 'bayeux', `steadyP99@${steadyN}`);
    rows.push({
      figure: `p99 latency, steady fan-out to ${steadyN} at ${cfg.steadyRate} msg/s`,
      goal: '≤ 250 ms',
      measured:
        `${fmt(b, 0)} ms (p50 ${fmt(get('fanout', 'bayeux', `steadyP50@${steadyN}`), 0)} ms); bare ${fmt(get('fanout', 'bare-ws', `steadyP99@${steadyN}`), 0)} ms, ` +
        `Faye ${fmt(get('fanout', 'faye', `steadyP99@${steadyN}`), 0)} ms, long-polling ${fmt(get('fanout', 'bayeux-lp', `steadyP99@${steadyN}`), 0)} ms`,
      met: verdict(ok(b) ? b <= 250 : null),
    });
  }
  const maxN = cfg.wsIdleSizes.length ? Math.max(...cfg.wsIdleSizes) : undefined;
  if (maxN !== undefined) {
    const sessions = get('idle', 'bayeux', `sessions@${maxN}`);
    const held = get('idle', 'bayeux', `held@${maxN}`);
    const heap = get('idle', 'bayeux', `heapPerSession@${maxN}`);
    rows.push({
      figure: 'WebSocket sessions in one process',
      goal: `19,000 (${maxN.toLocaleString('en-US')} asked)`,
      measured: `${fmt(sessions, 0)} sessions, ${fmt(held, 0)} connects held, ${fmt(heap, 0)} B heap each`,
      met: verdict(ok(sessions) && ok(held) ? maxN >= 19_000 && sessions >= maxN && held >= maxN : null),
    });
  }
  const fan = all.get('fanout')?.get('bayeux');
  const lost = fan ? Object.entries(fan).filter(([k]) => k.startsWith('lost@')).reduce((a, [, v]) => a + v, 0) : undefined;
  rows.push({ figure: 'messages lost (WebSocket fan-out)', goal: '0', measured: fmt(lost, 0), met: verdict(ok(lost) ? lost === 0 : null) });
  return rows;
}

function settings(cfg: BenchConfig): string {
  return [
    `rounds ${cfg.rounds} (medians; the variants alternate round by round), ${cfg.workers} generator processes, ${cfg.addrs} source addresses, hold timeout ${cfg.timeout / 1000} s${pinSetting(cfg)}`,
    `variants: ${wsVariants(cfg).map((v) => `${v} (${WS_VARIANTS[v].label})`).join(', ')}`,
    `WebSocket clients: one socket each, \`ws\` on both sides except Faye's server (faye-websocket); no compression`,
    `idle sizes ${cfg.wsIdleSizes.join(', ')}; fan-out sizes ${cfg.wsFanSizes.join(', ')}; steady ${cfg.steadyCount} messages at ${cfg.steadyRate}/s; ` +
      `${cfg.bursts} bursts of ~${cfg.burstDeliveries.toLocaleString('en-US')} deliveries, ${cfg.burstMode === 'tick' ? 'each published in one synchronous loop' : 'one publish per event-loop turn'}`,
  ]
    .map((l) => '- ' + l)
    .join('\n');
}

interface Saved {
  date: string;
  runs: Record<string, (Record<string, number | null>)[]>;
  failures: string[];
  cpu: CpuSplit | null;
  /** Absent in results saved before `--pin` existed (unpinned). */
  pinned?: boolean;
}

function save(o: WsOutcome): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const body: Saved = { date: o.date, runs: Object.fromEntries(o.runs), failures: o.failures, cpu: o.cpu, pinned: o.pinned };
  fs.writeFileSync(
    path.join(RESULTS_DIR, `websocket-${o.scenario.name}.json`),
    JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)),
  );
}

function load(scenario: WsScenario): WsOutcome | null {
  const file = path.join(RESULTS_DIR, `websocket-${scenario.name}.json`);
  if (!fs.existsSync(file)) return null;
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
  const runs: WsRuns = new Map();
  for (const [v, rounds] of Object.entries(saved.runs)) {
    runs.set(v as WsVariant, rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, x]) => [k, x ?? NaN]))));
  }
  return { scenario, runs, medians: wsMedians(runs), failures: saved.failures, cpu: saved.cpu, date: saved.date, pinned: saved.pinned ?? false };
}

/** `npm run bench -- websocket`. Returns the number of failed runs. */
export async function websocketCompare(cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<number> {
  wsVariants(cfg); // unknown names fail before anything starts
  const names = WS_SCENARIOS.map((s) => s.name);
  const wanted = cfg.scenarios === 'none' ? [] : cfg.scenarios ? cfg.scenarios.split(',').map((s) => s.trim()) : names;
  for (const w of wanted) if (!names.includes(w)) throw new Error(`websocket: unknown part ${w} (${names.join(', ')})`);
  const started = new Date();
  const outcomes: WsOutcome[] = [];
  let failures = 0;
  for (const scenario of WS_SCENARIOS) {
    if (wanted.includes(scenario.name)) {
      log(`== ${scenario.title}`);
      const o = await runWsScenario(scenario, cfg, log);
      failures += o.failures.length;
      save(o);
      outcomes.push(o);
    } else {
      const o = load(scenario);
      if (!o) continue;
      log(`== ${scenario.title}: results of ${o.date.slice(0, 16).replace('T', ' ')} UTC (not rerun)`);
      outcomes.push(o);
    }
  }
  const rounds = (o: WsOutcome): number => Math.max(0, ...[...o.runs.values()].map((r) => r.length));
  const tables = outcomes.map((o) => ({ o, table: wsTable(o.scenario, cfg, o.medians) }));
  for (const { o, table } of tables) process.stdout.write(`\n${o.scenario.title} (${o.scenario.name}), medians of ${rounds(o)} round(s):\n${textTable(table)}\n`);
  const goals = wsGoals(cfg, new Map(outcomes.map((o) => [o.scenario.name, o.medians])));
  const goalTable: Table = { head: ['figure', 'issue-12 target', 'measured (medians)', 'status'], rows: goals.map((g) => [g.figure, g.goal, g.measured, g.met]) };
  process.stdout.write('\nIssue-12 targets:\n' + textTable(goalTable) + '\n');
  process.stdout.write(
    JSON.stringify(
      {
        websocket: Object.fromEntries(outcomes.map((o) => [o.scenario.name, { medians: Object.fromEntries(o.medians), runs: Object.fromEntries(o.runs), failures: o.failures }])),
      },
      (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
    ) + '\n',
  );
  if (cfg.doc) {
    const block = [
      `_Written by \`npm run bench -- websocket\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC` +
        (wanted.length < names.length ? '; parts not rerun keep the tables of their last run (dates below)._' : '._'),
      '',
      `Machine: ${machine(cfg.pin)}.`,
      '',
      'Settings:',
      '',
      settings(cfg),
      '',
      '#### Where bayeux-server over WebSocket stands against the issue-12 targets',
      '',
      markdownTable(goalTable, false),
      '',
      ...tables.flatMap(({ o, table }) => [
        `#### ${o.scenario.title} (\`websocket\`, \`${o.scenario.name}\`)`,
        '',
        `Medians of ${rounds(o)} round(s), run ${o.date.slice(0, 16).replace('T', ' ')} UTC.` + pinSection(o.pinned, outcomes.some((x) => x.pinned)),
        '',
        cpuNote(o.cpu),
        '',
        markdownTable(table),
        '',
        ...(o.failures.length ? ['Failed runs:', '', ...o.failures.map((f) => '- `' + f.split('\n')[0] + '`'), ''] : []),
      ]),
    ].join('\n');
    const file = path.resolve(ROOT, cfg.doc);
    writeBetweenMarkers(file, block, 'websocket');
    log(`tables written to ${path.relative(ROOT, file)}`);
  }
  return failures;
}
