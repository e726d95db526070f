// Everything a fresh machine needs before `npm start` or `npm test`, and nothing when it
// is all there already. Node built-ins only: this runs before node_modules exists.
//
//   node scripts/setup.mjs demo   npm dependencies
//   node scripts/setup.mjs test   npm dependencies and the system programs the specs drive
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync, utimesSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * System programs per mode: `commands` are looked for on PATH (any one will do), `apt` is
 * the Debian package installed when none is found. Issues that need one add it here, e.g.
 * `{ commands: ['redis-server'], apt: 'redis-server' }` or
 * `{ commands: ['chromium', 'chromium-browser'], apt: 'chromium' }`.
 */
const SYSTEM = {
  demo: [],
  // The browser specs drive Debian's Chromium through playwright-core (never a downloaded browser).
  test: [
    { commands: ['chromium', 'chromium-browser'], apt: 'chromium' },
    // The Redis engine specs start their own redis-server on a free loopback port.
    { commands: ['redis-server'], apt: 'redis-server' },
    // The Redis Cluster specs join their nodes with `redis-cli --cluster create` (Debian: redis-tools).
    { commands: ['redis-cli'], apt: 'redis-tools' },
  ],
};

/** Oldest Node the package supports (package.json "engines"). */
const MIN_NODE = [20, 19];

function log(message) {
  console.log(`setup: ${message}`);
}

function fail(message) {
  console.error(`setup: ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  log(`running ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (r.error) fail(`${command} could not be started: ${r.error.message}`);
  if (r.status !== 0) fail(`${command} ${args.join(' ')} failed (${r.signal ?? `exit code ${r.status}`})`);
}

/** The test runner (mocha 12) needs MIN_NODE; the demo may still run on an older Node 20. */
function checkNode(mode) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])) return;
  const message = `Node ${MIN_NODE.join('.')} or newer is needed, this is ${process.versions.node}`;
  if (mode === 'test') fail(message);
  log(`warning: ${message}`);
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/** npm itself: the one running us when started by `npm test`, else the one on PATH. */
function npm(args) {
  const cli = process.env.npm_execpath;
  if (cli && cli.endsWith('.js')) run(process.execPath, [cli, ...args]);
  else run('npm', args);
}

function ensureNpmDependencies() {
  const lock = join(root, 'package-lock.json');
  // npm rewrites this hidden lockfile on every install: it dates node_modules.
  const installed = join(root, 'node_modules', '.package-lock.json');
  const hasLock = existsSync(lock);
  const installedAt = mtime(installed);
  if (installedAt >= 0 && (!hasLock || installedAt >= mtime(lock))) {
    log('npm dependencies are up to date');
    return;
  }
  log(installedAt < 0 ? 'node_modules is missing' : 'node_modules is older than package-lock.json');
  npm(hasLock ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
  // npm may write package-lock.json after the hidden lockfile; mark node_modules as newer.
  if (existsSync(installed)) {
    const now = new Date();
    utimesSync(installed, now, now);
  }
}

function onPath(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not in this directory
    }
  }
  return null;
}

function ensureSystemPackages(wanted) {
  const find = (p) => p.commands.map(onPath).find((f) => f !== null);
  const missing = [];
  for (const p of wanted) {
    const found = find(p);
    if (found) log(`${p.commands[0]} found at ${found}`);
    else missing.push(p.apt);
  }
  if (missing.length === 0) return;
  log(`missing system packages: ${missing.join(' ')}`);
  if (!onPath('apt-get')) fail(`install ${missing.join(' ')} yourself (apt-get is not available here)`);
  if (process.getuid?.() !== 0) fail(`run as root, or install first: apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
  for (const p of wanted) {
    if (!find(p)) fail(`installed ${p.apt}, but none of ${p.commands.join(', ')} is on PATH`);
  }
}

const mode = process.argv[2];
if (!Object.hasOwn(SYSTEM, mode ?? '')) {
  console.error('usage: node scripts/setup.mjs demo|test');
  process.exit(2);
}
checkNode(mode);
ensureNpmDependencies();
ensureSystemPackages(SYSTEM[mode]);
log(`ready for ${mode}`);
