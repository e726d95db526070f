/**
 * The engine's bound on Redis commands (`commandTimeoutMs`): a command fails as unavailable
 * when Redis has answered NOTHING for that long while it waited — not when it alone waited
 * that long.
 *
 * A per-command timer (ioredis's `commandTimeout`) cannot tell a silent Redis from a busy
 * process. When one publish wakes 16,000 held connects in a process, writing their
 * responses keeps the event loop busy for seconds; the timers phase then runs before the
 * poll phase reads the replies already waiting in the socket, and commands Redis answered
 * in time fail — their sessions get 503 and, for a take, lose the mail Redis handed over
 * (issue 13 item 6). Replies on one connection come in order, so while replies keep
 * arriving Redis is alive and a command still waiting is behind others, not lost.
 *
 * So one timer for all commands: when it fires, the verdict waits for the poll phase of the
 * same loop turn (setImmediate) to read what has arrived. If no command settled within the
 * bound, every waiting command fails with one error; otherwise the timer is set again from
 * the last reply. One Set entry per command in flight, no timer per command.
 */
import { performance } from 'node:perf_hooks';

interface Waiting {
  reject(err: Error): void;
}

export class ReplyWatchdog {
  private readonly waiting = new Set<Waiting>();
  /** When a command last settled, or when the first of those now waiting was sent. */
  private lastReply = 0;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(
    private readonly boundMs: number,
    /** Called once per stall, before the waiting commands fail. */
    private readonly onStall: (err: Error) => void = () => {},
  ) {}

  /**
   * `command`'s outcome, unless Redis stays silent for the bound first (then a rejection).
   * `late` gets the value of a command failed that way whose reply came afterwards: Redis ran
   * it, and what it took (a take's mail) is then in the process alone.
   */
  watch<T>(command: Promise<T>, late?: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = { reject };
      if (this.waiting.size === 0) this.lastReply = performance.now();
      this.waiting.add(entry);
      this.arm();
      command.then(
        (value) => {
          // Already failed by a stall: only `late` hears of it.
          if (!this.waiting.delete(entry)) return late?.(value);
          this.lastReply = performance.now();
          resolve(value);
        },
        (err: unknown) => {
          if (!this.waiting.delete(entry)) return;
          this.lastReply = performance.now();
          reject(err);
        },
      );
    });
  }

  /** Stops the timer (the engine closed); commands still waiting settle as their replies do. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer !== null || this.checking) return;
    const left = Math.max(1, this.lastReply + this.boundMs - performance.now());
    this.timer = setTimeout(this.fire, left);
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = null;
    // Replies already in the socket are read in this turn's poll phase, after the timers.
    this.checking = true;
    setImmediate(this.verdict);
  };

  private readonly verdict = (): void => {
    this.checking = false;
    if (this.waiting.size === 0) return;
    const silent = performance.now() - this.lastReply;
    if (silent < this.boundMs) {
      this.arm();
      return;
    }
    const err = new Error(`Redis answered nothing for ${Math.round(silent)} ms (commandTimeoutMs ${this.boundMs})`);
    const failed = [...this.waiting];
    this.waiting.clear();
    this.onStall(err);
    for (const w of failed) w.reject(err);
  };
}
