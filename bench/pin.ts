/**
 * `--pin`: every server process on CPU 0, every generator process on CPU 1 (taskset). On a
 * two-core machine the server's fan-out and the generator reading it otherwise take turns on
 * both cores, and a latency figure then measures the machine rather than the server.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import createDebug from 'debug';

const debug = createDebug('bayeux:bench:pin');

const TASKSET = '/usr/bin/taskset';

export type PinRole = 'server' | 'generator';

const CPU: Readonly<Record<PinRole, number>> = { server: 0, generator: 1 };

/** What the report's machine and settings lines say of a pinned run. */
export const PIN_NOTE = 'server pinned to CPU 0, generator to CPU 1';

/** Thread id → Cpus_allowed_list of every thread of `pid` (threads that exit meanwhile are skipped). */
function allowedCpus(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      out.set(tid, /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '?');
    } catch {
      // the thread exited
    }
  }
  return out;
}

/**
 * Pins every thread of `pid` to its role's CPU and reads the result back from /proc, or
 * throws. `-a`: node starts its platform threads at once, so pinning only the main thread
 * would leave them free; threads started later inherit the main thread's mask. Called right
 * after the fork and again once the child is ready (for any thread started while taskset ran).
 */
export function pinProcess(pid: number, role: PinRole, name: string): void {
  const cpu = String(CPU[role]);
  if (!fs.existsSync(TASKSET)) throw new Error(`--pin: ${TASKSET} not found (it comes with util-linux); install it or run without --pin`);
  try {
    execFileSync(TASKSET, ['-acp', cpu, String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`--pin: taskset -acp ${cpu} ${pid} (${name}) failed: ${stderr || (err as Error).message}`);
  }
  let threads: Map<string, string>;
  try {
    threads = allowedCpus(pid);
  } catch (err) {
    throw new Error(`--pin: cannot read back the CPUs of ${name} (pid ${pid}; did it exit?): ${(err as Error).message}`);
  }
  const stray = [...threads].filter(([, list]) => list !== cpu);
  if (stray.length > 0) throw new Error(`--pin: ${name} (pid ${pid}) not pinned to CPU ${cpu}: ${stray.map(([t, l]) => `thread ${t} on ${l}`).join(', ')}`);
  debug('%s (pid %d, %s): Cpus_allowed_list %s on all %d threads', name, pid, role, cpu, threads.size);
}
