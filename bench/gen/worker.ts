/**
 * A load-generator process. The orchestrator forks several; each owns its simulated
 * clients and sockets (a process may hold at most ~20k descriptors) and answers
 * commands over IPC.
 */
import type {
  ChurnResult,
  ChurnSpec,
  ClientTransport,
  PublishLoopResult,
  SpawnResult,
  SpawnSpec,
  WorkerConfig,
  WorkerRequest,
} from '../shared/protocol.js';
import { preciseNow } from '../shared/protocol.js';
import { BayeuxClient, type ClientRole } from './client.js';
import { GenContext } from './context.js';
import { WsBayeuxClient } from './ws-client.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const ctx = new GenContext({ host: config.host, port: config.port, path: config.path }, config.addrs, config.ports ?? []);
type SimClient = BayeuxClient | WsBayeuxClient;
const clients: SimClient[] = [];
const publishers: SimClient[] = [];
const churning = new Set<SimClient>();

function newClient(transport: ClientTransport | undefined, role: ClientRole): SimClient {
  return transport === 'websocket' ? new WsBayeuxClient(ctx, role) : new BayeuxClient(ctx, role);
}

function channelFor(prefix: string, modulo: number, index: number): string {
  return modulo > 0 ? prefix + (index % modulo) : prefix;
}

function spawn(spec: SpawnSpec): Promise<SpawnResult> {
  return new Promise((resolve) => {
    let next = 0;
    let active = 0;
    let established = 0;
    let failed = 0;
    if (spec.count === 0) return resolve({ established, failed });
    const launch = (): void => {
      while (active < spec.concurrency && next < spec.count) {
        const index = spec.first + next++;
        active++;
        const client = newClient(spec.transport, {
          subscription: spec.subscribePrefix === null ? null : channelFor(spec.subscribePrefix, spec.subscribeModulo, index),
          publishChannel: spec.publishPrefix === null ? null : channelFor(spec.publishPrefix, spec.publishModulo, index),
        });
        clients.push(client);
        if (spec.publishPrefix !== null) publishers.push(client);
        client.setup((ok) => {
          active--;
          if (ok) {
            established++;
            client.startLoop();
          } else {
            failed++;
            client.stop();
          }
          if (established + failed === spec.count) resolve({ established, failed });
          else launch();
        });
      }
    };
    launch();
  });
}

function publishAll(durationMs: number, tag: string): Promise<PublishLoopResult> {
  return new Promise((resolve) => {
    const until = preciseNow() + durationMs;
    const acks0 = ctx.acks;
    const nacks0 = ctx.nacks;
    let pending = publishers.length;
    let unanswered = 0;
    if (pending === 0) return resolve({ acks: 0, nacks: 0, unanswered: 0 });
    for (const p of publishers) {
      p.publishLoop(until, tag, (u) => {
        unanswered += u;
        if (--pending === 0) resolve({ acks: ctx.acks - acks0, nacks: ctx.nacks - nacks0, unanswered });
      });
    }
  });
}

function churn(spec: ChurnSpec): Promise<ChurnResult> {
  return new Promise((resolve) => {
    const result: ChurnResult = { created: 0, disconnected: 0, vanished: 0, failed: 0 };
    const until = spec.durationMs > 0 ? preciseNow() + spec.durationMs : Infinity;
    const limit = spec.durationMs > 0 ? Infinity : spec.sessions;
    let started = 0;
    let active = 0;
    let index = config.index * 1_000_000;
    const more = (): boolean => started < limit && preciseNow() < until;
    const one = (): void => {
      started++;
      active++;
      const i = index++;
      const client = newClient(spec.transport, { subscription: '/bench/churn/' + (i % Math.max(1, spec.channels)), publishChannel: null });
      churning.add(client);
      const end = (outcome: keyof ChurnResult): void => {
        churning.delete(client);
        ctx.clients--;
        result[outcome]++;
        active--;
        if (more()) one();
        else if (active === 0) resolve(result);
      };
      client.setup((ok) => {
        if (!ok) {
          client.stop();
          return end('failed');
        }
        result.created++;
        client.finish(Math.random() < spec.vanish, spec.holdMs, end);
      });
    };
    for (let k = 0; k < spec.concurrency && more(); k++) one();
    if (active === 0) resolve(result);
  });
}

function reply(rid: number, body: object): void {
  process.send!({ rid, ...body });
}

process.on('message', (raw) => {
  const msg = raw as WorkerRequest;
  switch (msg.cmd) {
    case 'spawn':
      void spawn(msg.spec).then((r) => reply(msg.rid, r));
      break;
    case 'snapshot':
      reply(msg.rid, ctx.snapshot(msg.reset));
      break;
    case 'publish':
      void publishAll(msg.durationMs, msg.tag).then((r) => reply(msg.rid, r));
      break;
    case 'churn':
      void churn(msg.spec).then((r) => reply(msg.rid, r));
      break;
    case 'close':
      for (const c of clients) c.stop();
      for (const c of churning) c.stop();
      reply(msg.rid, {});
      setImmediate(() => process.exit(0));
      break;
  }
});

// The orchestrator went away: do not linger.
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', pid: process.pid });
