/**
 * `npm run bench -- <scenario> [flags]`
 *
 *   idle | fanout | publish | churn   one scenario against the chosen targets
 *   compare                           all four against all four targets, alternating,
 *                                     medians and ratios, written into docs/performance.md
 *   redis                             fan-out and publish on the in-memory and the Redis
 *                                     engine and on Faye with faye-redis, alternating, and
 *                                     Redis round trips per publish
 *   redis-designs                     burst fan-out at the engine level for the Redis fan-out
 *                                     designs of issue 14 (today's queues, channel logs), tables
 *                                     into docs/scaling.md
 *   scale100k                         100,000 idle sessions over six processes on one Redis
 *   websocket                         bayeux-server over WebSocket against Faye over WebSocket,
 *                                     a bare ws server and itself over long-polling (idle, fanout)
 *   metrics                           fan-out with Prometheus metrics off and on (their CPU cost)
 *   profile-top <file.cpuprofile>…    self-time summary of CPU profiles (see --profile)
 *   heap-diff <base> <held> <n>       per-session heap by constructor (see idle --heap-snapshots)
 *
 * Flags (or BENCH_* variables) size everything; `--quick` runs small sizes in seconds.
 * `npm run bench -- --help` lists them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeFlags, parseArgs, WS_QUICK, type BenchConfig } from './config.js';
import { killAllChildren, ROOT } from './harness.js';
import { heapDiff } from './heap-diff.js';
import { profileReport } from './profile-top.js';
import { cpuNote, type CpuSplit } from './machine-cpu.js';
import {
  configSummary,
  goals,
  goalsMarkdown,
  machine,
  markdownTable,
  medians,
  pinSection,
  scenarioTable,
  textTable,
  writeBetweenMarkers,
  type Runs,
} from './report.js';
import { churnScenario } from './scenarios/churn.js';
import type { Scenario } from './scenarios/common.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { idle } from './scenarios/idle.js';
import { publishScenario } from './scenarios/publish.js';
import { redisCompare } from './redis.js';
import { redisDesigns } from './redis-designs.js';
import { runScenario, SCENARIOS, type ScenarioOutcome } from './run-scenario.js';
import { loadScale, printScale, saveScale, scale100k, writeScaleDoc } from './scale.js';
import { metricsCompare } from './metrics.js';
import { websocketCompare } from './websocket.js';
import type { TargetName } from './shared/protocol.js';

function printOutcome(o: ScenarioOutcome, cfg: BenchConfig): void {
  const t = scenarioTable(o.scenario, cfg, o.medians);
  process.stdout.write(`\n${o.scenario.title} (${o.scenario.name}), medians of ${cfg.rounds} round(s):\n${textTable(t)}\n`);
  const json = {
    scenario: o.scenario.name,
    rounds: cfg.rounds,
    medians: Object.fromEntries(o.medians),
    runs: Object.fromEntries(o.runs),
    failures: o.failures,
  };
  process.stdout.write(JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
}

const RESULTS_DIR = path.join(ROOT, '.bench-out', 'results');

interface SavedOutcome {
  date: string;
  runs: Record<string, (Record<string, number | null>)[]>;
  failures: string[];
  cpu?: CpuSplit | null;
  /** Run with `--pin` (absent: saved before the flag existed, unpinned). */
  pinned?: boolean;
}

function saveOutcome(o: ScenarioOutcome, date: Date, pinned: boolean): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const saved: SavedOutcome = { date: date.toISOString(), runs: Object.fromEntries(o.runs), failures: o.failures, cpu: o.cpu, pinned };
  fs.writeFileSync(path.join(RESULTS_DIR, `${o.scenario.name}.json`), JSON.stringify(saved, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
}

function loadOutcome(scenario: Scenario): (ScenarioOutcome & { date: string; pinned: boolean }) | null {
  const file = path.join(RESULTS_DIR, `${scenario.name}.json`);
  if (!fs.existsSync(file)) return null;
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedOutcome;
  const runs: Runs = new Map();
  for (const [target, rounds] of Object.entries(saved.runs)) {
    runs.set(
      target as TargetName,
      rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v ?? NaN]))),
    );
  }
  return { scenario, runs, medians: medians(runs), failures: saved.failures, cpu: saved.cpu ?? null, date: saved.date, pinned: saved.pinned ?? false };
}

