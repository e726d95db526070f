/**
 * `npm run bench -- metrics`: what Prometheus metrics cost, measured inside one server
 * process. The `bayeux-metrics` target (bayeux-server on the in-memory engine) keeps the
 * same subscribers throughout while the bench turns its metrics on and off between
 * measurement windows (`createMetrics` and a scrape a second, then `close()`), so on and off
 * share the process, the heap, the connections and the machine's moment.
 *
 * Windows come in blocks of three — off, on, off again — in a random order per block, so no
 * condition owns a position or a phase of the server's periodic work. The two offs give an A/A figure
 * (off ÷ off): the bench's own noise, printed beside on ÷ off. Per transport (long-polling,
 * WebSocket), fan-out size, steady (1 msg/s) and burst windows: server CPU per delivery
 * summed per condition, the ratio on ÷ off, and the median and quartiles of the per-block
 * ratios. The target: on ÷ off at most 1.05.
 *
 * Results go to stdout, to .bench-out/results/metrics-inprocess.json, and into
 * docs/performance.md between the `bench:metrics` markers.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import { ROOT, sleep } from './harness.js';
import { cpuNote, MachineCpu } from './machine-cpu.js';
import { machine, markdownTable, median, pinSetting, textTable, writeBetweenMarkers, type Table } from './report.js';
import { cpuOf, withRig, type Generator, type Log, type Rig } from './scenarios/common.js';
import type { ClientTransport } from './shared/protocol.js';

/** Metrics may cost at most this much server CPU per delivery (issue 15). */
const LIMIT = 1.05;
const CHANNEL = '/bench/metrics';

type Condition = 'offA' | 'on' | 'offB';
const CONDITIONS: readonly Condition[] = ['offA', 'on', 'offB'];

/**
 * A block's order, drawn at random (a fixed seed, so a rerun draws the same). Not rotated:
 * the server has periodic work of its own (WebSocket pings every 25 s, held connects
 * renewed every hold timeout, all at once for sessions set up together), and a block lasts
 * about as long, so a fixed rotation would hand each wave to the same condition.
 */
function orders(seed: number): () => Condition[] {
  let state = seed >>> 0;
  const next = (): number => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const o = [...CONDITIONS];
    for (let i = o.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [o[i], o[j]] = [o[j]!, o[i]!];
    }
    return o;
  };
}

type Kind = 'steady' | 'burst';

/** One measurement window: the server's CPU (µs) over it and the deliveries it made. */
interface Window {
  block: number;
  condition: Condition;
  cpu: number;
  deliveries: number;
  expected: number;
}

/** The windows of one transport × size × kind. */
export interface Series {
  transport: ClientTransport;
  size: number;
  kind: Kind;
  windows: Window[];
}

/** What one series comes to. */
export interface Summary {
  offUs: number;
  onUs: number;
  /** on ÷ (both offs), from the sums. */
  ratio: number;
  /** offB ÷ offA, from the sums: the A/A figure. */
  aa: number;
  /** Per-block on ÷ mean(offA, offB): median and quartiles. */
  blockMedian: number;
  blockQ1: number;
  blockQ3: number;
  lost: number;
}

function perDelivery(ws: readonly Window[]): number {
  const d = ws.reduce((n, w) => n + w.deliveries, 0);
  return d > 0 ? ws.reduce((n, w) => n + w.cpu, 0) / d : NaN;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo);
}

export function summarize(s: Series): Summary {
  const of = (c: Condition): Window[] => s.windows.filter((w) => w.condition === c);
  const offA = of('offA');
  const offB = of('offB');
  const on = of('on');
  const offUs = perDelivery([...offA, ...offB]);
  const onUs = perDelivery(on);
  const blocks = [...new Set(s.windows.map((w) => w.block))];
  const perBlock = blocks
    .map((b) => {
      const inBlock = s.windows.filter((w) => w.block === b);
      const u = (c: Condition): number => perDelivery(inBlock.filter((w) => w.condition === c));
      return u('on') / ((u('offA') + u('offB')) / 2);
    })
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  return {
    offUs,
    onUs,
    ratio: onUs / offUs,
    aa: perDelivery(offB) / perDelivery(offA),
    blockMedian: median(perBlock),
    blockQ1: quantile(perBlock, 0.25),
    blockQ3: quantile(perBlock, 0.75),
    lost: s.windows.reduce((n, w) => n + w.expected - w.deliveries, 0),
  };
}

/**
 * One window: metrics set for `condition`, a forced full GC (not counted: a major GC left
 * over from earlier windows costs tens of ms, enough to swing one window by 20 %), then
 * `publish` and the wait for its deliveries.
 */
async function window(rig: Rig, condition: Condition, block: number, expected: number, publish: () => Promise<unknown>, wait: () => Promise<number>): Promise<Window> {
  await rig.target.metrics(condition === 'on');
  const c0 = cpuOf(await rig.target.stats(true));
  await publish();
  const deliveries = await wait();
  const c1 = cpuOf(await rig.target.stats(false));
  return { block, condition, cpu: c1 - c0, deliveries, expected };
}

async function delivered(gen: Generator, tag: string, expected: number, cfg: BenchConfig): Promise<number> {
  const snap = await gen.waitDeliveries(tag, expected, cfg.drainTimeout, 20, cfg.drainStall);
  return snap.tags.get(tag)?.count ?? 0;
}

