/**
 * Turning runs into tables: medians over rounds, ratios of bayeux-server to each other
 * target, the issue-3 goals with where we stand, and the block written into
 * docs/performance.md between markers (so a rerun replaces it).
 */
import fs from 'node:fs';
import os from 'node:os';
import type { BenchConfig } from './config.js';
import { PIN_NOTE } from './pin.js';
import type { MetricRow, Metrics, Scenario } from './scenarios/common.js';
import type { TargetName } from './shared/protocol.js';

export const BEGIN_MARK = '<!-- bench:results:begin -->';
export const END_MARK = '<!-- bench:results:end -->';

/** All rounds of one scenario: target → one Metrics per round. */
export type Runs = Map<TargetName, Metrics[]>;

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function medians(runs: Runs): Map<TargetName, Metrics> {
  const out = new Map<TargetName, Metrics>();
  for (const [target, rounds] of runs) {
    const keys = new Set(rounds.flatMap((r) => Object.keys(r)));
    const m: Metrics = {};
    for (const k of keys) m[k] = median(rounds.map((r) => r[k] ?? NaN));
    out.set(target, m);
  }
  return out;
}

export function fmt(v: number | undefined, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const abs = Math.abs(v);
  if (digits === 0 && abs >= 10_000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return '×' + (a / b).toFixed(2);
}

const TARGET_LABEL: Record<TargetName, string> = {
  bayeux: 'bayeux-server',
  faye: 'Faye 1.4.3',
  cometd: 'cometd-nodejs-server 1.2.1',
  limit: 'bare node:http (limit)',
  'bayeux-redis': 'bayeux-server, Redis engine',
  'bayeux-redis-logs': "bayeux-server, Redis engine, fanout 'logs'",
  'faye-redis': 'Faye 1.4.3 on faye-redis 0.2.0',
  'bare-ws': 'bare ws (limit)',
  'bayeux-metrics': 'bayeux-server, metrics on and off',
};

export interface Table {
  head: string[];
  rows: string[][];
}

/** Rows: metrics; columns: targets (medians), then bayeux ÷ each other target. */
export function scenarioTable(scenario: Scenario, cfg: BenchConfig, med: Map<TargetName, Metrics>): Table {
  const targets = [...med.keys()];
  const others = med.has('bayeux') ? targets.filter((t) => t !== 'bayeux') : [];
  const head = ['metric', ...targets.map((t) => TARGET_LABEL[t]), ...others.map((t) => `bayeux ÷ ${t}`)];
  const rows = scenario.rows(cfg).map((r: MetricRow) => {
    const label = r.unit && r.unit !== '×' ? `${r.label} (${r.unit})` : r.label;
    return [
      label,
      ...targets.map((t) => fmt(med.get(t)?.[r.key], r.digits)),
      ...others.map((t) => ratio(med.get('bayeux')?.[r.key], med.get(t)?.[r.key])),
    ];
  });
  return { head, rows };
}

export function textTable(t: Table): string {
  const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(t.head), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function markdownTable(t: Table, numeric = true): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    '| ' + t.head.map(esc).join(' | ') + ' |',
    '| ' + t.head.map((_, i) => (i === 0 || !numeric ? '---' : '---:')).join(' | ') + ' |',
    ...t.rows.map((r) => '| ' + r.map(esc).join(' | ') + ' |'),
  ].join('\n');
}

/** The size closest to `want` among those measured. */
function pick(sizes: readonly number[], want: number): number | undefined {
  if (sizes.length === 0) return undefined;
  return [...sizes].sort((a, b) => Math.abs(a - want) - Math.abs(b - want))[0];
}

interface GoalRow {
  figure: string;
  goal: string;
  measured: string;
  met: string;
}

