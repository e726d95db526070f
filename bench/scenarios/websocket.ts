/**
 * The `websocket` family: what runs against what, and its two scenarios.
 *
 * Variants: bayeux-server, Faye and a bare `ws` server, each with WebSocket clients, and
 * bayeux-server with long-polling clients (the existing path), so the tables show what
 * WebSocket buys.
 *
 * - idle: for each size, a fresh target, a warm-up of complete session lives over the
 *   variant's transport, a baseline after forced GC, then N sessions each holding a
 *   connect (over WebSocket: one socket each, the connect held as the heartbeat); heap and
 *   RSS per session after forced GC, minus the baseline.
 * - fanout: `fanout`'s run (steady rate, then bursts sized at about `burstDeliveries`
 *   deliveries) with the variant's clients, at the `wsFanSizes` subscriber counts.
 */
import path from 'node:path';
import type { BenchConfig } from '../config.js';
import { ROOT, sleep, type TargetProc } from '../harness.js';
import type { ClientTransport, TargetName, TargetStats } from '../shared/protocol.js';
import { warmUp, waitOpenRequests, withRig, type Log, type MetricRow, type Metrics } from './common.js';
import { fanout, fanoutScenario } from './fanout.js';

export type WsVariant = 'bayeux' | 'faye' | 'bare-ws' | 'bayeux-lp';

export interface WsVariantSpec {
  /** The target process. */
  target: TargetName;
  /** How the generator's clients talk to it. */
  transport: ClientTransport;
  label: string;
}

export const WS_VARIANTS: Readonly<Record<WsVariant, WsVariantSpec>> = {
  bayeux: { target: 'bayeux', transport: 'websocket', label: 'bayeux-server, WebSocket' },
  faye: { target: 'faye', transport: 'websocket', label: 'Faye 1.4.3, WebSocket' },
  'bare-ws': { target: 'bare-ws', transport: 'websocket', label: 'bare ws (limit)' },
  'bayeux-lp': { target: 'bayeux', transport: 'long-polling', label: 'bayeux-server, long-polling' },
};

/** `--ws-targets` as a list of variants (throws on an unknown name). */
export function wsVariants(cfg: BenchConfig): WsVariant[] {
  const names = cfg.wsTargets.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(n in WS_VARIANTS)) throw new Error(`--ws-targets: unknown ${n} (known: ${Object.keys(WS_VARIANTS).join(', ')})`);
  return names as WsVariant[];
}

export interface WsScenario {
  readonly name: string;
  readonly title: string;
  run(variant: WsVariant, cfg: BenchConfig, log: Log): Promise<Metrics>;
  rows(cfg: BenchConfig): MetricRow[];
}

const CHANNEL = '/bench/idle';

/** Waits (bounded) until the target has at least `n` connections more than `base`. */
async function waitConnections(target: TargetProc, base: number, n: number, timeoutMs: number): Promise<TargetStats> {
  const until = Date.now() + timeoutMs;
  let s = await target.stats(false);
  while (s.connections - base < n && Date.now() < until) {
    await sleep(100);
    s = await target.stats(false);
  }
  return s;
}