/** Both kinds of window at one transport and size, in one target process. */
export async function measure(cfg: BenchConfig, transport: ClientTransport, size: number, log: Log): Promise<Series[]> {
  return withRig('bayeux-metrics', cfg, {}, `metrics-${transport}-${size}`, async (rig) => {
    const { gen } = rig;
    const spawned = await gen.spawn(size, { transport, subscribePrefix: CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
    const subs = spawned.established;
    if (subs < size) log(`    only ${subs} of ${size} subscribers set up`);
    await gen.waitHolding(subs, cfg.settleTimeout);
    await sleep(500);
    await gen.snapshot(true);
    const steady: Series = { transport, size, kind: 'steady', windows: [] };
    const burst: Series = { transport, size, kind: 'burst', windows: [] };
    const perBurst = Math.max(1, Math.round(cfg.burstDeliveries / Math.max(1, subs)));
    let n = 0;
    const order = orders(size);
    // Block -1 warms both paths (JIT, the metrics' first creation) and is not counted.
    for (let block = -1; block < cfg.metricsBlocks; block++) {
      for (const condition of order()) {
        const tag = `s${n++}`;
        const expected = cfg.metricsSteadyWindow * subs;
        steady.windows.push(
          await window(rig, condition, block, expected, () => rig.target.publish(CHANNEL, cfg.metricsSteadyWindow, 1000 / cfg.steadyRate, tag), () => delivered(gen, tag, expected, cfg)),
        );
      }
      for (const condition of order()) {
        await sleep(cfg.burstGap);
        await gen.waitHolding(subs, 10_000);
        const tag = `b${n++}`;
        const expected = perBurst * subs;
        burst.windows.push(await window(rig, condition, block, expected, () => rig.target.publish(CHANNEL, perBurst, -1, tag), () => delivered(gen, tag, expected, cfg)));
      }
      if (block < 0) {
        steady.windows.length = 0;
        burst.windows.length = 0;
        continue;
      }
      const st = summarize(steady);
      const bu = summarize(burst);
      log(`    ${transport} ${subs} subs, block ${block + 1}/${cfg.metricsBlocks}: steady on ÷ off ×${st.ratio.toFixed(3)} (A/A ×${st.aa.toFixed(3)}), burst ×${bu.ratio.toFixed(3)} (A/A ×${bu.aa.toFixed(3)})`);
    }
    await rig.target.metrics(false);
    const end = await gen.snapshot(false);
    if (end.errors + end.rehandshakes > 0) log(`    client errors ${end.errors}, rehandshakes ${end.rehandshakes}${end.firstError ? ` (${end.firstError})` : ''}`);
    return [steady, burst];
  });
}

function x(q: number): string {
  return Number.isFinite(q) ? '×' + q.toFixed(3) : 'n/a';
}

function table(series: readonly Series[]): Table {
  const rows = series.map((s) => {
    const m = summarize(s);
    return [
      `${s.transport}, ${s.size} subs, ${s.kind}`,
      m.offUs.toFixed(2),
      m.onUs.toFixed(2),
      x(m.ratio),
      `${x(m.blockMedian)} (${x(m.blockQ1)}–${x(m.blockQ3)})`,
      x(m.aa),
      String(m.lost),
      m.ratio <= LIMIT ? 'met' : 'NOT met',
    ];
  });
  return {
    head: ['windows', 'off: server CPU per delivery (µs)', 'on (µs)', 'on ÷ off', 'per block: median (quartiles)', 'A/A: off ÷ off', 'lost', `target ≤ ×${LIMIT.toFixed(2)}`],
    rows,
  };
}

/** `npm run bench -- metrics`. Returns the number of failed measurements. */
export async function metricsCompare(cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<number> {
  const started = new Date();
  const transports = cfg.metricsTransports.split(',').map((t) => t.trim()) as ClientTransport[];
  for (const t of transports) if (t !== 'long-polling' && t !== 'websocket') throw new Error(`--metrics-transports: long-polling or websocket, not ${t}`);
  const cpu = MachineCpu.start();
  const series: Series[] = [];
  const failures: string[] = [];
  for (const transport of transports) {
    for (const size of cfg.fanSizes) {
      log(`== metrics off/on in one process: ${transport}, ${size} subscribers`);
      try {
        series.push(...(await measure(cfg, transport, size, log)));
      } catch (err) {
        failures.push(`${transport} ${size}: ${String((err as Error)?.stack ?? err)}`);
        log(`    failed: ${String(err)}`);
      }
    }
  }
  const machineCpu = cpu.finish();
  const dir = path.join(ROOT, '.bench-out', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'metrics-inprocess.json'), JSON.stringify({ date: started.toISOString(), series, failures, cpu: machineCpu }));
  const t = table(series);
  process.stdout.write(`\nmetrics off and on in one process, ${cfg.metricsBlocks} blocks:\n${textTable(t)}\n`);
  if (cfg.doc) {
    const block = [
      `_Written by \`npm run bench -- metrics\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC._`,
      '',
      `Machine: ${machine(cfg.pin)}.`,
      '',
      `Settings: one server process per transport and size, metrics turned on and off in it between windows; ${cfg.metricsBlocks} blocks of three windows (off, on, off, in random order); ` +
        `steady windows of ${cfg.metricsSteadyWindow} messages at ${cfg.steadyRate}/s, burst windows of ~${cfg.burstDeliveries.toLocaleString('en-US')} deliveries, a full GC before each (not counted); ` +
        `${cfg.workers} generator processes, hold timeout ${cfg.timeout / 1000} s${pinSetting(cfg)}. “Metrics on”: \`createMetrics(bayeux)\` and a scrape of the registry every second in the server process.`,
      '',
      cpuNote(machineCpu),
      '',
      markdownTable(t),
      '',
      ...(failures.length ? ['Failed runs:', '', ...failures.map((f) => '- `' + f.split('\n')[0] + '`'), ''] : []),
    ].join('\n');
    const file = path.resolve(ROOT, cfg.doc);
    writeBetweenMarkers(file, block, 'metrics');
    log(`tables written to ${path.relative(ROOT, file)}`);
  }
  return failures.length;
}
