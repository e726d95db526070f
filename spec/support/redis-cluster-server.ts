/**
 * Real Redis topologies for specs, on loopback, built from {@link RedisServer}s (each
 * stopped by its PID):
 *
 * - {@link RedisClusterServer}: N `redis-server --cluster-enabled yes` nodes (free ports for
 *   clients and for the cluster bus), joined by `redis-cli --cluster create … --cluster-replicas 0`,
 *   ready once every node reports `cluster_state:ok` and knows the others.
 * - {@link RedisSentinelServer}: a master, an optional replica and one Sentinel monitoring the
 *   master (`sentinel monitor <name> 127.0.0.1 <port> 1`, short down-after), ready once the
 *   Sentinel names the master.
 *
 * Their files (cluster configs, the Sentinel config) live in a temporary directory removed on stop.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer, freePort } from './redis-server.js';

const running = new Set<{ stop(): Promise<void> }>();

/** Stops every cluster and sentinel set-up started here and not stopped yet (for after/afterEach). */
export async function stopAllRedisTopologies(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((t) => t.stop()));
}

/** Runs a short command with a time limit; rejects with its output on failure. */
function run(command: string, args: string[], ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: ms }, (err, stdout, stderr) => {
      if (err) {
        const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ` (${command} is not on PATH: run \`node scripts/setup.mjs test\`)` : '';
        reject(new Error(`${command} ${args.join(' ')} failed${hint}: ${err.message}\n${stdout}\n${stderr}`));
      } else resolve(stdout);
    });
  });
}

/** A plain client that fails fast (for set-up checks); the caller disconnects it. */
function probe(port: number): Redis {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on('error', () => {});
  return c;
}

/** Polls `check` every 50 ms until it is true; fails with `what` after `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function info(port: number, section: string): Promise<string> {
  const c = probe(port);
  try {
    await c.connect();
    return section === 'cluster' ? ((await c.cluster('INFO')) as string) : await c.info(section);
  } finally {
    c.disconnect();
  }
}

/** A Redis Cluster of `size` masters on 127.0.0.1. */
export class RedisClusterServer {
  private constructor(
    readonly nodes: RedisServer[],
    private readonly dir: string,
  ) {}

  /** Addresses of the nodes, for `redisEngine({ cluster })` or ioredis `new Cluster(...)`. */
  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  static async start(size = 3, ms = 20_000): Promise<RedisClusterServer> {
    const dir = mkdtempSync(join(tmpdir(), 'bayeux-cluster-'));
    const nodes: RedisServer[] = [];
    const cluster = new RedisClusterServer(nodes, dir);
    running.add(cluster);
    try {
      for (let i = 0; i < size; i++) {
        const busPort = await freePort();
        nodes.push(
          await RedisServer.start({
            args: (port) => [
              '--cluster-enabled', 'yes',
              '--cluster-config-file', join(dir, `nodes-${port}.conf`),
              '--cluster-port', String(busPort),
              '--cluster-node-timeout', '3000',
              '--dir', dir,
            ],
          }),
        );
      }
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], ms);
      await until(
        async () => {
          for (const n of nodes) {
            const text = await info(n.port, 'cluster');
            if (!/cluster_state:ok/.test(text) || !new RegExp(`cluster_known_nodes:${size}\\b`).test(text)) return false;
          }
          return true;
        },
        `the cluster to report cluster_state:ok on all ${size} nodes`,
        ms,
      );
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** The port of the master serving `key`'s slot. */
  async nodeOf(key: string): Promise<number> {
    const c = probe(this.nodes[0]!.port);
    try {
      await c.connect();
      const slot = (await c.cluster('KEYSLOT', key)) as number;
      const ranges = (await c.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no node serves slot ${slot}`);
      return range[2][1];
    } finally {
      c.disconnect();
    }
  }

  /** The slot of a key. */
  async slotOf(key: string): Promise<number> {
    const c = probe(this.nodes[0]!.port);
    try {
      await c.connect();
      return (await c.cluster('KEYSLOT', key)) as number;
    } finally {
      c.disconnect();
    }
  }

  async stop(): Promise<void> {
    running.delete(this);
    await Promise.all(this.nodes.map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A master (and optionally a replica) watched by one Sentinel, on 127.0.0.1. */
export class RedisSentinelServer {
  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer | null,
    readonly sentinel: RedisServer,
    readonly name: string,
    private readonly dir: string,
  ) {}

  /** For `redisEngine({ sentinels, name })`. */
  get sentinels(): { host: string; port: number }[] {
    return [{ host: '127.0.0.1', port: this.sentinel.port }];
  }

  static async start(options: { replica?: boolean; name?: string } = {}, ms = 15_000): Promise<RedisSentinelServer> {
    const name = options.name ?? 'mymaster';
    const dir = mkdtempSync(join(tmpdir(), 'bayeux-sentinel-'));
    const parts: RedisServer[] = [];
    const stopParts = async () => {
      await Promise.all(parts.map((p) => p.stop()));
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      const master = await RedisServer.start();
      parts.push(master);
      let replica: RedisServer | null = null;
      if (options.replica) {
        replica = await RedisServer.start({ args: () => ['--replicaof', '127.0.0.1', String(master.port), '--replica-announce-ip', '127.0.0.1'] });
        parts.push(replica);
        await until(async () => /master_link_status:up/.test(await info(replica!.port, 'replication')), 'the replica to sync with the master', ms);
      }
      const config = join(dir, 'sentinel.conf');
      writeFileSync(
        config,
        [
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          'sentinel resolve-hostnames no',
          `dir ${dir}`,
          '',
        ].join('\n'),
      );
      const sentinel = await RedisServer.start({ configFile: config, sentinel: true });
      parts.push(sentinel);
      const set = new RedisSentinelServer(master, replica, sentinel, name, dir);
      running.add(set);
      await until(async () => (await set.currentMaster()) === master.port, 'the sentinel to name the master', ms);
      if (replica) {
        await until(
          async () => {
            const c = probe(sentinel.port);
            try {
              await c.connect();
              const replicas = (await c.call('SENTINEL', 'REPLICAS', name)) as string[][];
              return replicas.some((r) => r.includes(String(replica!.port)));
            } finally {
              c.disconnect();
            }
          },
          'the sentinel to discover the replica',
          ms,
        );
      }
      return set;
    } catch (err) {
      await stopParts();
      throw err;
    }
  }

  /** The port of the master the Sentinel names now. */
  async currentMaster(): Promise<number | null> {
    const c = probe(this.sentinel.port);
    try {
      await c.connect();
      const addr = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name)) as [string, string] | null;
      return addr ? Number(addr[1]) : null;
    } finally {
      c.disconnect();
    }
  }

  async stop(): Promise<void> {
    running.delete(this);
    await Promise.all([this.sentinel, this.master, this.replica].map((p) => p?.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
