/**
 * What every target process shares: a node:http server with the same settings for all,
 * a count of open requests (responses not yet ended) that costs no per-request
 * listener, and the IPC commands the orchestrator sends (stats after forced GC, publish
 * from app code, stop).
 */
import fs from 'node:fs';
import http from 'node:http';
import inspector from 'node:inspector';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import v8 from 'node:v8';
import { preciseNow, type PublishResult, type TargetConfig, type TargetRequest, type TargetStats } from '../shared/protocol.js';

/** What a target offers the harness once mounted. */
export interface TargetHooks {
  /** Publishes from app code in this process (the fan-out publisher). */
  publish(channel: string, data: { t: number; g: string; s: number }): void;
  /** Live sessions, as the server counts them. */
  sessions(): number | Promise<number>;
  /** Turns the server's Prometheus metrics on or off (only `bayeux-metrics` has them). */
  metrics?(on: boolean): void;
}

export type MountTarget = (server: http.Server, config: TargetConfig) => TargetHooks | Promise<TargetHooks>;

let openRequests = 0;
let requests = 0;

/** Counts requests as their responses are created and ended (no listener, no extra field). */
class CountingResponse extends http.ServerResponse {
  constructor(...args: ConstructorParameters<typeof http.ServerResponse>) {
    super(...args);
    openRequests++;
    requests++;
  }
}
const baseEnd = http.ServerResponse.prototype.end;
CountingResponse.prototype.end = function end(this: http.ServerResponse, ...args: unknown[]) {
  if (!this.writableEnded) openRequests--;
  return (baseEnd as (...a: unknown[]) => http.ServerResponse).apply(this, args);
} as typeof baseEnd;

declare const gc: (() => void) | undefined;

async function collect(): Promise<void> {
  if (typeof gc !== 'function') return;
  // Two full collections with a turn between them, so finalizers and weak maps settle.
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
}

/** Open TCP connections, counted by net.Server itself (no listener per socket). */
function connections(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? NaN : n)));
}

async function stats(hooks: TargetHooks, forceGc: boolean, server: http.Server): Promise<TargetStats> {
  if (forceGc) await collect();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    rss: mem.rss,
    external: mem.external,
    openRequests,
    requests,
    connections: await connections(server),
    sessions: await hooks.sessions(),
  };
}

/**
 * Publishes `count` messages: `intervalMs` > 0 at that pace (timers); 0 one per
 * event-loop turn (setImmediate), as messages from network publishers would arrive, so
 * responses and reconnects interleave with the burst; < 0 all in one synchronous loop.
 */
function publish(hooks: TargetHooks, channel: string, count: number, intervalMs: number, tag: string): Promise<PublishResult> {
  const t0 = preciseNow();
  if (intervalMs < 0) {
    for (let i = 0; i < count; i++) hooks.publish(channel, { t: preciseNow(), g: tag, s: i });
    return Promise.resolve({ t0, t1: preciseNow(), published: count });
  }
  return new Promise((resolve) => {
    let i = 0;
    const tick = (): void => {
      hooks.publish(channel, { t: preciseNow(), g: tag, s: i });
      i++;
      if (i >= count) resolve({ t0, t1: preciseNow(), published: count });
      else if (intervalMs === 0) setImmediate(tick);
      else setTimeout(tick, Math.max(0, t0 + i * intervalMs - preciseNow()));
    };
    tick();
  });
}

let profiler: inspector.Session | null = null;

function post(method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) =>
    profiler!.post(method, params ?? {}, (err: Error | null, result?: unknown) => (err ? reject(err) : resolve(result))),
  );
}

/**
 * CPU profile of a measurement window only: the same V8 sampling profiler `node
 * --cpu-prof` uses, started and stopped on command, written as a .cpuprofile file.
 */
async function profile(action: 'start' | 'stop', file: string): Promise<object> {
  if (action === 'start') {
    if (profiler) return {};
    profiler = new inspector.Session();
    profiler.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 250 });
    await post('Profiler.start');
    return {};
  }
  if (!profiler) return {};
  const { profile: data } = (await post('Profiler.stop')) as { profile: object };
  profiler.disconnect();
  profiler = null;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(data));
  return { file };
}

/** Starts the target: server, mount, listen, then serves IPC commands. */
export async function runTarget(mount: MountTarget): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as TargetConfig;
  const server = http.createServer({ ServerResponse: CountingResponse });
  // The same HTTP settings for every target: keep idle keep-alive sockets (publishers'
  // second connections, churn) and never cut a held request.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  const hooks = await mount(server, config);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  const port = (server.address() as AddressInfo).port;

  process.on('message', (raw) => {
    const msg = raw as TargetRequest;
    const reply = (body: object): void => void process.send!({ rid: msg.rid, ...body });
    const fail = (err: unknown): void => reply({ error: String((err as Error)?.stack ?? err) });
    switch (msg.cmd) {
      case 'stats':
        stats(hooks, msg.gc, server).then((s) => reply(s), fail);
        break;
      case 'publish':
        publish(hooks, msg.channel, msg.count, msg.intervalMs, msg.tag).then((r) => reply(r), fail);
        break;
      case 'profile':
        profile(msg.action, msg.file).then((r) => reply(r), fail);
        break;
      case 'heapSnapshot':
        collect().then(() => {
          fs.mkdirSync(path.dirname(msg.file), { recursive: true });
          reply({ file: v8.writeHeapSnapshot(msg.file) });
        }, fail);
        break;
      case 'metrics':
        if (hooks.metrics) {
          hooks.metrics(msg.on);
          reply({});
        } else fail(new Error('this target has no metrics to turn on or off'));
        break;
      case 'stop':
        reply({});
        // process.exit writes the --cpu-prof profile, if one is being taken.
        setImmediate(() => process.exit(0));
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready', port, pid: process.pid });
}
