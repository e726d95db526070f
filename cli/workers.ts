/**
 * `--workers n`: a primary process forks n workers with node:cluster, each a whole
 * standalone server on the same port (the primary hands out the connections, WebSocket
 * upgrades included). Any worker may get any request of a client, which works because the
 * sessions are in Redis (main.ts refuses --workers without --redis).
 *
 * The primary replaces a worker that exits while it is not stopping (a crash, or a worker
 * drained on its own with SIGTERM), and on SIGTERM or SIGINT passes SIGTERM to every worker,
 * waits for them to drain and exit, and exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import createDebug from 'debug';
import type { CliConfig } from './config.js';
import { loadMetrics } from './endpoints.js';
import { engineName } from './engine.js';
import type { Log } from './log.js';
import { WORKER_CONFIG_ENV } from './sources.js';

const debug = createDebug('bayeux:cli:workers');

/** What a worker tells the primary once it listens. */
export interface ListeningNotice {
  type: 'bayeux-server:listening';
  url: string;
}

/** The configuration a worker was forked with, or null in any other process. */
export function workerConfig(): CliConfig | null {
  const json = process.env[WORKER_CONFIG_ENV];
  return cluster.isWorker && json !== undefined ? (JSON.parse(json) as CliConfig) : null;
}

/** In a worker: tells the primary where it listens (the primary prints it). */
export function reportListening(url: string): void {
  const notice: ListeningNotice = { type: 'bayeux-server:listening', url };
  process.send?.(notice);
}

/** Runs the primary: forks the workers and looks after them until SIGTERM or SIGINT. */
export async function runPrimary(config: CliConfig, log: Log): Promise<void> {
  const count = config.workers ?? 1;
  if (config.metrics) {
    // Said once here rather than by every worker.
    const metrics = await loadMetrics();
    if (!metrics.ok) log.warn(metrics.warning);
  }
  const env = { [WORKER_CONFIG_ENV]: JSON.stringify(config) };
  const listening = new Set<Worker>();
  let announced = false;
  let stopping = false;

  const fork = (): void => {
    const worker = cluster.fork(env);
    debug('forked worker %d (pid %d)', worker.id, worker.process.pid);
    worker.on('message', (m: Partial<ListeningNotice>) => {
      if (m?.type !== 'bayeux-server:listening') return;
      listening.add(worker);
      if (!announced) {
        announced = true;
        log.info(`bayeux-server listening on ${m.url} (engine ${engineName(config)}, pid ${process.pid}, ${count} workers)`);
      }
      log.info(`worker ${worker.process.pid} listening on ${m.url}`);
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const how = signal ?? `exit code ${code}`;
    const hadListened = listening.delete(worker);
    if (stopping) {
      debug('worker %d exited (%s)', worker.process.pid, how);
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    if (!hadListened) {
      // It never got as far as listening (port taken, Redis module missing, …): forking
      // another would fail the same way, in a loop.
      log.warn(`worker ${worker.process.pid} exited (${how}) before it listened; not replacing it`);
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.warn('no worker left; exiting');
        process.exit(1);
      }
      return;
    }
    log.warn(`worker ${worker.process.pid} exited (${how}); forking a replacement`);
    fork();
  });

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    debug('%s: stopping %d workers', signal, workers.length);
    if (workers.length === 0) process.exit(0);
    // Each drains (its clients reconnect to the others, then to nothing) and exits by itself.
    for (const w of workers) w.process.kill('SIGTERM');
    setTimeout(() => {
      log.warn(`workers still running ${config.drainTimeout + 10_000} ms after ${signal}; killing them`);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(0);
    }, config.drainTimeout + 10_000).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  for (let i = 0; i < count; i++) fork();
}