/** The issue-3 targets, evaluated on the medians. */
export function goals(cfg: BenchConfig, all: Map<string, Map<TargetName, Metrics>>): GoalRow[] {
  const get = (scenario: string, target: TargetName, key: string): number | undefined => all.get(scenario)?.get(target)?.[key];
  const rows: GoalRow[] = [];
  const verdict = (ok: boolean | null): string => (ok === null ? 'not measured' : ok ? 'met' : 'NOT met');
  const r = (a: number | undefined, b: number | undefined): number | undefined =>
    a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : undefined;
  const both = (x: number | undefined): boolean => x !== undefined && Number.isFinite(x);

  const idleN = pick(cfg.idleSizes, 10_000);
  if (idleN !== undefined) {
    const b = get('idle', 'bayeux', `heapPerSession@${idleN}`);
    const l = get('idle', 'limit', `heapPerSession@${idleN}`);
    const x = r(b, l);
    rows.push({
      figure: `heap per idle held session (${idleN} sessions)`,
      goal: '≤ 1.15 × bare',
      measured: `${fmt(b, 0)} B vs ${fmt(l, 0)} B bare (×${fmt(x, 2)})`,
      met: verdict(both(x) ? x! <= 1.15 : null),
    });
  }
  const hbN = pick(cfg.hbSizes, 10_000);
  if (hbN !== undefined) {
    const x = r(get('idle', 'bayeux', `cpuPerRoundTrip@${hbN}`), get('idle', 'limit', `cpuPerRoundTrip@${hbN}`));
    const each = cfg.hbSizes.map((n) => {
      const b = get('idle', 'bayeux', `cpuPerRoundTrip@${n}`);
      const l = get('idle', 'limit', `cpuPerRoundTrip@${n}`);
      return `${n}: ${fmt(b, 1)} µs vs ${fmt(l, 1)} µs bare (×${fmt(r(b, l), 2)})`;
    });
    rows.push({
      figure: `server CPU per held-connect round trip (status at ${hbN} sessions)`,
      goal: '≤ 1.3 × bare',
      measured: each.join('; '),
      met: verdict(both(x) ? x! <= 1.3 : null),
    });
  }
  const burstN = pick(cfg.fanSizes, 1000);
  if (burstN !== undefined) {
    const b = get('fanout', 'bayeux', `burstCpuPerDelivery@${burstN}`);
    const l = get('fanout', 'limit', `burstCpuPerDelivery@${burstN}`);
    const f = get('fanout', 'faye', `burstCpuPerDelivery@${burstN}`);
    const x = r(b, l);
    const fx = r(f, b);
    rows.push({
      figure: `server CPU per delivery, burst fan-out to ${burstN}`,
      goal: '≤ 1.5 × bare and ≥ 4 × better than Faye',
      measured: `${fmt(b, 2)} µs vs ${fmt(l, 2)} µs bare (×${fmt(x, 2)}), Faye ${fmt(f, 2)} µs (${fmt(fx, 1)} × ours)`,
      met: verdict(both(x) && both(fx) ? x! <= 1.5 && fx! >= 4 : both(x) ? x! <= 1.5 : null),
    });
    const bd = get('fanout', 'bayeux', `burstDeliveriesPerSec@${burstN}`);
    const fd = get('fanout', 'faye', `burstDeliveriesPerSec@${burstN}`);
    const dx = r(bd, fd);
    rows.push({
      figure: `deliveries/s, burst fan-out to ${burstN}`,
      goal: '≥ 3 × Faye',
      measured: `${fmt(bd, 0)}/s vs Faye ${fmt(fd, 0)}/s (×${fmt(dx, 2)}), bare ${fmt(get('fanout', 'limit', `burstDeliveriesPerSec@${burstN}`), 0)}/s`,
      met: verdict(both(dx) ? dx! >= 3 : null),
    });
  }
  const steadyN = pick(cfg.fanSizes, 10_000);
  if (steadyN !== undefined) {
    const b = get('fanout', 'bayeux', `steadyP99@${steadyN}`);
    const l = get('fanout', 'limit', `steadyP99@${steadyN}`);
    const x = r(b, l);
    rows.push({
      figure: `p99 latency, steady fan-out to ${steadyN} at ${cfg.steadyRate} msg/s`,
      goal: '≤ 1.2 × bare',
      measured: `${fmt(b, 0)} ms vs ${fmt(l, 0)} ms bare (×${fmt(x, 2)})`,
      met: verdict(both(x) ? x! <= 1.2 : null),
    });
  }
  const maxN = cfg.idleSizes.length ? Math.max(...cfg.idleSizes) : undefined;
  if (maxN !== undefined) {
    const held = get('idle', 'bayeux', `held@${maxN}`);
    const heap = get('idle', 'bayeux', `heapPerSession@${maxN}`);
    rows.push({
      figure: 'idle sessions held in one process',
      goal: `up to the descriptor cap (${maxN} asked), within the heap target`,
      measured: `${fmt(held, 0)} held, ${fmt(heap, 0)} B heap each`,
      met: verdict(both(held) ? held! >= maxN * 0.999 : null),
    });
  }
  const hr = get('churn', 'bayeux', 'heapRatio');
  rows.push({
    figure: 'heap after churn and sweep',
    goal: 'within 10 % of baseline',
    measured: `×${fmt(hr, 3)} of baseline`,
    met: verdict(both(hr) ? hr! <= 1.1 : null),
  });
  const lost = ['fanout', 'publish']
    .map((s) => Object.entries(all.get(s)?.get('bayeux') ?? {}).filter(([k]) => k.startsWith('lost')).reduce((a, [, v]) => a + v, 0))
    .reduce((a, b) => a + b, 0);
  rows.push({ figure: 'messages lost (fan-out and publish)', goal: '0', measured: String(lost), met: verdict(all.has('fanout') || all.has('publish') ? lost === 0 : null) });
  return rows;
}

