/**
 * A small run of every bench scenario against bayeux-server and the bare node:http
 * "limit" server (a few hundred sessions, seconds each), so the bench cannot rot: the
 * runs must complete, report sane numbers and lose no messages. Performance itself is
 * shown by `npm run bench -- compare`, never by a timed test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseArgs, type BenchConfig } from '../bench/config.js';
import { killAllChildren } from '../bench/harness.js';
import { BEGIN_MARK, END_MARK, goals, markdownTable, scenarioTable, writeBetweenMarkers } from '../bench/report.js';
import { runScenario, SCENARIOS, type ScenarioOutcome } from '../bench/run.js';
import type { Metrics } from '../bench/scenarios/common.js';
import type { TargetName } from '../bench/shared/protocol.js';

const SMOKE: Partial<BenchConfig> = {
  targets: ['bayeux', 'limit'],
  rounds: 1,
  workers: 1,
  addrs: 2,
  rampConcurrency: 32,
  warmSessions: 20,
  settleTimeout: 20_000,
  idleSizes: [200],
  hbSizes: [200],
  hbTimeout: 1000,
  hbWindow: 2000,
  fanSizes: [200],
  steadyRate: 20,
  steadyCount: 10,
  bursts: 2,
  burstDeliveries: 4000,
  burstGap: 200,
  drainTimeout: 10_000,
  publishers: 20,
  subsPerChannel: 2,
  pubDuration: 1500,
  churnDuration: 1500,
  churnConcurrency: 20,
  vanish: 0.2,
  churnTimeout: 1000,
  churnMaxInterval: 1000,
  churnWait: 15_000,
  doc: '',
};

const config = parseArgs([], {}, SMOKE).config;
const quiet = (): void => {};

async function smoke(name: string): Promise<Map<TargetName, Metrics>> {
  const outcome: ScenarioOutcome = await runScenario(SCENARIOS[name]!, config, quiet);
  expect(outcome.failures, outcome.failures.join('\n')).to.deep.equal([]);
  for (const t of config.targets) expect(outcome.runs.get(t), `${name} ran against ${t}`).to.have.length(1);
  return outcome.medians;
}

function each(med: Map<TargetName, Metrics>, check: (m: Metrics, target: TargetName) => void): void {
  for (const t of config.targets) check(med.get(t)!, t);
}

describe('bench smoke run (bayeux-server and the bare node:http limit)', function () {
  this.timeout(60_000);
  after(() => killAllChildren());

  it('idle: every session holds a connect; heap per session and CPU per round trip are sane', async () => {
    each(await smoke('idle'), (m, t) => {
      expect(m['held@200'], `${t} held`).to.equal(200);
      expect(m['sessions@200'], `${t} sessions`).to.equal(200);
      expect(m['failed@200'], `${t} failed`).to.equal(0);
      expect(m['heapPerSession@200'], `${t} heap per session`).to.be.within(300, 100_000);
      expect(m['cpuPerRoundTrip@200'], `${t} CPU per round trip`).to.be.within(1, 20_000);
      // 200 sessions with a 1 s hold for a 2 s window: about 400 round trips.
      expect(m['roundTripsPerSec@200'], `${t} round trips/s`).to.be.within(100, 400);
      expect(m['hbErrors@200'], `${t} heartbeat errors`).to.equal(0);
    });
  });

  it('fan-out: every message reaches every subscriber, with latency and CPU figures', async () => {
    each(await smoke('fanout'), (m, t) => {
      expect(m['lost@200'], `${t} lost`).to.equal(0);
      expect(m['errors@200'], `${t} errors`).to.equal(0);
      expect(m['burstDeliveriesPerSec@200'], `${t} deliveries/s`).to.be.greaterThan(0);
      expect(m['burstCpuPerDelivery@200'], `${t} CPU per delivery`).to.be.within(0.01, 5000);
      expect(m['steadyP50@200'], `${t} steady p50`).to.be.within(0, 10_000);
      expect(m['steadyP99@200'], `${t} steady p99`).to.be.at.least(m['steadyP50@200']!);
      expect(m['burstMax@200'], `${t} burst max`).to.be.at.least(m['burstP99@200']!);
    });
  });

  it('publish: acknowledged publishes are all delivered to their subscribers', async () => {
    each(await smoke('publish'), (m, t) => {
      expect(m.publishesPerSec, `${t} publishes/s`).to.be.greaterThan(0);
      expect(m.deliveriesPerSec, `${t} deliveries/s`).to.be.greaterThan(0);
      expect(m.lost, `${t} lost`).to.equal(0);
      expect(m.failedPublishes, `${t} failed publishes`).to.equal(0);
      expect(m.errors, `${t} errors`).to.equal(0);
      expect(m.cpuPerPublish, `${t} CPU per publish`).to.be.within(1, 50_000);
    });
  });

  it('churn: sessions come and go, vanished ones are swept, heap returns near its baseline', async () => {
    each(await smoke('churn'), (m, t) => {
      expect(m.created, `${t} sessions created`).to.be.greaterThan(0);
      expect(m.failed, `${t} failed sessions`).to.equal(0);
      expect(m.vanished, `${t} vanished`).to.be.greaterThan(0);
      expect(m.disconnected, `${t} disconnected`).to.be.greaterThan(0);
      expect(m.sessionsAfterSweep, `${t} sessions after sweep`).to.equal(0);
      // A sanity bound at smoke size; the 10 % target is judged at real sizes by compare.
      expect(m.heapRatio, `${t} heap after / baseline`).to.be.within(0.5, 1.5);
    });
  });

  it('report: tables, goals and the marked block of docs/performance.md', () => {
    const med = new Map<TargetName, Metrics>([
      ['bayeux', { 'heapPerSession@200': 7000, 'held@200': 200 }],
      ['limit', { 'heapPerSession@200': 6000, 'held@200': 200 }],
    ]);
    const table = scenarioTable(SCENARIOS.idle!, config, med);
    expect(table.head).to.deep.equal(['metric', 'bayeux-server', 'bare node:http (limit)', 'bayeux ÷ limit']);
    const heapRow = table.rows.find((r) => r[0]!.startsWith('heap per session'))!;
    expect(heapRow.slice(1)).to.deep.equal(['7000', '6000', '×1.17']);
    const g = goals(config, new Map([['idle', med]]));
    expect(g[0]!.met).to.equal('NOT met');

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-doc-'));
    try {
      const file = path.join(dir, 'performance.md');
      fs.writeFileSync(file, `# Performance\n\nintro\n\n${BEGIN_MARK}\nold\n${END_MARK}\n\nafter\n`);
      writeBetweenMarkers(file, markdownTable(table));
      writeBetweenMarkers(file, 'second run');
      const text = fs.readFileSync(file, 'utf8');
      expect(text).to.equal(`# Performance\n\nintro\n\n${BEGIN_MARK}\nsecond run\n${END_MARK}\n\nafter\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
