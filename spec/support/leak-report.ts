/**
 * Root hook (registered in .mocharc.json). The suite does not force its exit, so a leaked
 * timer, socket or Redis connection would keep the process alive: a few seconds after the
 * last test, this prints what is still holding it and exits with code 1, so a leak fails
 * the run with its cause named instead of hanging. The timer is unref'd: a clean suite
 * exits before it fires.
 */
import type { AddressInfo } from 'node:net';

const GRACE_MS = 5000;

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
          handles.map((h) => `  ${describeHandle(h)}\n`).join(''),
      );
      // Mocha's own exit listener (registered when the run ended) sets the exit code from the
      // failure count; this one comes after it.
      process.on('exit', () => (process.exitCode = 1));
      process.exit(1);
    }, GRACE_MS);
    timer.unref();
  },
};
