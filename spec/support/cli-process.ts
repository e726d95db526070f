/**
 * The standalone server (`bayeux-server`, cli/main.ts) run as a child process from source
 * (`node --import tsx cli/main.ts …`), as a user runs the bin: its stdout read line by line
 * (where it listens, its workers), stderr kept, stopped by PID. `BAYEUX_*` variables of the
 * spec run are not passed on, so each spec says exactly what the server gets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Inbox, waitUntil, withTimeout } from './wait.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What a run to the end printed. */
export interface Finished extends Exit {
  stdout: string;
  stderr: string;
}

/** The start line: `bayeux-server listening on <url> (engine <name>, pid <pid>…)`. */
const LISTENING = /^bayeux-server listening on (\S+) \(engine (\w+), pid (\d+)/;
/** A worker's line in --workers mode. */
const WORKER = /^worker (\d+) listening on (\S+)$/;

const running = new Set<CliProcess>();

/** Stops every CLI process started here and not stopped yet (for after hooks). */
export async function stopAllCli(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((p) => p.stop()));
}

/** The environment a CLI child gets: this one without `BAYEUX_*` and DEBUG, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BAYEUX_') && k !== 'DEBUG'));
  return { ...base, ...env };
}

/** `nodeArgs`: more options for node itself (e.g. `--import` of a module hook). */
function spawnCli(args: readonly string[], env: Record<string, string>, nodeArgs: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, CLI_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to its end (a config error, --help); killed and rejected past `ms`. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, ms = 15_000): Promise<Finished> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const ended = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  try {
    const exit = await withTimeout(ended, () => `bayeux-server ${args.join(' ')} to exit (stdout ${stdout}, stderr ${stderr})`, ms);
    return { ...exit, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** A running CLI server. */
export class CliProcess {
  /** Every stdout line, in order. */
  readonly lines = new Inbox<string>();
  stderr = '';
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;
  /** From the start line. */
  url = '';
  engine = '';

  private constructor(private readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.on('data', (c: Buffer) => {
      partial += c.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) this.lines.push(line);
    });
    child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString();
      if (this.stderr.length > 50_000) this.stderr = this.stderr.slice(-25_000);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  /** Starts the CLI and waits for its start line (rejects with its stderr if it exits first). */
  static async start(args: readonly string[], env: Record<string, string> = {}, ms = 20_000, nodeArgs: readonly string[] = []): Promise<CliProcess> {
    const p = new CliProcess(spawnCli(args, env, nodeArgs));
    running.add(p);
    try {
      const line = await Promise.race([
        p.lines.until((l) => LISTENING.test(l), 'the start line', ms),
        p.exited.then((e) => {
          throw new Error(`bayeux-server exited (${e.signal ?? e.code}) before it listened: ${p.stderr}`);
        }),
      ]);
      const m = LISTENING.exec(line)!;
      p.url = m[1]!;
      p.engine = m[2]!;
      return p;
    } catch (err) {
      await p.stop();
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** `http://127.0.0.1:<port>` (or https). */
  get origin(): string {
    return new URL(this.url).origin;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** The pids of the workers that reported listening, in order (with --workers). */
  get workerPids(): number[] {
    return this.lines.items.flatMap((l) => {
      const m = WORKER.exec(l);
      return m === null ? [] : [Number(m[1])];
    });
  }

  /** Waits until `count` workers in all have reported listening; returns their pids. */
  async workers(count: number, ms = 20_000): Promise<number[]> {
    await waitUntil(() => this.workerPids.length >= count || !this.alive, `${count} workers to listen`, ms, 20);
    if (this.workerPids.length < count) throw new Error(`bayeux-server exited with ${this.workerPids.length} of ${count} workers: ${this.stderr}`);
    return this.workerPids.slice(0, count);
  }

  /** SIGTERM, and how it ended within `ms` (the server drains, then exits by itself). */
  async terminate(ms = 15_000): Promise<Exit> {
    if (this.alive) this.child.kill('SIGTERM');
    const exit = await withTimeout(this.exited, 'bayeux-server to exit after SIGTERM', ms);
    running.delete(this);
    return exit;
  }

  /** Stops it: SIGTERM, then SIGKILL after 5 s (and the same for workers it reported). */
  async stop(): Promise<void> {
    running.delete(this);
    const workers = this.workerPids;
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    for (const pid of workers) killIfAlive(pid);
  }
}

/** SIGKILLs a process by PID if it is still there. */
export function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** True while a process with this PID exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
