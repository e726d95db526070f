/**
 * The server of spec/soak.spec.ts, run in a child process of its own so its heap can be
 * measured alone (no mocha, no clients in it). Start it with
 * `node --expose-gc --import tsx spec/support/soak-server.ts` (see {@link SoakServer.start});
 * it mounts a BayeuxServer on a free port of 127.0.0.1 with short session expiry, reports
 * `{ type: 'ready', port }` over IPC and answers two requests:
 *
 * - `{ type: 'gc-and-measure', ref }` → `{ type: 'measured', ref, memory }`: `global.gc()`
 *   twice (the second collects what the first's finalizers released), then `process.memoryUsage()`;
 * - `{ type: 'sessions', ref }` → `{ type: 'sessions', ref, n }`: `sessionCount()`.
 *
 * Server options come as JSON in the `SOAK_OPTIONS` environment variable. It exits when its
 * IPC channel closes, so a parent that dies without stopping it leaves nothing behind.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BayeuxServer, createHandler, type BayeuxServerOptions } from '../../index.js';
import { deferred, withTimeout } from './wait.js';

interface Request {
  type: 'gc-and-measure' | 'sessions';
  ref: number;
}

/** What the child answers. */
interface Reply {
  type: string;
  ref: number;
  memory?: NodeJS.MemoryUsage;
  n?: number;
  error?: string;
}

const isChild = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];

if (isChild) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('soak-server needs --expose-gc');
  const options = JSON.parse(process.env.SOAK_OPTIONS ?? '{}') as BayeuxServerOptions;
  const bayeux = new BayeuxServer(options);
  const handle = createHandler(bayeux, { path: '/cometd' });
  const server = http.createServer((req, res) =>
    handle(req, res, () => {
      res.writeHead(404).end();
    }),
  );
  bayeux.on('error', (err) => process.stderr.write(`soak-server error: ${String(err)}\n`));
  server.listen(0, '127.0.0.1', () => process.send!({ type: 'ready', port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const m = raw as Request;
    const answer = async (): Promise<Reply> => {
      if (m.type === 'gc-and-measure') {
        gc();
        // Let pending finalizers and closed sockets' callbacks run before the second pass.
        await new Promise((r) => setImmediate(r));
        gc();
        return { type: 'measured', ref: m.ref, memory: process.memoryUsage() };
      }
      if (m.type === 'sessions') return { type: 'sessions', ref: m.ref, n: await bayeux.sessionCount() };
      return { type: 'error', ref: m.ref, error: `unknown request ${JSON.stringify(m)}` };
    };
    answer().then(
      (r) => process.send!(r),
      (err: unknown) => process.send!({ type: 'error', ref: m.ref, error: String(err) }),
    );
  });
}

/** The parent's handle on a running soak server process. */
export class SoakServer {
  private refs = 0;
  private readonly pending = new Map<number, (r: Reply) => void>();
  readonly exited: Promise<void>;
  stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.on('message', (m) => {
      const r = m as Reply;
      this.pending.get(r.ref)?.(r);
      this.pending.delete(r.ref);
    });
    child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString();
      if (this.stderr.length > 20_000) this.stderr = this.stderr.slice(-10_000);
    });
  }

  /** The child's process id (it is stopped by this id, see {@link stop}). */
  get pid(): number {
    return this.child.pid!;
  }

  /** The Bayeux endpoint, `http://127.0.0.1:<port>/cometd`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/cometd`;
  }

  /** Forks the server with `node --expose-gc --import tsx` and waits for its port. */
  static async start(options: BayeuxServerOptions, ms = 20_000): Promise<SoakServer> {
    const child = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
      env: { ...process.env, SOAK_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    const onErr = (c: Buffer): void => void (stderr += c.toString());
    child.stderr!.on('data', onErr);
    const ready = deferred<number>();
    child.once('message', (m) => ready.resolve((m as { port: number }).port));
    child.once('exit', (code, signal) => ready.reject(new Error(`soak server exited (${signal ?? code}) before it was ready: ${stderr}`)));
    try {
      const port = await withTimeout(ready.promise, 'the soak server to report its port', ms);
      child.stderr!.off('data', onErr);
      return new SoakServer(child, port);
    } catch (err) {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      throw err;
    }
  }

  private async ask(type: Request['type'], ms: number): Promise<Reply> {
    const ref = ++this.refs;
    const d = deferred<Reply>();
    this.pending.set(ref, d.resolve);
    this.child.send({ type, ref });
    const r = await withTimeout(d.promise, `the soak server to answer '${type}'`, ms);
    if (r.type === 'error') throw new Error(`soak server: ${r.error}`);
    return r;
  }

  /** `process.memoryUsage()` of the server after two full garbage collections. */
  async gcAndMeasure(ms = 20_000): Promise<NodeJS.MemoryUsage> {
    return (await this.ask('gc-and-measure', ms)).memory!;
  }

  /** The server's `sessionCount()`. */
  async sessions(ms = 10_000): Promise<number> {
    return (await this.ask('sessions', ms)).n!;
  }

  /** Stops the process by its pid (SIGTERM, then SIGKILL after 3 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, 'SIGKILL');
    }, 3000);
    await this.exited;
    clearTimeout(timer);
  }
}
