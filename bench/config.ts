/**
 * Bench settings: defaults at real sizes, a `--quick` preset, and overrides from flags
 * (`--idle-sizes 1000,5000`, `--rounds=2`) or the environment (`BENCH_IDLE_SIZES=…`).
 * Every loop the bench runs is bounded by one of these counts or durations.
 */
import { ALL_TARGET_NAMES, TARGET_NAMES, type TargetName } from './shared/protocol.js';

export interface BenchConfig {
  targets: TargetName[];
  /** Rounds per target in `compare` (medians are reported). */
  rounds: number;
  /** Generator processes (each has its own ~20k descriptor cap). */
  workers: number;
  /** Loopback source addresses, 127.0.0.2 … (127.0.0.1 + n). */
  addrs: number;
  /** Clients being set up at once, per worker. */
  rampConcurrency: number;
  /** Hold timeout for every target, ms. */
  timeout: number;
  /** Session lifetime without a connect, ms (Faye: 2 × timeout, not configurable). */
  maxInterval: number;
  /** Sessions run (and disconnected) before a baseline is taken, so JIT and pools are warm. */
  warmSessions: number;
  /** Bound on waits for sessions to be set up or drained, ms. */
  settleTimeout: number;

  idleSizes: number[];
  /** Sizes for the heartbeat (connect round-trip CPU) measurement. */
  hbSizes: number[];
  /** Hold timeout during the heartbeat measurement, ms (short, so round trips happen). */
  hbTimeout: number;
  /** Measurement window for the heartbeat, ms. */
  hbWindow: number;

  fanSizes: number[];
  /** Steady publishing: messages per second and count. */
  steadyRate: number;
  steadyCount: number;
  /** Bursts: how many, deliveries per burst (messages = deliveries / subscribers), gap between. */
  bursts: number;
  burstDeliveries: number;
  burstGap: number;
  /**
   * `tick` (default): the whole burst published in one synchronous loop, so it is queued
   * before any response goes out; `turn`: one publish per event-loop turn, which leaves
   * little to batch (each delivery then costs about one connect round trip, as in steady).
   */
  burstMode: string;
  /** Wait for deliveries to arrive after the last publish, ms. */
  drainTimeout: number;
  /**
   * fan-out and publish: stop that wait early once no delivery has arrived for this long,
   * ms (0: wait the whole drainTimeout). A server that loses messages (faye-redis) would otherwise hold
   * every wait to the bound; the ones still missing are counted lost.
   */
  drainStall: number;

  publishers: number;
  subsPerChannel: number;
  pubDuration: number;

  churnDuration: number;
  churnConcurrency: number;
  vanish: number;
  churnTimeout: number;
  churnMaxInterval: number;
  /** Bound on the wait for the server to sweep every churned session, ms. */
  churnWait: number;

  /**
   * CPU profiles of the targets: `window` (also a bare `--profile`) profiles each
   * measurement window through node:inspector; `process` runs targets under
   * `node --cpu-prof` (whole process, ramp and teardown included); empty: none.
   */
  profile: string;
  profileDir: string;
  /** idle and churn: write heap snapshots at the baseline and with the sessions held / after the sweep (into profileDir). */
  heapSnapshots: boolean;
  /**
   * Every server process on CPU 0 and every generator process on CPU 1 (taskset), so that on
   * two cores the fan-out and the generator reading it do not compete; the report says so.
   */
  pin: boolean;
  /** Write the compare tables into this file (between markers); empty: do not write. */
  doc: string;
  /**
   * compare: scenarios to run (comma-separated; empty: all four; `none`: only rebuild the
   * tables). The others are taken from the results of their last run, kept in
   * .bench-out/results/.
   */
  scenarios: string;

  /**
   * `websocket`: what runs, comma-separated: `bayeux`, `faye` and `bare-ws` with WebSocket
   * clients, `bayeux-lp` (bayeux-server with long-polling clients, for comparison).
   */
  wsTargets: string;
  /** `websocket`: idle WebSocket sessions (memory per session). */
  wsIdleSizes: number[];
  /** `websocket`: subscriber counts of the fan-out (steady and bursts, sized as `fanout`'s). */
  wsFanSizes: number[];

