/**
 * publish — P publisher clients, each publishing over the wire to its own channel in a
 * closed loop (one publish in flight, next one on the acknowledgement) on a second
 * connection, while its connect is held on the first; each channel has a few subscriber
 * sessions. Acknowledged publishes/s, deliveries/s, server CPU per publish.
 */
import type { BenchConfig } from '../config.js';
import { sleep } from '../harness.js';
import { preciseNow, type TargetName } from '../shared/protocol.js';
import { cpuOf, percent, redisDelta, redisInfo, withRig, type Log, type MetricRow, type Metrics, type Scenario } from './common.js';

const PREFIX = '/bench/pub/';

async function publish(target: TargetName, cfg: BenchConfig, log: Log): Promise<Metrics> {
  return withRig(target, cfg, {}, 'publish', async (rig) => {
    const { gen } = rig;
    const p = cfg.publishers;
    const m = cfg.subsPerChannel;
    // Publishers first, so they take the global indices 0…P-1 (channel i for publisher i).
    const pubs = await gen.spawn(p, { subscribePrefix: null, subscribeModulo: 0, publishPrefix: PREFIX, publishModulo: p, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
    const subs = await gen.spawn(p * m, { subscribePrefix: PREFIX, subscribeModulo: p, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
    await gen.waitHolding(pubs.established + subs.established, cfg.settleTimeout);
    await sleep(500);
    const g0 = await gen.snapshot(true);
    const c0 = await rig.target.stats(false);
    const r0 = await redisInfo(rig);
    const t0 = Date.now();
    const tp0 = preciseNow();
    const loops = await rig.profiled('publish', () => Promise.all(rig.workers.map((w) => w.publishLoop(cfg.pubDuration, 'pub'))));
    const wall = Date.now() - t0;
    const c1 = await rig.target.stats(false);
    const rd = redisDelta(r0, await redisInfo(rig));
    const acks = loops.reduce((a, r) => a + r.acks, 0);
    const nacks = loops.reduce((a, r) => a + r.nacks, 0);
    const unanswered = loops.reduce((a, r) => a + r.unanswered, 0);
    const expected = acks * m;
    const snap = await gen.waitDeliveries('pub', expected, cfg.drainTimeout, 50, cfg.drainStall);
    const t = snap.tags.get('pub');
    const delivered = t?.count ?? 0;
    // Deliveries may trail the last acknowledgement a little: count them over their own span.
    const deliverMs = t ? Math.max(wall, t.lastAt - tp0) : wall;
    const cpu = cpuOf(c1) - cpuOf(c0);
    const out: Metrics = {
      publishesPerSec: (acks / wall) * 1000,
      deliveriesPerSec: (delivered / deliverMs) * 1000,
      cpuPerPublish: acks > 0 ? cpu / acks : NaN,
      latencyP50: t ? t.hist.quantile(0.5) / 1000 : NaN,
      latencyP99: t ? t.hist.quantile(0.99) / 1000 : NaN,
      serverCpu: percent(cpu, wall),
      genCpu: percent(snap.cpu - g0.cpu, wall),
      lost: expected - delivered,
      failedPublishes: nacks + unanswered,
      errors: snap.errors + snap.rehandshakes + pubs.failed + subs.failed,
      // Server process and Redis together (the Redis engine's cost is split between them).
      totalCpuPerPublish: acks > 0 ? (cpu + rd.cpu) / acks : NaN,
    };
    if (rig.redis) {
      Object.assign(out, {
        redisCpuPerPublish: acks > 0 ? rd.cpu / acks : NaN,
        redisCpu: percent(rd.cpu, wall),
        scriptsPerPublish: acks > 0 ? rd.scripts / acks : NaN,
        redisCommandsPerPublish: acks > 0 ? rd.commands / acks : NaN,
      } satisfies Metrics);
    }
    log(
      `    ${target} publish: ${pubs.established} publishers × ${m} subscribers: ${Math.round(out.publishesPerSec!)} publishes/s, ` +
        `${Math.round(out.deliveriesPerSec!)} deliveries/s, ${out.cpuPerPublish!.toFixed(1)} µs CPU per publish, server ${out.serverCpu!.toFixed(0)} %, ` +
        `generator ${out.genCpu!.toFixed(0)} %, lost ${out.lost}, failed ${out.failedPublishes}, errors ${out.errors}` +
        (rig.redis ? `; Redis ${out.redisCpu!.toFixed(0)} %, ${out.redisCpuPerPublish!.toFixed(1)} µs and ${out.scriptsPerPublish!.toFixed(2)} scripts per publish` : '') +
        (snap.firstError ? ` (${snap.firstError})` : ''),
    );
    return out;
  });
}

export const publishScenario: Scenario = {
  name: 'publish',
  title: 'Publishing clients',
  run: publish,
  rows(cfg) {
    const label = `${cfg.publishers} publishers × ${cfg.subsPerChannel} subs`;
    const rows: MetricRow[] = [
      { key: 'publishesPerSec', label: `${label}: acknowledged publishes/s`, unit: '/s', digits: 0, lowerIsBetter: false },
      { key: 'deliveriesPerSec', label: `${label}: deliveries/s`, unit: '/s', digits: 0, lowerIsBetter: false },
      { key: 'cpuPerPublish', label: `${label}: server CPU per publish`, unit: 'µs', digits: 1, lowerIsBetter: true },
      { key: 'latencyP50', label: `${label}: latency p50`, unit: 'ms', digits: 1, lowerIsBetter: true },
      { key: 'latencyP99', label: `${label}: latency p99`, unit: 'ms', digits: 1, lowerIsBetter: true },
      { key: 'serverCpu', label: `${label}: server CPU`, unit: '%', digits: 0, lowerIsBetter: true },
      { key: 'genCpu', label: `${label}: generator CPU`, unit: '%', digits: 0, lowerIsBetter: true },
      { key: 'lost', label: `${label}: messages lost`, unit: '', digits: 0, lowerIsBetter: true },
      { key: 'failedPublishes', label: `${label}: failed publishes`, unit: '', digits: 0, lowerIsBetter: true },
    ];
    return rows;
  },
};
