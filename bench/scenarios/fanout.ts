/**
 * fan-out — S subscribers on one channel. Messages are published by app code inside the
 * target process (each server's own server-side publish API, the same for all targets),
 * so what is measured is delivery, not a publisher's HTTP request.
 *
 * Steady: `steadyRate` messages/s, `steadyCount` of them; latency from the publish call
 * to receipt by each subscriber (about one connect round trip per delivery). Bursts:
 * messages published back to back in one synchronous loop, so a burst is queued before
 * any response goes out and each server batches as well as it can (`--burst-mode turn`
 * publishes one per event-loop turn instead), each burst sized to deliver about
 * `burstDeliveries`; deliveries/s from the first publish to the last receipt, and
 * server CPU per delivery over the burst. A server that loses messages (faye-redis) does
 * not fail the run: each wait ends once nothing has arrived for `drainStall`, and what is
 * missing is counted in `lost@S`.
 */
import type { BenchConfig } from '../config.js';
import { sleep } from '../harness.js';
import { Histogram } from '../shared/histogram.js';
import type { ClientTransport, TargetName } from '../shared/protocol.js';
import { cpuOf, percent, redisDelta, redisInfo, withRig, type Log, type MetricRow, type Metrics, type Scenario } from './common.js';

const CHANNEL = '/bench/fan';