  /** `redis`: subscriber counts at which Redis round trips per publish are counted (MONITOR). */
  rtSizes: number[];
  /** `redis`: app-code publishes per size in the round-trip count (one at a time, each delivered before the next). */
  rtPublishes: number;
  /** `redis`: how long the one wire publisher publishes in the round-trip count, ms. */
  rtDuration: number;
  /** bayeux-redis: the engine's `commandTimeoutMs` (0: the engine's default, 2000). */
  redisCommandTimeout: number;
  /** `redis-designs`: the fan-out designs to measure, comma-separated (memory, A, B, C, C-stream); empty: all; `none`: only rebuild the tables from the last saved run. */
  designs: string;

  /** `scale100k`: bayeux-server processes on one Redis. */
  scaleProcs: number;
  /** `scale100k`: idle sessions, spread evenly over the processes. */
  scaleSessions: number;
  /** `scale100k`: generator processes (each under the descriptor cap). */
  scaleWorkers: number;
  /** `scale100k`: loopback source addresses (each gives ~28k ephemeral ports). */
  scaleAddrs: number;
  /** `scale100k`: clients being set up at once, per generator process. */
  scaleRampConcurrency: number;
  /** `scale100k`: hold timeout of every process, ms. */
  scaleTimeout: number;
  /** `scale100k`: heartbeat measurement window, ms. */
  scaleWindow: number;
  /** `scale100k`: bound on the ramp (all sessions set up and holding), ms. */
  scaleRampTimeout: number;
  /** `scale100k`: bound on the wait for one publish to reach every session, ms. */
  scaleDeliverTimeout: number;
  /** `scale100k`: bound on the whole run; past it everything is stopped, ms. */
  scaleDeadline: number;
  /** `scale100k`: the Redis engine's fan-out mode in every process (`queues`, the engine's default, or `logs`). */
  scaleFanout: string;
  /** `scale100k`: the clients' transport (`long-polling`: a connect round trip per delivery; `websocket`: a frame). */
  scaleTransport: string;

  /** `metrics`: blocks of three windows (metrics off, on, off) per transport and size. */
  metricsBlocks: number;
  /** `metrics`: messages per steady window (at `steadyRate`). */
  metricsSteadyWindow: number;
  /** `metrics`: client transports to measure, comma-separated (long-polling, websocket). */
  metricsTransports: string;
}

export const DEFAULTS: BenchConfig = {
  targets: [...TARGET_NAMES],
  rounds: 3,
  workers: 2,
  addrs: 4,
  rampConcurrency: 64,
  timeout: 30_000,
  maxInterval: 10_000,
  warmSessions: 50,
  settleTimeout: 90_000,
  idleSizes: [1000, 10_000, 19_500],
  hbSizes: [10_000, 19_500],
  hbTimeout: 5000,
  hbWindow: 20_000,
  fanSizes: [1000, 10_000],
  steadyRate: 1,
  steadyCount: 20,
  bursts: 5,
  burstDeliveries: 200_000,
  burstGap: 1000,
  burstMode: 'tick',
  drainTimeout: 30_000,
  drainStall: 5000,
  publishers: 200,
  subsPerChannel: 3,
  pubDuration: 15_000,
  churnDuration: 20_000,
  churnConcurrency: 200,
  vanish: 0.1,
  churnTimeout: 10_000,
  churnMaxInterval: 10_000,
  churnWait: 60_000,
  profile: '',
  profileDir: '.bench-out/profiles',
  heapSnapshots: false,
  pin: false,
  doc: 'docs/performance.md',
  scenarios: '',
  wsTargets: 'bayeux,faye,bare-ws,bayeux-lp',
  wsIdleSizes: [1000, 10_000, 19_000],
  wsFanSizes: [1000, 10_000],
  rtSizes: [100, 1000],
  rtPublishes: 20,
  rtDuration: 2000,
  redisCommandTimeout: 0,
  designs: '',
  scaleProcs: 6,
  scaleSessions: 100_000,
  scaleWorkers: 8,
  scaleAddrs: 8,
  scaleRampConcurrency: 32,
  scaleTimeout: 30_000,
  scaleWindow: 30_000,
  scaleRampTimeout: 1_200_000,
  scaleDeliverTimeout: 180_000,
  scaleDeadline: 3_000_000,
  scaleFanout: 'logs',
  scaleTransport: 'long-polling',
  metricsBlocks: 12,
  metricsSteadyWindow: 5,
  metricsTransports: 'long-polling,websocket',
};

