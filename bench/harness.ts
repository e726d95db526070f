/**
 * Child processes for a bench run: targets and generator workers, each a plain `node`
 * process (no TypeScript loader: the sources are transpiled file by file into
 * .bench-out/build, keeping file and function names for profiles). Every child is
 * tracked and killed by PID when the run ends, fails or is interrupted.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type {
  ChurnResult,
  ChurnSpec,
  PublishLoopResult,
  PublishResult,
  SpawnResult,
  SpawnSpec,
  TargetConfig,
  TargetName,
  TargetStats,
  WorkerConfig,
  WorkerSnapshot,
} from './shared/protocol.js';
import { pinProcess, type PinRole } from './pin.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the sources are transpiled for the child processes; `BENCH_BUILD_DIR` keeps two runs from sharing one. */
export const BUILD_DIR = path.resolve(ROOT, process.env.BENCH_BUILD_DIR ?? path.join('.bench-out', 'build'));

const live = new Set<ChildProcess>();
let handlersInstalled = false;

/** Kills every child still running (SIGKILL, by PID). Safe to call more than once. */
export function killAllChildren(): void {
  for (const c of live) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

/**
 * Tracks a child the bench started by other means (redis-server), so it is killed by PID
 * with the others when the run ends, fails or is interrupted.
 */
export function trackChild(proc: ChildProcess): void {
  installHandlers();
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

let built = false;

function sources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  return (fs.readdirSync(abs, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(abs, f));
}

/**
 * Transpiles the package (entry files, lib/, transports/, extensions/) and the bench's
 * child-process code to .bench-out/build (once per process; type checking is `npm run
 * typecheck`'s job). Relative `.js` imports then resolve to the transpiled files, packages
 * to node_modules.
 */
export function buildChildren(): void {
  if (built) return;
  // The library (what tsconfig.build.json compiles: the entry files and their directories)
  // and the bench's child code.
  const entries = ['index.ts', 'redis.ts', 'engine.ts', 'metrics.ts'].map((f) => path.join(ROOT, f));
  const dirs = ['lib', 'transports', 'extensions', 'bench/targets', 'bench/gen', 'bench/shared'];
  const files = entries.concat(dirs.filter((d) => fs.existsSync(path.join(ROOT, d))).flatMap(sources));
  for (const file of files) {
    const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        useDefineForClassFields: true,
        sourceMap: false,
      },
    });
    const dest = path.join(BUILD_DIR, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out.outputText);
  }
  built = true;
}

