/**
 * Root hook (registered in .mocharc.json): the suite runs without a forced exit (`"exit":
 * false`), so a leaked timer, socket or Redis connection keeps the process alive. A few
 * seconds after the last test, this prints what is still holding it and exits with code 1,
 * so a leak fails the run with its cause named instead of hanging. The timer is unref'd: a
 * clean suite exits before it fires.
 *
 * The lone Timeout that once made the suite force its exit was a Faye client's dispatcher
 * retry timer: FayeClient.close() stopped a client whose handshake was still in flight, and
 * the late reply (a denied handshake in security-policy's "interval 0" storm) brought it
 * back to re-handshake against the stopped server every `retry` seconds. The hard stop in
 * spec/support/faye-client.ts now ignores late replies and drops pending messages.
 */
import type { AddressInfo } from 'node:net';

const GRACE_MS = 5000;

/**
 * With `LEAK_TRACE_TIMERS=1`, where each pending timer was created (timers are resources,
 * not handles, so the report can name them only this way). Off by default: capturing a
 * stack per timer slows the suite down.
 */
const timerOrigins = new Map<NodeJS.Timeout, string>();
if (process.env.LEAK_TRACE_TIMERS === '1') traceTimers();

function traceTimers(): void {
  const originalSet = globalThis.setTimeout;
  const originalClear = globalThis.clearTimeout;
  const traced = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t: NodeJS.Timeout = originalSet((...a: unknown[]) => {
      timerOrigins.delete(t);
      fn(...a);
    }, ms, ...args);
    timerOrigins.set(t, new Error('timer created').stack ?? '');
    return t;
  }) as unknown as typeof setTimeout;
  globalThis.setTimeout = traced;
  globalThis.clearTimeout = ((t: NodeJS.Timeout | undefined) => {
    if (t !== undefined) timerOrigins.delete(t);
    originalClear(t);
  }) as typeof clearTimeout;
}

/** Stacks of the traced timers still pending and keeping the process alive. */
function pendingTimers(): string {
  let out = '';
  for (const [t, stack] of timerOrigins) if (t.hasRef()) out += `  Timeout created at:\n${stack.split('\n').slice(2, 9).join('\n')}\n`;
  return out;
}

function describeHandle(h: unknown): string {
  const name = (h as object | null)?.constructor?.name ?? typeof h;
  if (name === 'Server') return `Server ${JSON.stringify((h as { address(): AddressInfo | string | null }).address())}`;
  if (name === 'Socket' || name === 'TLSSocket') {
    const s = h as { localPort?: number; remoteAddress?: string; remotePort?: number };
    return `${name} :${s.localPort} -> ${s.remoteAddress}:${s.remotePort}`;
  }
  if (name === 'ChildProcess') return `ChildProcess ${(h as { spawnargs?: string[] }).spawnargs?.join(' ')}`;
  return name;
}

export const mochaHooks = {
  afterAll(): void {
    const timer = setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
      process.stderr.write(
        `\nThe suite ended ${GRACE_MS} ms ago and something still keeps the process alive:\n` +
          `  active resources: ${process.getActiveResourcesInfo().join(', ')}\n` +
          handles.map((h) => `  ${describeHandle(h)}\n`).join('') +
          pendingTimers(),
      );
      // Mocha's own exit listener (registered when the run ended) sets the exit code from the
      // failure count; this one comes after it.
      process.on('exit', () => (process.exitCode = 1));
      process.exit(1);
    }, GRACE_MS);
    timer.unref();
  },
};
