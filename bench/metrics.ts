/**
 * `npm run bench -- metrics`: what Prometheus metrics cost. bayeux-server on the in-memory
 * engine with metrics off (`bayeux`) and on (`bayeux-metrics`: `createMetrics` and a scrape
 * a second), the fan-out scenario, both in every round, in an order that alternates round
 * by round; medians and the ratio on ÷ off. The target: server CPU per delivery with metrics on at most 1.05 × off.
 *
 * Results go to stdout, to .bench-out/results/metrics-fanout.json, and into
 * docs/performance.md between the `bench:metrics` markers.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import { ROOT } from './harness.js';
import { cpuNote, MachineCpu } from './machine-cpu.js';
import { fmt, machine, markdownTable, medians, pinSetting, textTable, writeBetweenMarkers, type Runs, type Table } from './report.js';
import { runScenario } from './run-scenario.js';
import type { Log, Metrics } from './scenarios/common.js';
import { fanoutScenario } from './scenarios/fanout.js';
import type { TargetName } from './shared/protocol.js';

const OFF: TargetName = 'bayeux';
const ON: TargetName = 'bayeux-metrics';
/** Metrics may cost at most this much server CPU per delivery (issue 15). */
const LIMIT = 1.05;

function ratio(on: number | undefined, off: number | undefined): number {
  return on !== undefined && off !== undefined && Number.isFinite(on) && Number.isFinite(off) && off > 0 ? on / off : NaN;
}

/** Rows: the fan-out metrics; columns: off, on, on ÷ off. */
function table(cfg: BenchConfig, med: Map<TargetName, Metrics>): Table {
  const rows = fanoutScenario.rows(cfg).map((r) => {
    const label = r.unit && r.unit !== '×' ? `${r.label} (${r.unit})` : r.label;
    const off = med.get(OFF)?.[r.key];
    const on = med.get(ON)?.[r.key];
    const q = ratio(on, off);
    return [label, fmt(off, r.digits), fmt(on, r.digits), Number.isFinite(q) ? '×' + q.toFixed(3) : 'n/a'];
  });
  return { head: ['metric', 'metrics off', 'metrics on', 'on ÷ off'], rows };
}

/** The issue-15 target per fan-out size: CPU per delivery on ÷ off, steady and burst. */
function verdicts(cfg: BenchConfig, med: Map<TargetName, Metrics>): Table {
  const rows = cfg.fanSizes.flatMap((s) =>
    (['steady', 'burst'] as const).map((kind) => {
      const key = `${kind}CpuPerDelivery@${s}`;
      const q = ratio(med.get(ON)?.[key], med.get(OFF)?.[key]);
      return [`${kind}, ${s} subs: server CPU per delivery, on ÷ off`, `≤ ×${LIMIT.toFixed(2)}`, Number.isFinite(q) ? '×' + q.toFixed(3) : 'n/a', q <= LIMIT ? 'met' : 'NOT met'];
    }),
  );
  return { head: ['figure', 'target', 'measured', 'status'], rows };
}

/** `npm run bench -- metrics`. Returns the number of failed runs. */
export async function metricsCompare(cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<number> {
  const c: BenchConfig = { ...cfg, targets: [OFF, ON] };
  const started = new Date();
  log('== fan-out: metrics off vs on');
  // The order alternates round by round (off, on, then on, off, …): on this machine the
  // second run of a round measured up to 10 % apart from the first whichever it was, so a
  // fixed order would show that as the metrics' cost (or saving).
  const runs: Runs = new Map([[OFF, []], [ON, []]]);
  const failures: string[] = [];
  const cpu = MachineCpu.start();
  for (let round = 1; round <= c.rounds; round++) {
    const order = round % 2 === 1 ? [OFF, ON] : [ON, OFF];
    const one = await runScenario(fanoutScenario, { ...c, rounds: 1, targets: order }, (l) => log(l.replace('round 1/1', `round ${round}/${c.rounds}`)));
    for (const [t, r] of one.runs) runs.get(t)!.push(...r);
    failures.push(...one.failures.map((f) => f.replace('round 1', `round ${round}`)));
  }
  const o = { runs, medians: medians(runs), failures, cpu: cpu.finish() };
  const dir = path.join(ROOT, '.bench-out', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'metrics-fanout.json'),
    JSON.stringify({ date: started.toISOString(), runs: Object.fromEntries(o.runs), failures: o.failures, cpu: o.cpu }, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? null : v,
    ),
  );
  const t = table(c, o.medians);
  const v = verdicts(c, o.medians);
  process.stdout.write(`\nfan-out, metrics off vs on, medians of ${c.rounds} round(s):\n${textTable(t)}\n\nIssue-15 target:\n${textTable(v)}\n`);
  if (c.doc) {
    const block = [
      `_Written by \`npm run bench -- metrics\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC._`,
      '',
      `Machine: ${machine(c.pin)}.`,
      '',
      `Settings: rounds ${c.rounds} (medians; which target runs first alternates round by round), ${c.workers} generator processes, ${c.addrs} source addresses, ` +
        `hold timeout ${c.timeout / 1000} s${pinSetting(c)}; fan-out sizes ${c.fanSizes.join(', ')}; steady ${c.steadyCount} messages at ${c.steadyRate}/s; ` +
        `${c.bursts} bursts of ~${c.burstDeliveries.toLocaleString('en-US')} deliveries. “Metrics on”: \`createMetrics(bayeux)\` and a scrape of the registry every second in the server process.`,
      '',
      markdownTable(v),
      '',
      cpuNote(o.cpu),
      '',
      markdownTable(t),
      '',
      ...(o.failures.length ? ['Failed runs:', '', ...o.failures.map((f) => '- `' + f.split('\n')[0] + '`'), ''] : []),
    ].join('\n');
    const file = path.resolve(ROOT, c.doc);
    writeBetweenMarkers(file, block, 'metrics');
    log(`tables written to ${path.relative(ROOT, file)}`);
  }
  return o.failures.length;
}
