/**
 * churn — for a bounded time, sessions handshake, subscribe, hold a connect and then
 * disconnect (on a second connection, as real clients do) or vanish (socket destroyed
 * while the connect is held). Then the server is left to sweep the vanished ones, and
 * heap after forced GC is compared with the baseline taken after a warm-up.
 *
 * Runs with its own, shorter hold timeout and session lifetime so the sweep is quick;
 * Faye's lifetime is 2 × timeout and cannot be set apart.
 */
import path from 'node:path';
import type { BenchConfig } from '../config.js';
import { ROOT } from '../harness.js';
import type { TargetName } from '../shared/protocol.js';
import { cpuOf, percent, waitSessions, warmUp, withRig, type Log, type MetricRow, type Metrics, type Scenario } from './common.js';

async function churn(target: TargetName, cfg: BenchConfig, log: Log): Promise<Metrics> {
  return withRig(target, cfg, { timeout: cfg.churnTimeout, maxInterval: cfg.churnMaxInterval }, 'churn', async (rig) => {
    const { gen } = rig;
    // Warm up at the churn's own concurrency, so pools sized by open connections are full.
    await warmUp(rig, cfg, cfg.churnConcurrency);
    const base = await rig.target.stats(true);
    const snapshot = async (when: string): Promise<void> => {
      if (!cfg.heapSnapshots) return;
      const file = path.resolve(ROOT, cfg.profileDir, `${target}-churn-${when}.heapsnapshot`);
      await rig.target.heapSnapshot(file);
      log(`    heap snapshot: ${path.relative(ROOT, file)}`);
    };
    await snapshot('base');
    const g0 = await gen.snapshot(true);
    const t0 = Date.now();
    const r = await rig.profiled('churn', () =>
      gen.churn(
        { durationMs: cfg.churnDuration, sessions: 0, concurrency: cfg.churnConcurrency, vanish: cfg.vanish, channels: 16, holdMs: 0 },
        cfg.churnDuration + 120_000,
      ),
    );
    const wall = Date.now() - t0;
    const peak = await rig.target.stats(true);
    const g1 = await gen.snapshot(false);
    const w0 = Date.now();
    const swept = await waitSessions(rig.target, 0, cfg.churnWait);
    const sweepMs = Date.now() - w0;
    const after = await rig.target.stats(true);
    await snapshot('swept');
    const out: Metrics = {
      sessionsPerSec: (r.created / wall) * 1000,
      created: r.created,
      disconnected: r.disconnected,
      vanished: r.vanished,
      failed: r.failed,
      cpuPerSession: r.created > 0 ? (cpuOf(peak) - cpuOf(base)) / r.created : NaN,
      serverCpu: percent(cpuOf(peak) - cpuOf(base), wall),
      genCpu: percent(g1.cpu - g0.cpu, wall),
      sessionsLeftAtEnd: peak.sessions,
      sweepSeconds: sweepMs / 1000,
      sessionsAfterSweep: swept.sessions,
      heapBaseMB: base.heapUsed / 1e6,
      heapAfterMB: after.heapUsed / 1e6,
      heapRatio: after.heapUsed / base.heapUsed,
      rssGrowthMB: (after.rss - base.rss) / 1e6,
    };
    log(
      `    ${target} churn: ${r.created} sessions in ${(wall / 1000).toFixed(1)} s (${Math.round(out.sessionsPerSec!)}/s; ${r.disconnected} disconnected, ` +
        `${r.vanished} vanished, ${r.failed} failed), ${out.cpuPerSession!.toFixed(0)} µs CPU each; swept to ${swept.sessions} sessions in ` +
        `${out.sweepSeconds!.toFixed(1)} s; heap ${out.heapBaseMB!.toFixed(2)} → ${out.heapAfterMB!.toFixed(2)} MB (×${out.heapRatio!.toFixed(3)})` +
        (g1.firstError ? ` (first error: ${g1.firstError})` : ''),
    );
    return out;
  });
}

export const churnScenario: Scenario = {
  name: 'churn',
  title: 'Session churn',
  run: churn,
  rows() {
    return [
      { key: 'sessionsPerSec', label: 'sessions created/s', unit: '/s', digits: 0, lowerIsBetter: false },
      { key: 'cpuPerSession', label: 'server CPU per session life', unit: 'µs', digits: 0, lowerIsBetter: true },
      { key: 'failed', label: 'failed sessions', unit: '', digits: 0, lowerIsBetter: true },
      { key: 'serverCpu', label: 'server CPU', unit: '%', digits: 0, lowerIsBetter: true },
      { key: 'genCpu', label: 'generator CPU', unit: '%', digits: 0, lowerIsBetter: true },
      { key: 'sessionsLeftAtEnd', label: 'sessions left when churn stops', unit: '', digits: 0, lowerIsBetter: true },
      { key: 'sweepSeconds', label: 'time to sweep them', unit: 's', digits: 1, lowerIsBetter: true },
      { key: 'sessionsAfterSweep', label: 'sessions after sweep', unit: '', digits: 0, lowerIsBetter: true },
      { key: 'heapBaseMB', label: 'heap baseline', unit: 'MB', digits: 2, lowerIsBetter: true },
      { key: 'heapAfterMB', label: 'heap after sweep', unit: 'MB', digits: 2, lowerIsBetter: true },
      { key: 'heapRatio', label: 'heap after / baseline', unit: '×', digits: 3, lowerIsBetter: true },
    ] satisfies MetricRow[];
  },
};
