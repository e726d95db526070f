/**
 * A real `redis-server` for specs: started on a free loopback port with no persistence,
 * ready once it answers PING, stopped by its PID. `stop()` followed by `start()` on the
 * same instance restarts it on the same port (the outage specs use that). Extra arguments
 * make a Cluster node or a replica; a config file and `sentinel` make a Sentinel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

const running = new Set<RedisServer>();

/** Stops every redis-server started here and not stopped yet (for after/afterEach). */
export async function stopAllRedisServers(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((r) => r.stop()));
}

/** A free TCP port on 127.0.0.1 (the OS picks it; a race with another process is possible but unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** How to start a redis-server beyond the defaults. */
export interface RedisServerOptions {
  /** More command-line arguments, given the port (e.g. `--cluster-enabled yes`, `--replicaof …`). */
  args?: (port: number) => string[];
  /** A config file, given first (Sentinel needs one it can rewrite). */
  configFile?: string;
  /** Run as a Sentinel (`--sentinel`; no persistence options). */
  sentinel?: boolean;
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private exited: Promise<void> | null = null;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions = {},
  ) {}

  /** The PID of the running server (null when stopped). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a redis-server on a free port and waits until it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.start();
    return server;
  }

  /** Starts (or restarts) the server on its port. */
  async start(ms = 5000): Promise<void> {
    if (this.child) return;
    const o = this.options;
    const args = [
      ...(o.configFile ? [o.configFile] : []),
      ...(o.sentinel ? ['--sentinel'] : []),
      ...['--port', String(this.port), '--bind', '127.0.0.1', '--protected-mode', 'no'],
      ...(o.sentinel ? [] : ['--save', '', '--appendonly', 'no']),
      ...(o.args?.(this.port) ?? []),
    ];
    // Its own working directory: a replica's full sync writes an RDB file even with --save ''.
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: workDir() });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    running.add(this);
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    const deadline = Date.now() + ms;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr}`);
      try {
        await Promise.race([this.ping(), spawnError]);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('redis-server is not on PATH (run `node scripts/setup.mjs test`)');
        if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within ${ms} ms: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  private async ping(): Promise<void> {
    const c = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) !== 'PONG') throw new Error('no PONG');
    } finally {
      c.disconnect();
    }
  }

  /** A plain client on this server (the caller quits it). */
  client(): Redis {
    return new Redis({ port: this.port, host: '127.0.0.1' });
  }

  /** Stops the server by its PID (SIGKILL after 2 s if SIGTERM was not enough). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    running.delete(this);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

let dir: string | null = null;

/** One temporary directory for the servers of this test run, removed when the run exits. */
function workDir(): string {
  if (dir === null) {
    const made = mkdtempSync(path.join(os.tmpdir(), 'bayeux-redis-'));
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    dir = made;
  }
  return dir;
}
