/**
 * The standalone server's few log lines: what an operator needs (where it listens, workers
 * coming and going, the engine going down and up, errors) on stdout and stderr, one line
 * each. Everything finer goes to `debug` (`DEBUG=bayeux:*`).
 */
export interface Log {
  /** A line on stdout (where it listens, a worker started). */
  info(line: string): void;
  /** A line on stderr. */
  warn(line: string): void;
  /** A line on stderr with the error's message. */
  error(what: string, err: unknown): void;
}

/** A log whose stderr lines start with `who` (`bayeux-server`, `bayeux-server worker 1234`). */
export function createLog(who: string): Log {
  return {
    info: (line) => void process.stdout.write(`${line}\n`),
    warn: (line) => void process.stderr.write(`${who}: ${line}\n`),
    error: (what, err) => void process.stderr.write(`${who}: ${what}: ${messageOf(err)}\n`),
  };
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