/** Small sizes: every scenario in seconds. */
export const QUICK: Partial<BenchConfig> = {
  rounds: 1,
  idleSizes: [500, 2000],
  hbSizes: [2000],
  hbTimeout: 2000,
  hbWindow: 4000,
  fanSizes: [500],
  steadyRate: 10,
  steadyCount: 20,
  bursts: 2,
  burstDeliveries: 20_000,
  publishers: 50,
  pubDuration: 3000,
  churnDuration: 3000,
  churnConcurrency: 50,
  churnTimeout: 2000,
  churnMaxInterval: 2000,
  churnWait: 20_000,
  wsIdleSizes: [500],
  wsFanSizes: [500],
  rtPublishes: 10,
  rtDuration: 1000,
  scaleSessions: 3000,
  scaleWorkers: 2,
  scaleAddrs: 2,
  scaleTimeout: 5000,
  scaleWindow: 5000,
  scaleRampTimeout: 120_000,
  scaleDeliverTimeout: 30_000,
  scaleDeadline: 600_000,
  metricsBlocks: 2,
  metricsSteadyWindow: 3,
};

/** `websocket --quick`: on top of QUICK, shorter phases, so four variants × two scenarios take about half a minute. */
export const WS_QUICK: Partial<BenchConfig> = {
  warmSessions: 20,
  steadyCount: 10,
  burstGap: 300,
};

const NUMBER_LISTS = new Set<keyof BenchConfig>(['idleSizes', 'hbSizes', 'fanSizes', 'rtSizes', 'wsIdleSizes', 'wsFanSizes']);

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function coerce(key: keyof BenchConfig, raw: string): unknown {
  const current = DEFAULTS[key];
  if (key === 'targets') {
    const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const n of names) if (!ALL_TARGET_NAMES.includes(n as TargetName)) throw new Error(`unknown target ${n} (known: ${ALL_TARGET_NAMES.join(', ')})`);
    return names;
  }
  if (NUMBER_LISTS.has(key)) return raw.trim() === '' ? [] : raw.split(',').map((s) => parseSize(s));
  if (typeof current === 'number') return parseSize(raw);
  if (typeof current === 'boolean') return raw === '' || raw === 'true' || raw === '1';
  if (key === 'profile') {
    const v = raw === '' || raw === 'true' || raw === '1' ? 'window' : raw;
    if (v !== 'window' && v !== 'process' && v !== 'false' && v !== '0') throw new Error(`--profile: window or process, not ${raw}`);
    return v === 'window' || v === 'process' ? v : '';
  }
  return raw;
}

/** Accepts `19500`, `19.5k`, `10k`. */
function parseSize(s: string): number {
  const t = s.trim().toLowerCase();
  const n = t.endsWith('k') ? Number.parseFloat(t) * 1000 : Number(t);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${s}`);
  return n;
}

/**
 * Builds the config: defaults, then `--quick`, then BENCH_* variables, then flags.
 * Returns the positional arguments too (scenario name and its operands).
 */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, base: Partial<BenchConfig> = {}): { config: BenchConfig; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') && a !== '--quick' && a !== '--profile' && a !== '--heap-snapshots' && a !== '--pin') flags.set(a.slice(2), argv[++i]!);
    else flags.set(a.slice(2), '');
  }
  const quick = flags.has('quick') || env.BENCH_QUICK === '1';
  const config: BenchConfig = { ...DEFAULTS, ...(quick ? QUICK : {}), ...base };
  const known = new Map<string, keyof BenchConfig>();
  for (const k of Object.keys(DEFAULTS) as (keyof BenchConfig)[]) known.set(kebab(k), k);
  for (const [flag, key] of known) {
    const envName = 'BENCH_' + flag.replace(/-/g, '_').toUpperCase();
    if (env[envName] !== undefined) Object.assign(config, { [key]: coerce(key, env[envName]!) });
  }
  for (const [flag, value] of flags) {
    if (flag === 'quick') continue;
    const key = known.get(flag);
    if (!key) throw new Error(`unknown flag --${flag}`);
    Object.assign(config, { [key]: coerce(key, value) });
  }
  return { config, positional };
}

/** What --help says of a setting beyond its default. */
const HELP: Partial<Record<keyof BenchConfig, string>> = {
  pin: 'servers on CPU 0, generators on CPU 1 (/usr/bin/taskset); the report says so',
};

/** One line per setting, for --help. */
export function describeFlags(): string {
  return (Object.keys(DEFAULTS) as (keyof BenchConfig)[])
    .map((k) => `  --${kebab(k)}  (default ${JSON.stringify(DEFAULTS[k])})${HELP[k] ? ': ' + HELP[k] : ''}`)
    .join('\n');
}