export function goalsMarkdown(rows: GoalRow[]): string {
  return markdownTable({ head: ['figure', 'issue-3 target', 'measured (medians)', 'status'], rows: rows.map((g) => [g.figure, g.goal, g.measured, g.met]) }, false);
}

/** `pin`: the run's `--pin` (`cfg.pin`), so pinned figures are never read as shared-core ones. */
export function machine(pin = false): string {
  const cpus = os.cpus();
  return (
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ` +
    `${os.type()} ${os.release()}, Node ${process.version}; ${pin ? PIN_NOTE : 'generator and server share the cores'}`
  );
}

/** For a settings line: `; server pinned to CPU 0, generator to CPU 1 (--pin)` when pinned, else nothing. */
export function pinSetting(cfg: BenchConfig): string {
  return cfg.pin ? `; ${PIN_NOTE} (\`--pin\`)` : '';
}

/**
 * For a section's "Medians of …" line: once any section of a block was run with `--pin`,
 * each says whether it was, since sections not rerun keep the tables of an earlier run.
 */
export function pinSection(pinned: boolean, anyPinned: boolean): string {
  if (!anyPinned) return '';
  return pinned ? ` Server pinned to CPU 0, generator to CPU 1 (\`--pin\`).` : ' Generator and server shared the cores (no `--pin`).';
}

export function configSummary(cfg: BenchConfig): string {
  return [
    `rounds ${cfg.rounds} (medians; targets alternate A B C D A B C D …), ${cfg.workers} generator processes, ${cfg.addrs} source addresses${pinSetting(cfg)}`,
    `hold timeout ${cfg.timeout / 1000} s for all targets; heartbeat timeout ${cfg.hbTimeout / 1000} s, window ${cfg.hbWindow / 1000} s`,
    `idle sizes ${cfg.idleSizes.join(', ')}; heartbeat sizes ${cfg.hbSizes.join(', ')}`,
    `fan-out sizes ${cfg.fanSizes.join(', ')}; steady ${cfg.steadyCount} messages at ${cfg.steadyRate}/s; ${cfg.bursts} bursts of ~${cfg.burstDeliveries.toLocaleString('en-US')} deliveries, ${cfg.burstMode === 'tick' ? 'each burst published in one synchronous loop' : 'one publish per event-loop turn'}`,
    `publish: ${cfg.publishers} publishers × ${cfg.subsPerChannel} subscribers for ${cfg.pubDuration / 1000} s`,
    `churn: ${cfg.churnDuration / 1000} s, ${cfg.churnConcurrency} at once, ${Math.round(cfg.vanish * 100)} % vanish, timeout ${cfg.churnTimeout / 1000} s, session lifetime ${cfg.churnMaxInterval / 1000} s`,
  ]
    .map((l) => '- ' + l)
    .join('\n');
}

/** The markers of a named block: `results` (compare), `redis`, `scale100k`. */
export function markers(name: string): { begin: string; end: string } {
  return name === 'results' ? { begin: BEGIN_MARK, end: END_MARK } : { begin: `<!-- bench:${name}:begin -->`, end: `<!-- bench:${name}:end -->` };
}

/** Replaces the text between the markers of `file` (adding them at the end if absent). */
export function writeBetweenMarkers(file: string, block: string, name = 'results'): void {
  const { begin, end } = markers(name);
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Performance\n\n';
  const b = text.indexOf(begin);
  const e = text.indexOf(end);
  const inner = `${begin}\n${block.trim()}\n${end}`;
  const next = b >= 0 && e > b ? text.slice(0, b) + inner + text.slice(e + end.length) : text.trimEnd() + '\n\n' + inner + '\n';
  fs.writeFileSync(file, next);
}