/** One fan-out run at `s` subscribers; the `websocket` family runs it with WebSocket clients too. */
export async function fanout(target: TargetName, cfg: BenchConfig, s: number, log: Log, transport: ClientTransport = 'long-polling'): Promise<Metrics> {
  const ws = transport === 'websocket' ? '-ws' : '';
  return withRig(target, cfg, {}, `fanout${ws}-${s}`, async (rig) => {
    const { gen } = rig;
    const spawned = await gen.spawn(s, { transport, subscribePrefix: CHANNEL, subscribeModulo: 0, publishPrefix: null, publishModulo: 0, concurrency: cfg.rampConcurrency }, cfg.settleTimeout * 2);
    const subs = spawned.established;
    await gen.waitHolding(subs, cfg.settleTimeout);
    await sleep(500);
    await gen.snapshot(true);

    // Steady rate.
    const steadyExpected = cfg.steadyCount * subs;
    const st0 = await rig.target.stats(false);
    const sr0 = await redisInfo(rig);
    const steadySnap = await rig.profiled(`fanout${ws}-steady-${s}`, async () => {
      await rig.target.publish(CHANNEL, cfg.steadyCount, 1000 / cfg.steadyRate, 'steady');
      return gen.waitDeliveries('steady', steadyExpected, cfg.drainTimeout, 50, cfg.drainStall);
    });
    const st1 = await rig.target.stats(false);
    const steadyRedis = redisDelta(sr0, await redisInfo(rig));
    const steady = steadySnap.tags.get('steady');
    const steadyGot = steady?.count ?? 0;
    const steadyHist = steady?.hist ?? new Histogram();

    // Bursts.
    const perBurst = Math.max(1, Math.round(cfg.burstDeliveries / Math.max(1, subs)));
    const burstHist = new Histogram();
    let burstDelivered = 0;
    let burstExpected = 0;
    let burstMs = 0;
    let burstCpu = 0;
    let genCpu = 0;
    let burstWall = 0;
    const burstRedis = { cpu: 0, scripts: 0, commands: 0 };
    await rig.profiled(`fanout${ws}-burst-${s}`, async () => {
      for (let b = 0; b < cfg.bursts; b++) {
        await sleep(cfg.burstGap);
        await gen.waitHolding(subs, 10_000);
        const g0 = await gen.snapshot(true);
        const c0 = await rig.target.stats(false);
        const r0 = await redisInfo(rig);
        const w0 = Date.now();
        const tag = `burst${b}`;
        const pub = await rig.target.publish(CHANNEL, perBurst, cfg.burstMode === 'tick' ? -1 : 0, tag);
        const snap = await gen.waitDeliveries(tag, perBurst * subs, cfg.drainTimeout, 20, cfg.drainStall);
        const c1 = await rig.target.stats(false);
        const rd = redisDelta(r0, await redisInfo(rig));
        burstRedis.cpu += rd.cpu;
        burstRedis.scripts += rd.scripts;
        burstRedis.commands += rd.commands;
        const t = snap.tags.get(tag);
        burstExpected += perBurst * subs;
        // With messages missing, the wait ran on past the last receipt: the window ends there.
        burstWall += (t && t.count < perBurst * subs ? Math.min(Date.now(), t.lastAt) : Date.now()) - w0;
        genCpu += snap.cpu - g0.cpu;
        burstCpu += cpuOf(c1) - cpuOf(c0);
        if (t) {
          burstDelivered += t.count;
          burstMs += t.lastAt - pub.t0;
          burstHist.merge(t.hist.toData());
        }
      }
    });
    const end = await gen.snapshot(false);
    const lost = steadyExpected - steadyGot + (burstExpected - burstDelivered);
    const ms = (us: number): number => us / 1000;
    const m: Metrics = {
      [`subscribers@${s}`]: subs,
      [`steadyP50@${s}`]: ms(steadyHist.quantile(0.5)),
      [`steadyP99@${s}`]: ms(steadyHist.quantile(0.99)),
      [`steadyMax@${s}`]: ms(steadyHist.max),
      [`steadyCpuPerDelivery@${s}`]: steadyGot > 0 ? (cpuOf(st1) - cpuOf(st0)) / steadyGot : NaN,
      [`burstSize@${s}`]: perBurst,
      [`burstDeliveriesPerSec@${s}`]: burstMs > 0 ? (burstDelivered / burstMs) * 1000 : NaN,
      [`burstCpuPerDelivery@${s}`]: burstDelivered > 0 ? burstCpu / burstDelivered : NaN,
      [`burstP50@${s}`]: ms(burstHist.quantile(0.5)),
      [`burstP99@${s}`]: ms(burstHist.quantile(0.99)),
      [`burstMax@${s}`]: ms(burstHist.max),
      [`burstServerCpu@${s}`]: percent(burstCpu, burstWall),
      [`burstGenCpu@${s}`]: percent(genCpu, burstWall),
      [`lost@${s}`]: lost,
      [`lostShare@${s}`]: steadyExpected + burstExpected > 0 ? (lost / (steadyExpected + burstExpected)) * 100 : NaN,
      [`errors@${s}`]: end.errors + end.rehandshakes + spawned.failed,
      // Server process and Redis together (the Redis engine's cost is split between them).
      [`steadyTotalCpuPerDelivery@${s}`]: steadyGot > 0 ? (cpuOf(st1) - cpuOf(st0) + steadyRedis.cpu) / steadyGot : NaN,
      [`burstTotalCpuPerDelivery@${s}`]: burstDelivered > 0 ? (burstCpu + burstRedis.cpu) / burstDelivered : NaN,
    };
    if (rig.redis) {
      const steadyPublishes = cfg.steadyCount;
      const burstPublishes = perBurst * cfg.bursts;
      Object.assign(m, {
        [`steadyRedisCpuPerDelivery@${s}`]: steadyGot > 0 ? steadyRedis.cpu / steadyGot : NaN,
        [`steadyScriptsPerPublish@${s}`]: steadyRedis.scripts / steadyPublishes,
        [`steadyScriptsPerDelivery@${s}`]: steadyGot > 0 ? steadyRedis.scripts / steadyGot : NaN,
        [`burstRedisCpuPerDelivery@${s}`]: burstDelivered > 0 ? burstRedis.cpu / burstDelivered : NaN,
        [`burstRedisCpu@${s}`]: percent(burstRedis.cpu, burstWall),
        [`burstScriptsPerPublish@${s}`]: burstRedis.scripts / burstPublishes,
        [`burstScriptsPerDelivery@${s}`]: burstDelivered > 0 ? burstRedis.scripts / burstDelivered : NaN,
        [`burstRedisCommandsPerPublish@${s}`]: burstRedis.commands / burstPublishes,
      } satisfies Metrics);
    }
    log(
      `    ${target}${ws ? ' over WebSocket' : ''} fan-out ${subs}: steady p50 ${m[`steadyP50@${s}`]!.toFixed(1)} ms p99 ${m[`steadyP99@${s}`]!.toFixed(1)} ms; ` +
        `bursts of ${perBurst}: ${Math.round(m[`burstDeliveriesPerSec@${s}`]!)} deliveries/s, ${m[`burstCpuPerDelivery@${s}`]!.toFixed(2)} µs CPU each, ` +
        `server ${m[`burstServerCpu@${s}`]!.toFixed(0)} %, generator ${m[`burstGenCpu@${s}`]!.toFixed(0)} %; lost ${lost}, errors ${m[`errors@${s}`]}` +
        (rig.redis
          ? `; Redis: ${m[`burstRedisCpuPerDelivery@${s}`]!.toFixed(2)} µs CPU per delivery, ${m[`burstScriptsPerPublish@${s}`]!.toFixed(1)} scripts per burst publish, ` +
            `${m[`steadyScriptsPerPublish@${s}`]!.toFixed(1)} per steady publish`
          : '') +
        (end.firstError ? ` (${end.firstError})` : ''),
    );
    return m;
  });
}