async function idleMemory(variant: WsVariant, cfg: BenchConfig, n: number, log: Log): Promise<Metrics> {
  const { target, transport } = WS_VARIANTS[variant];
  const tag = transport === 'websocket' ? 'ws' : 'lp';
  return withRig(target, cfg, {}, `idle-${tag}-${n}`, async (rig) => {
    await warmUp(rig, cfg, 10, transport);
    const base = await rig.target.stats(true);
    const snapshot = async (when: string): Promise<void> => {
      if (!cfg.heapSnapshots) return;
      const file = path.resolve(ROOT, cfg.profileDir, `${target}-idle-${tag}-${n}-${when}.heapsnapshot`);
      await rig.target.heapSnapshot(file);
      log(`    heap snapshot: ${path.relative(ROOT, file)}`);
    };
    await snapshot('base');
    const t0 = Date.now();
    const spawned = await rig.gen.spawn(
      n,
      { transport, subscribePrefix: CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency },
      cfg.settleTimeout * 2,
    );
    const holding = await rig.gen.waitHolding(spawned.established, cfg.settleTimeout);
    // The server's side: every socket open (and over long-polling every connect held).
    if (transport === 'long-polling') await waitOpenRequests(rig.target, base.openRequests, spawned.established, 10_000);
    else await waitConnections(rig.target, base.connections, spawned.established, 10_000);
    const rampMs = Date.now() - t0;
    await sleep(1000);
    const after = await rig.target.stats(true);
    await snapshot('held');
    const gen = await rig.gen.snapshot(false);
    const sessions = after.sessions - base.sessions;
    const sockets = after.connections - base.connections;
    log(
      `    ${variant} idle ${n}: holding ${gen.holding} (after the ramp ${holding}), sessions ${sessions}, sockets ${sockets}, ` +
        `heap +${((after.heapUsed - base.heapUsed) / 1e6).toFixed(1)} MB, rss +${((after.rss - base.rss) / 1e6).toFixed(1)} MB, ` +
        `ramp ${(rampMs / 1000).toFixed(1)} s, failed ${spawned.failed}, errors ${gen.errors}, reconnects ${gen.reconnects}` +
        (gen.firstError ? ` (${gen.firstError})` : ''),
    );
    return {
      [`held@${n}`]: gen.holding,
      [`sessions@${n}`]: sessions,
      [`sockets@${n}`]: sockets,
      [`heapPerSession@${n}`]: (after.heapUsed - base.heapUsed) / n,
      [`rssPerSession@${n}`]: (after.rss - base.rss) / n,
      [`baseHeap@${n}`]: base.heapUsed,
      // Sessions left over from the warm-up when the baseline was taken (0 when it went as it should).
      [`baseSessions@${n}`]: base.sessions,
      [`rampPerSec@${n}`]: (spawned.established / rampMs) * 1000,
      [`failed@${n}`]: spawned.failed + gen.errors + gen.rehandshakes,
    };
  });
}

export const wsIdle: WsScenario = {
  name: 'idle',
  title: 'Idle sessions over WebSocket',
  async run(variant, cfg, log) {
    const out: Metrics = {};
    for (const n of cfg.wsIdleSizes) Object.assign(out, await idleMemory(variant, cfg, n, log));
    return out;
  },
  rows(cfg) {
    return cfg.wsIdleSizes.flatMap((n): MetricRow[] => [
      { key: `sessions@${n}`, label: `sessions, ${n} asked`, unit: '', digits: 0, lowerIsBetter: false },
      { key: `held@${n}`, label: `connects held, ${n}`, unit: '', digits: 0, lowerIsBetter: false },
      { key: `sockets@${n}`, label: `open connections at the server, ${n}`, unit: '', digits: 0, lowerIsBetter: false },
      { key: `heapPerSession@${n}`, label: `heap per session, ${n}`, unit: 'B', digits: 0, lowerIsBetter: true },
      { key: `rssPerSession@${n}`, label: `RSS per session, ${n}`, unit: 'B', digits: 0, lowerIsBetter: true },
      { key: `rampPerSec@${n}`, label: `sessions set up per second, ${n}`, unit: '/s', digits: 0, lowerIsBetter: false },
      { key: `failed@${n}`, label: `failed clients, ${n}`, unit: '', digits: 0, lowerIsBetter: true },
    ]);
  },
};

export const wsFanout: WsScenario = {
  name: 'fanout',
  title: 'Fan-out to one channel over WebSocket',
  async run(variant, cfg, log) {
    const { target, transport } = WS_VARIANTS[variant];
    const out: Metrics = {};
    for (const s of cfg.wsFanSizes) Object.assign(out, await fanout(target, cfg, s, log, transport));
    return out;
  },
  rows(cfg) {
    return fanoutScenario.rows({ ...cfg, fanSizes: cfg.wsFanSizes });
  },
};

export const WS_SCENARIOS: readonly WsScenario[] = [wsIdle, wsFanout];
