#!/usr/bin/env node
/**
 * `bayeux-server`: a standalone Bayeux server (see docs/server.md and `bayeux-server --help`).
 * Reads the configuration, then runs one server, a primary with its workers (`--workers`),
 * or, in a process that primary forked, one worker. A configuration error exits 2.
 */
import type { CliConfig } from './config.js';
import { ConfigError } from './config-error.js';
import { engineName, loadRedis } from './engine.js';
import { helpText, packageVersion } from './help.js';
import { createLog, type Log } from './log.js';
import { resolveCli } from './sources.js';
import { startStandalone, stopOnSignals, type Standalone } from './standalone.js';
import { readTls } from './tls.js';
import { reportListening, runPrimary, workerConfig } from './workers.js';

async function main(): Promise<void> {
  const forked = workerConfig();
  if (forked !== null) return serve(forked, createLog(`bayeux-server worker ${process.pid}`), true);
  const log = createLog('bayeux-server');
  const request = resolveCli(process.argv.slice(2), process.env, process.cwd());
  if (request.kind === 'help') return void process.stdout.write(helpText());
  if (request.kind === 'version') return void process.stdout.write(`${packageVersion()}\n`);
  const { config, labelOf } = request;
  // Checked here, once, so that a bad file or a missing module exits 2 before anything starts.
  readTls(config, labelOf);
  if (config.redis !== undefined) await loadRedis(labelOf);
  if (config.workers !== undefined) return runPrimary(config, log);
  return serve(config, log, false);
}

/** Runs one server until SIGTERM or SIGINT; a worker reports where it listens to its primary, which prints it. */
async function serve(config: CliConfig, log: Log, worker: boolean): Promise<void> {
  let running: Standalone | null = null;
  stopOnSignals(() => running, config.drainTimeout, log);
  running = await startStandalone(config, { tls: readTls(config), log, warn: !worker });
  if (worker) reportListening(running.url);
  else log.info(`bayeux-server listening on ${running.url} (engine ${engineName(config)}, pid ${process.pid})`);
}

// A stray rejection is logged, not fatal: one failed request must not stop the server.
process.on('unhandledRejection', (reason) => createLog('bayeux-server').error('unhandled rejection', reason));

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`bayeux-server: ${err.message}\nRun bayeux-server --help for the options.\n`);
    process.exit(err.exitCode);
  }
  // A system error (a port in use, an address not available) says enough; anything else is a bug: its stack.
  const systemError = err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
  process.stderr.write(`bayeux-server: cannot start: ${err instanceof Error ? (systemError ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
  process.exit(1);
});