export const fanoutScenario: Scenario = {
  name: 'fanout',
  title: 'Fan-out to one channel',
  async run(target, cfg, log) {
    const out: Metrics = {};
    for (const s of cfg.fanSizes) Object.assign(out, await fanout(target, cfg, s, log));
    return out;
  },
  rows(cfg) {
    const rows: MetricRow[] = [];
    for (const s of cfg.fanSizes) {
      rows.push(
        { key: `steadyP50@${s}`, label: `steady ${cfg.steadyRate}/s, ${s} subs: latency p50`, unit: 'ms', digits: 1, lowerIsBetter: true },
        { key: `steadyP99@${s}`, label: `steady ${cfg.steadyRate}/s, ${s} subs: latency p99`, unit: 'ms', digits: 1, lowerIsBetter: true },
        { key: `steadyMax@${s}`, label: `steady ${cfg.steadyRate}/s, ${s} subs: latency max`, unit: 'ms', digits: 1, lowerIsBetter: true },
        { key: `steadyCpuPerDelivery@${s}`, label: `steady, ${s} subs: server CPU per delivery`, unit: 'µs', digits: 2, lowerIsBetter: true },
        { key: `burstDeliveriesPerSec@${s}`, label: `burst, ${s} subs: deliveries/s`, unit: '/s', digits: 0, lowerIsBetter: false },
        { key: `burstCpuPerDelivery@${s}`, label: `burst, ${s} subs: server CPU per delivery`, unit: 'µs', digits: 2, lowerIsBetter: true },
        { key: `burstP50@${s}`, label: `burst, ${s} subs: latency p50`, unit: 'ms', digits: 1, lowerIsBetter: true },
        { key: `burstP99@${s}`, label: `burst, ${s} subs: latency p99`, unit: 'ms', digits: 1, lowerIsBetter: true },
        { key: `burstServerCpu@${s}`, label: `burst, ${s} subs: server CPU`, unit: '%', digits: 0, lowerIsBetter: true },
        { key: `burstGenCpu@${s}`, label: `burst, ${s} subs: generator CPU`, unit: '%', digits: 0, lowerIsBetter: true },
        { key: `lost@${s}`, label: `${s} subs: messages lost`, unit: '', digits: 0, lowerIsBetter: true },
        { key: `errors@${s}`, label: `${s} subs: client errors`, unit: '', digits: 0, lowerIsBetter: true },
      );
    }
    return rows;
  },
};