/** A forked child that answers `{rid, cmd}` requests. */
class Child {
  private nextRid = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly exited: Promise<void>;
  readonly ready: Promise<Record<string, unknown>>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    live.add(proc);
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code} before it was ready`));
      });
      proc.on('message', (raw) => {
        const msg = raw as { type?: string; rid?: number; error?: string };
        if (msg.type === 'ready') {
          clearTimeout(timer);
          resolve(msg as Record<string, unknown>);
          return;
        }
        const w = msg.rid === undefined ? undefined : this.waiting.get(msg.rid);
        if (!w) return;
        this.waiting.delete(msg.rid!);
        clearTimeout(w.timer);
        if (msg.error !== undefined) w.reject(new Error(`${name}: ${msg.error}`));
        else w.resolve(msg);
      });
    });
    this.ready.catch(() => {});
    proc.once('exit', () => {
      live.delete(proc);
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error(`${name} exited`));
      }
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  request<T>(body: Record<string, unknown>, timeoutMs: number): Promise<T> {
    const rid = this.nextRid++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(rid);
        reject(new Error(`${this.name}: no answer to ${String(body.cmd)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ rid, ...body });
    });
  }

  /** Asks the child to exit (so a CPU profile gets written); kills it by PID if it does not. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      this.proc.send({ rid: 0, cmd: this.stopCommand });
    } catch {
      // channel closed already
    }
    const t = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  protected get stopCommand(): string {
    return 'stop';
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/** Forks a child; with `pin`, pins it (`--pin`) before it gets to its own code, or kills it and throws. */
function forkChild(name: string, file: string, arg: object, execArgv: string[], pin: PinRole | null): ChildProcess {
  installHandlers();
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no TypeScript loader in the measured processes
  const proc = fork(path.join(BUILD_DIR, file), [JSON.stringify(arg)], {
    execArgv,
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  });
  if (pin) {
    try {
      pinProcess(proc.pid!, pin, name);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }
  return proc;
}

/** `--pin`: pins again once the child is up, so a thread it started while taskset ran is pinned and checked too. */
function repin(c: Child, pin: PinRole | null): void {
  if (!pin) return;
  try {
    pinProcess(c.pid, pin, c.name);
  } catch (err) {
    c.kill();
    throw err;
  }
}

/** A target server process. */
export class TargetProc extends Child {
  port = 0;

  stats(gc: boolean): Promise<TargetStats> {
    return this.request<TargetStats>({ cmd: 'stats', gc }, 60_000);
  }

  /** Starts or stops a CPU profile of this process (written to `file` on stop). */
  profile(action: 'start' | 'stop', file: string): Promise<unknown> {
    return this.request({ cmd: 'profile', action, file }, 60_000);
  }

  /** Writes a heap snapshot (after forced GC) to `file`. */
  heapSnapshot(file: string): Promise<unknown> {
    return this.request({ cmd: 'heapSnapshot', file }, 120_000);
  }

  /** Turns the target's metrics on or off (`bayeux-metrics` only). */
  metrics(on: boolean): Promise<unknown> {
    return this.request({ cmd: 'metrics', on }, 30_000);
  }

  publish(channel: string, count: number, intervalMs: number, tag: string): Promise<PublishResult> {
    return this.request<PublishResult>({ cmd: 'publish', channel, count, intervalMs, tag }, 60_000 + count * Math.max(intervalMs, 1));
  }
}

export interface TargetStartOptions {
  /** Write a CPU profile to this file (the directory is created). */
  profileFile?: string;
  /** `--pin`: run the target on CPU 0. */
  pin?: boolean;
}

export async function startTarget(name: TargetName, config: TargetConfig, options: TargetStartOptions = {}): Promise<TargetProc> {
  buildChildren();
  const execArgv = ['--expose-gc'];
  if (options.profileFile) {
    fs.mkdirSync(path.dirname(options.profileFile), { recursive: true });
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${path.dirname(options.profileFile)}`,
      `--cpu-prof-name=${path.basename(options.profileFile)}`,
      '--cpu-prof-interval=250',
    );
  }
  const pin = options.pin ? 'server' : null;
  const t = new TargetProc(name, forkChild(name, `bench/targets/${name}.js`, config, execArgv, pin));
  const ready = await t.ready;
  repin(t, pin);
  t.port = ready.port as number;
  return t;
}

/** A generator worker process. */
export class WorkerProc extends Child {
  protected override get stopCommand(): string {
    return 'close';
  }

  spawn(spec: SpawnSpec, timeoutMs: number): Promise<SpawnResult> {
    return this.request<SpawnResult>({ cmd: 'spawn', spec }, timeoutMs);
  }

  snapshot(reset: boolean): Promise<WorkerSnapshot> {
    return this.request<WorkerSnapshot>({ cmd: 'snapshot', reset }, 30_000);
  }

  publishLoop(durationMs: number, tag: string): Promise<PublishLoopResult> {
    return this.request<PublishLoopResult>({ cmd: 'publish', durationMs, tag }, durationMs + 60_000);
  }

  churn(spec: ChurnSpec, timeoutMs: number): Promise<ChurnResult> {
    return this.request<ChurnResult>({ cmd: 'churn', spec }, timeoutMs);
  }
}

/**
 * Forks `count` generator workers against `port`, or, given several ports (several target
 * processes), each worker spreads its connections over all of them, round-robin.
 */
export async function startWorkers(count: number, port: number | number[], addrs: number, path_ = '/cometd', options: { pin?: boolean } = {}): Promise<WorkerProc[]> {
  buildChildren();
  const sourceAddrs = Array.from({ length: Math.max(0, addrs) }, (_, i) => `127.0.0.${i + 2}`);
  const ports = Array.isArray(port) ? port : [];
  const workers: WorkerProc[] = [];
  const pin = options.pin ? 'generator' : null;
  for (let i = 0; i < count; i++) {
    const cfg: WorkerConfig = { host: '127.0.0.1', port: ports[0] ?? (port as number), ports, path: path_, addrs: sourceAddrs, index: i };
    workers.push(new WorkerProc(`generator-${i}`, forkChild(`generator-${i}`, 'bench/gen/worker.js', cfg, [], pin)));
  }
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) repin(w, pin);
  return workers;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
