/**
 * idle — N sessions handshaken, subscribed and each holding a /meta/connect.
 *
 * Memory: the target starts with the common hold timeout, a few sessions warm it up,
 * a baseline is taken after forced GC, N sessions are set up, and heap and RSS are read
 * again after forced GC: (after − baseline) / N.
 *
 * Heartbeat: a fresh target with a short hold timeout, N sessions looping; server CPU
 * over a window divided by the connect round trips completed in it.
 */
import path from 'node:path';
import type { BenchConfig } from '../config.js';
import { ROOT, sleep } from '../harness.js';
import type { TargetName } from '../shared/protocol.js';
import { cpuOf, percent, warmUp, waitOpenRequests, withRig, type Log, type MetricRow, type Metrics, type Scenario } from './common.js';

const CHANNEL = '/bench/idle';

async function memory(target: TargetName, cfg: BenchConfig, n: number, log: Log): Promise<Metrics> {
  return withRig(target, cfg, {}, `idle-${n}`, async (rig) => {
    await warmUp(rig, cfg);
    const base = await rig.target.stats(true);
    const snapshot = async (when: string): Promise<void> => {
      if (!cfg.heapSnapshots) return;
      const file = path.resolve(ROOT, cfg.profileDir, `${target}-idle-${n}-${when}.heapsnapshot`);
      await rig.target.heapSnapshot(file);
      log(`    heap snapshot: ${path.relative(ROOT, file)}`);
    };
    await snapshot('base');
    const t0 = Date.now();
    const spawned = await rig.gen.spawn(n, { subscribePrefix: CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
    await rig.gen.waitHolding(spawned.established, cfg.settleTimeout);
    await waitOpenRequests(rig.target, base.openRequests, spawned.established, 10_000);
    const rampMs = Date.now() - t0;
    await sleep(1000);
    const after = await rig.target.stats(true);
    await snapshot('held');
    const gen = await rig.gen.snapshot(false);
    const held = after.openRequests - base.openRequests;
    log(
      `    ${target} idle ${n}: held ${held}, sessions ${after.sessions - base.sessions}, heap +${((after.heapUsed - base.heapUsed) / 1e6).toFixed(1)} MB, ` +
        `rss +${((after.rss - base.rss) / 1e6).toFixed(1)} MB, ramp ${(rampMs / 1000).toFixed(1)} s, failed ${spawned.failed}, errors ${gen.errors}` +
        (gen.firstError ? ` (${gen.firstError})` : ''),
    );
    return {
      [`held@${n}`]: held,
      [`sessions@${n}`]: after.sessions - base.sessions,
      [`heapPerSession@${n}`]: (after.heapUsed - base.heapUsed) / n,
      [`rssPerSession@${n}`]: (after.rss - base.rss) / n,
      [`baseHeap@${n}`]: base.heapUsed,
      [`rampPerSec@${n}`]: (spawned.established / rampMs) * 1000,
      [`failed@${n}`]: spawned.failed + gen.errors,
    };
  });
}

async function heartbeat(target: TargetName, cfg: BenchConfig, n: number, log: Log): Promise<Metrics> {
  return withRig(target, cfg, { timeout: cfg.hbTimeout }, `heartbeat-${n}`, async (rig) => {
    const spawned = await rig.gen.spawn(n, { subscribePrefix: CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
    await rig.gen.waitHolding(spawned.established, cfg.settleTimeout);
    // One full hold cycle first, so round trips run at their steady rate.
    await sleep(cfg.hbTimeout + 500);
    const s0 = await rig.target.stats(false);
    const g0 = await rig.gen.snapshot(true);
    const t0 = Date.now();
    await rig.profiled(`heartbeat-${n}`, () => sleep(cfg.hbWindow));
    const s1 = await rig.target.stats(false);
    const g1 = await rig.gen.snapshot(false);
    const wall = Date.now() - t0;
    const rts = g1.connectReplies;
    const cpu = cpuOf(s1) - cpuOf(s0);
    log(
      `    ${target} heartbeat ${n}: ${rts} round trips in ${(wall / 1000).toFixed(1)} s, ${(cpu / Math.max(1, rts)).toFixed(1)} µs each ` +
        `(user ${((s1.cpuUser - s0.cpuUser) / Math.max(1, rts)).toFixed(1)}, system ${((s1.cpuSystem - s0.cpuSystem) / Math.max(1, rts)).toFixed(1)}), ` +
        `server ${percent(cpu, wall).toFixed(0)} %, generator ${percent(g1.cpu - g0.cpu, wall).toFixed(0)} %, errors ${g1.errors}, rehandshakes ${g1.rehandshakes}`,
    );
    return {
      [`cpuPerRoundTrip@${n}`]: rts > 0 ? cpu / rts : NaN,
      [`roundTripsPerSec@${n}`]: (rts / wall) * 1000,
      [`hbServerCpu@${n}`]: percent(cpu, wall),
      [`hbGenCpu@${n}`]: percent(g1.cpu - g0.cpu, wall),
      [`hbErrors@${n}`]: g1.errors + g1.rehandshakes + spawned.failed,
    };
  });
}

export const idle: Scenario = {
  name: 'idle',
  title: 'Idle held sessions',
  async run(target, cfg, log) {
    const out: Metrics = {};
    for (const n of cfg.idleSizes) Object.assign(out, await memory(target, cfg, n, log));
    for (const n of cfg.hbSizes) Object.assign(out, await heartbeat(target, cfg, n, log));
    return out;
  },
  rows(cfg) {
    const rows: MetricRow[] = [];
    for (const n of cfg.idleSizes) {
      rows.push(
        { key: `held@${n}`, label: `held connects, ${n} sessions`, unit: '', digits: 0, lowerIsBetter: false },
        { key: `heapPerSession@${n}`, label: `heap per session, ${n}`, unit: 'B', digits: 0, lowerIsBetter: true },
        { key: `rssPerSession@${n}`, label: `RSS per session, ${n}`, unit: 'B', digits: 0, lowerIsBetter: true },
        { key: `failed@${n}`, label: `failed clients, ${n}`, unit: '', digits: 0, lowerIsBetter: true },
      );
    }
    for (const n of cfg.hbSizes) {
      rows.push(
        { key: `cpuPerRoundTrip@${n}`, label: `CPU per connect round trip, ${n}`, unit: 'µs', digits: 1, lowerIsBetter: true },
        { key: `roundTripsPerSec@${n}`, label: `round trips/s, ${n}`, unit: '/s', digits: 0, lowerIsBetter: false },
        { key: `hbServerCpu@${n}`, label: `server CPU, heartbeat ${n}`, unit: '%', digits: 0, lowerIsBetter: true },
        { key: `hbGenCpu@${n}`, label: `generator CPU, heartbeat ${n}`, unit: '%', digits: 0, lowerIsBetter: true },
      );
    }
    return rows;
  },
};
