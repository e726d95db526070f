/**
 * How busy the machine was while a bench ran, and how much of that was the bench itself.
 *
 * The machine is shared, so a reader needs to know whether other work competed with the
 * run. Rather than state it, we measure it: the machine's busy CPU time (`/proc/stat`)
 * against the CPU time of this process and every child it started and has waited for
 * (`/proc/self/stat`: utime, stime, cutime, cstime). Everything the bench starts is a
 * direct child (targets, generators, redis-server) that is stopped and reaped before
 * `finish()`, so the difference is other work on the machine.
 */
import fs from 'node:fs';
import os from 'node:os';

/** Clock ticks per second of `/proc` CPU counters (USER_HZ; 100 on Linux). */
const TICKS = 100;

interface MachineTicks {
  busy: number;
}

function machineTicks(): MachineTicks | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f as number[];
    return { busy: user! + nice! + system! + irq! + softirq! + steal! };
  } catch {
    return null;
  }
}

/** CPU ticks of this process plus its reaped children. */
function ownTicks(): number | null {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return null;
  }
}

/** CPU over a span of wall time, in core-seconds. */
export interface CpuSplit {
  seconds: number;
  cores: number;
  /** Busy CPU of the whole machine. */
  machine: number;
  /** This bench and the processes it started. */
  own: number;
  /** The rest: other work on the machine. */
  other: number;
  loadStart: number;
  loadEnd: number;
}

export class MachineCpu {
  private constructor(
    private readonly t0: number,
    private readonly m0: MachineTicks | null,
    private readonly o0: number | null,
    private readonly load0: number,
  ) {}

  static start(): MachineCpu {
    return new MachineCpu(Date.now(), machineTicks(), ownTicks(), os.loadavg()[0]!);
  }

  /** Call after every child started since `start()` has exited. Null where /proc is missing. */
  finish(): CpuSplit | null {
    const m1 = machineTicks();
    const o1 = ownTicks();
    if (!this.m0 || !m1 || this.o0 === null || o1 === null) return null;
    const machine = (m1.busy - this.m0.busy) / TICKS;
    // The two counters are sampled by the kernel apart, so ours can come out a tick or two
    // above the machine's over a short run: ours is then all of it.
    const own = Math.min((o1 - this.o0) / TICKS, machine);
    return {
      seconds: (Date.now() - this.t0) / 1000,
      cores: os.cpus().length,
      machine,
      own,
      other: Math.max(0, machine - own),
      loadStart: this.load0,
      loadEnd: os.loadavg()[0]!,
    };
  }
}

/** The machine's busy CPU counter now, for a window whose own CPU is measured apart. */
export interface MachineTicksMark {
  ticks: MachineTicks | null;
}

export function machineMark(): MachineTicksMark {
  return { ticks: machineTicks() };
}

/** Busy CPU of the whole machine since `since`, in core-seconds (NaN without /proc). */
export function machineBusySince(since: MachineTicksMark): number {
  const m = machineTicks();
  return m && since.ticks ? (m.busy - since.ticks.busy) / TICKS : NaN;
}

const pct = (coreSeconds: number, s: CpuSplit): string => `${((coreSeconds / s.seconds) * 100).toFixed(0)} %`;

/**
 * One sentence for a report, built from the measured split. The percentages are of one
 * core (200 % is both cores of a 2-core machine fully busy).
 */
export function cpuNote(s: CpuSplit | null | undefined): string {
  if (!s) return 'Machine load: not measured (no /proc).';
  // Saved runs may carry an own figure a tick above the machine's (see finish()).
  s = { ...s, own: Math.min(s.own, s.machine) };
  const share = s.machine > 0 ? s.other / s.machine : 0;
  const verdict =
    share < 0.05
      ? 'the machine was otherwise quiet'
      : share < 0.2
        ? 'other work was light'
        : `other work took ${(share * 100).toFixed(0)} % of the busy CPU, so figures that depend on wall time (latency, rates) are pessimistic; CPU per operation is less affected`;
  return (
    `Machine CPU over the run (${(s.seconds / 60).toFixed(1)} min, ${s.cores} cores = ${s.cores * 100} %): ` +
    `${pct(s.machine, s)} busy, of which this bench and the processes it started ${pct(s.own, s)} ` +
    `and other work ${pct(s.other, s)}; ${verdict}. ` +
    `Load average (1 min) ${s.loadStart.toFixed(1)} at the start, ${s.loadEnd.toFixed(1)} at the end.`
  );
}
