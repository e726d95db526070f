/**
 * Summarises a `node --cpu-prof` profile: functions by self time, and self time by area
 * (lib/, transports/, node internals, GC, idle). Files transpiled into .bench-out/build
 * are shown under their source path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './harness.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTimeRow {
  name: string;
  where: string;
  area: string;
  selfMs: number;
  percent: number;
}

const BUILD_PREFIX = 'file://' + path.join(ROOT, '.bench-out', 'build') + '/';

function where(url: string): string {
  if (url.startsWith(BUILD_PREFIX)) return url.slice(BUILD_PREFIX.length).replace(/\.js$/, '.ts');
  if (url.startsWith('file://' + ROOT + '/')) return url.slice(ROOT.length + 8);
  return url;
}

function area(frame: CallFrame, w: string): string {
  if (frame.functionName === '(garbage collector)') return 'GC';
  if (frame.functionName === '(idle)') return 'idle';
  if (frame.functionName === '(program)') return 'program (native, unattributed)';
  if (w.startsWith('lib/')) return 'lib/';
  if (w.startsWith('transports/')) return 'transports/';
  if (w.startsWith('bench/')) return 'bench harness';
  if (w.startsWith('node:')) return 'node internals';
  if (w.includes('node_modules/')) return 'node_modules: ' + (w.split('node_modules/')[1]?.split('/')[0] ?? '?');
  if (w === '') return 'native / builtins';
  return 'other';
}

export function selfTimes(profile: CpuProfile): { rows: SelfTimeRow[]; areas: SelfTimeRow[]; totalMs: number } {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  // Sample i lasts until sample i+1.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  let total = 0;
  const fn = new Map<string, SelfTimeRow>();
  const areas = new Map<string, SelfTimeRow>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    const w = where(f.url);
    const a = area(f, w);
    total += us;
    const key = `${f.functionName}|${w}|${f.lineNumber}`;
    const row = fn.get(key) ?? { name: f.functionName || '(anonymous)', where: w ? `${w}:${f.lineNumber + 1}` : '', area: a, selfMs: 0, percent: 0 };
    row.selfMs += us / 1000;
    fn.set(key, row);
    const ar = areas.get(a) ?? { name: a, where: '', area: a, selfMs: 0, percent: 0 };
    ar.selfMs += us / 1000;
    areas.set(a, ar);
  }
  const finish = (rows: SelfTimeRow[]): SelfTimeRow[] =>
    rows.map((r) => ({ ...r, percent: (r.selfMs / (total / 1000)) * 100 })).sort((a, b) => b.selfMs - a.selfMs);
  return { rows: finish([...fn.values()]), areas: finish([...areas.values()]), totalMs: total / 1000 };
}

/** A readable report of one profile; `busyOnly` leaves idle time out of the percentages. */
export function profileReport(file: string, top = 25): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const { rows, areas, totalMs } = selfTimes(profile);
  const idle = areas.find((a) => a.area === 'idle')?.selfMs ?? 0;
  const busy = totalMs - idle;
  const pct = (ms: number): string => ((ms / busy) * 100).toFixed(1).padStart(5) + ' %';
  const lines = [
    `${path.relative(ROOT, file)}: ${(totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(2)} s busy (percentages of busy time)`,
    '',
    'by area:',
    ...areas.filter((a) => a.area !== 'idle').map((a) => `  ${pct(a.selfMs)}  ${a.selfMs.toFixed(0).padStart(7)} ms  ${a.name}`),
    '',
    `top ${top} functions by self time:`,
    ...rows
      .filter((r) => r.area !== 'idle')
      .slice(0, top)
      .map((r) => `  ${pct(r.selfMs)}  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.name}  ${r.where}`),
    '',
    'top functions in lib/ and transports/:',
    ...rows
      .filter((r) => r.area === 'lib/' || r.area === 'transports/')
      .slice(0, top)
      .map((r) => `  ${pct(r.selfMs)}  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.name}  ${r.where}`),
  ];
  return lines.join('\n');
}