async function compare(cfg: BenchConfig): Promise<void> {
  const order = [idle, fanoutScenario, publishScenario, churnScenario];
  // `--scenarios none` reruns nothing: the tables are rebuilt from the saved results.
  const wanted =
    cfg.scenarios === 'none' ? [] : cfg.scenarios ? cfg.scenarios.split(',').map((s) => SCENARIOS[s.trim()]?.name ?? s.trim()) : order.map((s) => s.name);
  for (const w of wanted) if (!order.some((s) => s.name === w)) throw new Error(`unknown scenario ${w}`);
  const outcomes: (ScenarioOutcome & { date: string; pinned: boolean })[] = [];
  const started = new Date();
  for (const s of order) {
    if (!wanted.includes(s.name)) {
      const cached = loadOutcome(s);
      if (cached) {
        process.stderr.write(`== ${s.title}: results of ${cached.date.slice(0, 16).replace('T', ' ')} UTC (not rerun)\n`);
        outcomes.push(cached);
      }
      continue;
    }
    process.stderr.write(`== ${s.title}\n`);
    const date = new Date();
    const o = await runScenario(s, cfg);
    saveOutcome(o, date, cfg.pin);
    outcomes.push({ ...o, date: date.toISOString(), pinned: cfg.pin });
    printOutcome(o, cfg);
  }
  const all = new Map(outcomes.map((o) => [o.scenario.name, o.medians]));
  const g = goals(cfg, all);
  process.stdout.write('\nIssue-3 targets:\n' + textTable({ head: ['figure', 'target', 'measured', 'status'], rows: g.map((r) => [r.figure, r.goal, r.measured, r.met]) }) + '\n');
  if (cfg.doc) {
    const block = [
      `_Written by \`npm run bench -- compare\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC` +
        (outcomes.length > wanted.length ? '; scenarios not rerun keep the tables of their last run (dates below)._' : '._'),
      '',
      `Machine: ${machine(cfg.pin)}.`,
      '',
      'Settings:',
      '',
      configSummary(cfg),
      '',
      '### Where bayeux-server stands against the issue-3 targets',
      '',
      goalsMarkdown(g),
      '',
      ...outcomes.flatMap((o) => [
        `### ${o.scenario.title} (\`${o.scenario.name}\`)`,
        '',
        `Medians of ${Math.max(...[...o.runs.values()].map((r) => r.length))} round(s), run ${o.date.slice(0, 16).replace('T', ' ')} UTC.` +
          pinSection(o.pinned, outcomes.some((x) => x.pinned)),
        '',
        cpuNote(o.cpu),
        '',
        markdownTable(scenarioTable(o.scenario, cfg, o.medians)),
        '',
        ...(o.failures.length ? ['Failed runs:', '', ...o.failures.map((f) => '- `' + f.split('\n')[0] + '`'), ''] : []),
      ]),
    ].join('\n');
    const file = path.resolve(ROOT, cfg.doc);
    writeBetweenMarkers(file, block);
    process.stderr.write(`tables written to ${path.relative(ROOT, file)}\n`);
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: npm run bench -- <idle|fanout|publish|churn|compare|redis|redis-designs|scale100k|websocket|metrics> [--quick] [flags]\n' +
        '       npm run bench -- profile-top <file.cpuprofile>... [--top N]\n' +
        '       npm run bench -- heap-diff <base.heapsnapshot> <held.heapsnapshot> <sessions>\n\nflags (also as BENCH_<NAME> variables):\n' +
        describeFlags() +
        '\n',
    );
    return argv.length === 0 ? 1 : 0;
  }
  if (argv[0] === 'heap-diff') {
    const [base, held, n] = argv.slice(1);
    if (!base || !held || !n) {
      process.stderr.write('usage: npm run bench -- heap-diff <base.heapsnapshot> <held.heapsnapshot> <sessions>\n');
      return 1;
    }
    process.stdout.write(heapDiff(path.resolve(base), path.resolve(held), Number(n)) + '\n');
    return 0;
  }
  if (argv[0] === 'profile-top') {
    const top = argv.indexOf('--top');
    const n = top >= 0 ? Number(argv[top + 1]) : 25;
    const files = argv.slice(1).filter((a, i, arr) => !a.startsWith('--') && arr[i - 1] !== '--top');
    for (const f of files) process.stdout.write(profileReport(path.resolve(f), n) + '\n\n');
    return 0;
  }
  const name = argv[0]!;
  if (name === 'redis-designs') {
    // Tables go to docs/scaling.md (--doc to choose another file); a quick run writes none unless --doc is given.
    const { config } = parseArgs(argv.slice(1), process.env, { rounds: 1, doc: 'docs/scaling.md' });
    if ((argv.includes('--quick') || process.env.BENCH_QUICK === '1') && !argv.some((a) => a.startsWith('--doc'))) config.doc = '';
    if (config.pin) throw new Error('--pin: redis-designs runs its sessions in this process; there is no server or generator process to pin');
    process.stderr.write(`machine: ${machine()}\n`);
    return (await redisDesigns(config)) > 0 ? 2 : 0;
  }
  if (name === 'redis' || name === 'scale100k' || name === 'websocket' || name === 'metrics') {
    const quick = argv.includes('--quick') || process.env.BENCH_QUICK === '1';
    const { config } = parseArgs(argv.slice(1), process.env, name === 'websocket' && quick ? WS_QUICK : {});
    // A quick run does not overwrite the measured tables unless --doc is given.
    if (quick && !argv.some((a) => a.startsWith('--doc'))) config.doc = '';
    // redis and scale100k start processes of their own (and Redis) that --pin does not place.
    if (config.pin && (name === 'redis' || name === 'scale100k')) throw new Error(`--pin: not supported by ${name} (websocket, metrics, compare and the single scenarios are)`);
    process.stderr.write(`machine: ${machine(config.pin)}\n`);
    if (name === 'redis') return (await redisCompare(config)) > 0 ? 2 : 0;
    if (name === 'websocket') return (await websocketCompare(config)) > 0 ? 2 : 0;
    if (name === 'metrics') return (await metricsCompare(config)) > 0 ? 2 : 0;
    // `--scenarios none`: no run, only the tables rebuilt from the last saved results.
    const r = config.scenarios === 'none' ? loadScale() : await scale100k(config);
    if (config.scenarios !== 'none') saveScale(r);
    printScale(r);
    if (config.doc) {
      const file = path.resolve(ROOT, config.doc);
      writeScaleDoc(r, config, file);
      process.stderr.write(`tables written to ${path.relative(ROOT, file)}\n`);
    }
    return r.lost === 0 && r.established === r.asked ? 0 : 2;
  }
  const single = SCENARIOS[name];
  if (!single && name !== 'compare') {
    process.stderr.write(`unknown scenario ${name}\n`);
    return 1;
  }
  // One round for a single scenario unless asked; compare keeps its default of three.
  const { config } = parseArgs(argv.slice(1), process.env, single ? { rounds: 1 } : {});
  process.stderr.write(`machine: ${machine(config.pin)}\n`);
  if (single) {
    if (name !== 'compare' && !argv.some((a) => a.startsWith('--doc'))) config.doc = '';
    const o = await runScenario(single, config);
    printOutcome(o, config);
    return o.failures.length ? 2 : 0;
  }
  await compare(config);
  return 0;
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]).replace(/\.ts$/, '') === path.join(ROOT, 'bench', 'run');
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      killAllChildren();
      process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(String((err as Error)?.stack ?? err) + '\n');
      killAllChildren();
      process.exit(1);
    },
  );
}
