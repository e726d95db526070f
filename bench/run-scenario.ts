/**
 * One scenario run against every chosen target, round by round, with medians: what the
 * `compare` and `redis` reports and the bench smoke spec all run.
 */
import type { BenchConfig } from './config.js';
import { killAllChildren } from './harness.js';
import { MachineCpu, type CpuSplit } from './machine-cpu.js';
import { medians, type Runs } from './report.js';
import { churnScenario } from './scenarios/churn.js';
import type { Log, Metrics, Scenario } from './scenarios/common.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { idle } from './scenarios/idle.js';
import { publishScenario } from './scenarios/publish.js';
import type { TargetName } from './shared/protocol.js';

export const SCENARIOS: Record<string, Scenario> = {
  idle,
  fanout: fanoutScenario,
  'fan-out': fanoutScenario,
  publish: publishScenario,
  churn: churnScenario,
};

export interface ScenarioOutcome {
  scenario: Scenario;
  runs: Runs;
  medians: Map<TargetName, Metrics>;
  /** Failures, as "target round: message". */
  failures: string[];
  /** Machine CPU while it ran: this bench's own and other work. */
  cpu: CpuSplit | null;
}

/** Runs one scenario: `rounds` rounds, each over every target in order (A B C D A B C D …). */
export async function runScenario(scenario: Scenario, cfg: BenchConfig, log: Log = (l) => process.stderr.write(l + '\n')): Promise<ScenarioOutcome> {
  const runs: Runs = new Map(cfg.targets.map((t) => [t, [] as Metrics[]]));
  const failures: string[] = [];
  const cpu = MachineCpu.start();
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const target of cfg.targets) {
      log(`  ${scenario.name} round ${round}/${cfg.rounds}: ${target}`);
      try {
        runs.get(target)!.push(await scenario.run(target, cfg, log));
      } catch (err) {
        const msg = `${target} round ${round}: ${(err as Error)?.stack ?? String(err)}`;
        failures.push(msg);
        log(`    FAILED ${msg}`);
        killAllChildren();
      }
    }
  }
  // Each run stops (and so reaps) every process it started.
  return { scenario, runs, medians: medians(runs), failures, cpu: cpu.finish() };
}
