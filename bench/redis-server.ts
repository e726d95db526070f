/**
 * The redis-server a Redis-engine bench run uses: started by the bench on a free loopback
 * port (no persistence), tracked with the other children and stopped by its PID. Also
 * what the bench reads from the Redis side: `INFO` (commands by name, CPU, memory) and,
 * for the round-trip count, `MONITOR`, with every script call named after the engine's
 * script it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { BUILD_DIR, buildChildren, trackChild } from './harness.js';

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** What `INFO` says, reduced to what the bench reports. */
export interface RedisInfo {
  /** Calls per command name (lower case, as `INFO commandstats` names them), `info` itself left out. */
  calls: Record<string, number>;
  /** used_cpu_user + used_cpu_sys, µs. */
  cpu: number;
  usedMemory: number;
  /** Commands run, Lua's included (`total_commands_processed`, our own INFO calls taken off). */
  commands: number;
}

export class BenchRedis {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private client: Redis | null = null;
  private infoCalls = 0;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts redis-server (found on PATH) on a free loopback port; resolves once it answers PING. */
  static async start(timeoutMs = 10_000): Promise<BenchRedis> {
    const r = new BenchRedis(await freePort());
    const child = spawn(
      'redis-server',
      ['--port', String(r.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--maxclients', '10000'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    r.child = child;
    trackChild(child);
    r.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    let spawnError: Error | null = null;
    child.once('error', (err) => (spawnError = err));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError !== null) {
        await r.stop();
        const code = (spawnError as NodeJS.ErrnoException).code;
        throw new Error(code === 'ENOENT' ? 'redis-server is not on PATH (node scripts/setup.mjs test installs it)' : String(spawnError));
      }
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr}`);
      const c = new Redis({ host: '127.0.0.1', port: r.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
      c.on('error', () => {});
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') {
          r.client = c;
          return r;
        }
      } catch {
        c.disconnect();
      }
      if (Date.now() > deadline) {
        await r.stop();
        throw new Error(`redis-server on port ${r.port} did not answer PING within ${timeoutMs} ms: ${stderr}`);
      }
      await new Promise((res) => setTimeout(res, 25));
    }
  }

  /** Reads commandstats, cpu, memory and stats. */
  async info(): Promise<RedisInfo> {
    const text = await this.client!.info('all');
    this.infoCalls++;
    const calls: Record<string, number> = {};
    let user = 0;
    let sys = 0;
    let usedMemory = 0;
    let commands = 0;
    for (const line of text.split('\r\n')) {
      if (line.startsWith('cmdstat_')) {
        const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
        if (m && m[1] !== 'info') calls[m[1]!] = Number(m[2]);
      } else if (line.startsWith('used_cpu_user:')) user = Number(line.slice(14));
      else if (line.startsWith('used_cpu_sys:')) sys = Number(line.slice(13));
      else if (line.startsWith('used_memory:')) usedMemory = Number(line.slice(12));
      else if (line.startsWith('total_commands_processed:')) commands = Number(line.slice(25));
    }
    // total_commands_processed counts the INFO being answered too.
    return { calls, cpu: Math.round((user + sys) * 1e6), usedMemory, commands: commands - this.infoCalls };
  }

  /**
   * Records every command Redis runs until the returned `stop` is called (MONITOR): calls
   * from clients (round trips) by script or command name, and the commands scripts run
   * inside Redis. Costly for Redis; only for the round-trip count, never in a timed window.
   */
  async monitor(): Promise<{ stop(): Promise<MonitorCounts> }> {
    const names = await scriptNames();
    const client = this.client!;
    const connNames = await this.connectionNames();
    const m = await client.duplicate().monitor();
    const counts: MonitorCounts = { roundTrips: {}, insideScripts: {}, byConnection: {} };
    let current = '';
    m.on('monitor', (_time: string, args: string[], source: string) => {
      const cmd = (args[0] ?? '').toLowerCase();
      if (source === 'lua') {
        const key = `${current} → ${cmd}`;
        counts.insideScripts[key] = (counts.insideScripts[key] ?? 0) + 1;
        return;
      }
      let name = cmd;
      if (cmd === 'evalsha') name = names.get((args[1] ?? '').toLowerCase()) ?? `evalsha ${String(args[1]).slice(0, 8)}`;
      else if (cmd === 'eval') name = names.get(sha1(args[1] ?? '')) ?? names.get(sha1(unquote(args[1] ?? ''))) ?? 'eval';
      if (name === 'bxMany') name = bxManyName(args);
      if (name === 'info' || name === 'monitor') return;
      current = name;
      counts.roundTrips[name] = (counts.roundTrips[name] ?? 0) + 1;
      const conn = connNames.get(source) ?? '';
      const per = (counts.byConnection[conn] ??= {});
      per[name] = (per[name] ?? 0) + 1;
    });
    return {
      async stop() {
        // Let work under way finish: until no command arrives for 300 ms (bounded).
        const total = (): number => Object.values(counts.roundTrips).reduce((a, b) => a + b, 0);
        for (let i = 0, last = -1; i < 30 && total() !== last; i++) {
          last = total();
          await new Promise((r) => setTimeout(r, 300));
        }
        // A PING through the monitored server marks the end: everything before it has been seen.
        const done = new Promise<void>((resolve) => {
          const onLine = (_t: string, args: string[]): void => {
            if ((args[0] ?? '').toLowerCase() === 'ping' && args[1] === 'bench-monitor-end') {
              m.off('monitor', onLine);
              resolve();
            }
          };
          m.on('monitor', onLine);
        });
        await client.ping('bench-monitor-end');
        await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
        m.disconnect();
        delete counts.roundTrips.ping;
        for (const per of Object.values(counts.byConnection)) delete per.ping;
        return counts;
      },
    };
  }

  /** Client address (`ip:port`, as MONITOR shows it) → connection name, for named connections (CLIENT LIST). */
  async connectionNames(): Promise<Map<string, string>> {
    const list = (await this.client!.call('CLIENT', 'LIST')) as string;
    const out = new Map<string, string>();
    for (const line of list.split('\n')) {
      const addr = /(?:^| )addr=(\S+)/.exec(line)?.[1];
      const name = /(?:^| )name=(\S+)/.exec(line)?.[1];
      if (addr && name) out.set(addr, name);
    }
    return out;
  }

  /** Stops redis-server by its PID (SIGKILL after 3 s). */
  async stop(): Promise<void> {
    this.client?.disconnect();
    this.client = null;
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

export interface MonitorCounts {
  /** Commands sent by clients (each one round trip), scripts by their engine name (`bxPublish`…). */
  roundTrips: Record<string, number>;
  /** Commands run inside scripts, as `script → command`. */
  insideScripts: Record<string, number>;
  /** Round trips by connection name (CLIENT SETNAME; the bench targets name theirs `bench-<pid>`; '' unnamed). */
  byConnection: Record<string, Record<string, number>>;
}

/** Undoes MONITOR's quoting of an argument (`\n`, `\"`, `\\`, `\xNN`). */
function unquote(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, c: string) => {
    if (c.length === 3) return String.fromCharCode(Number.parseInt(c.slice(1), 16));
    return c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === 'a' ? '\x07' : c === 'b' ? '\b' : c;
  });
}

function sha1(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

/**
 * SHA-1 → script name, from the transpiled copy of lib/engines/redis/scripts.ts the targets run
 * (so a script edited since cannot be misnamed).
 */
async function scriptNames(): Promise<Map<string, string>> {
  buildChildren();
  const file = path.join(BUILD_DIR, 'lib', 'engines', 'redis', 'scripts.js');
  const mod = (await import(pathToFileURL(file).href + `?t=${Date.now()}`)) as { SCRIPTS?: Record<string, unknown> };
  const out = new Map<string, string>();
  for (const [name, def] of Object.entries(mod.SCRIPTS ?? {})) {
    const lua = Array.isArray(def) ? def.find((x) => typeof x === 'string') : typeof def === 'string' ? def : (def as { lua?: unknown })?.lua;
    if (typeof lua === 'string') out.set(sha1(lua), name);
  }
  return out;
}

/**
 * A `bxMany` call by what it carries: several merged operations, or the one connect begin,
 * take (the piggyback take rides on the reply to a client's own request), hold end, or take
 * and end (a woken hold's) it holds.
 * Arguments: evalsha, sha, numkeys, key, T, P, F, me, then op, id, a, b per operation.
 */
function bxManyName(args: string[]): string {
  if (args.length - 8 > 4) return 'bxMany (merged)';
  if (args[8] === 'b') return 'bxMany (begin)';
  if (args[8] === 'e') return 'bxMany (end)';
  if (args[8] === 'x') return 'bxMany (take and end)';
  return args[10] === '1' ? 'bxMany (take, piggyback)' : 'bxMany (take)';
}
