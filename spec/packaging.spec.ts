/**
 * The published package, as a user gets it: the spec builds once, packs the tarball with
 * `npm pack` and installs it with `npm install <tarball>` into two fresh apps in the system
 * temp directory, one without ioredis (the optional peer dependency) and one with it. It
 * then runs plain Node programs (no tsx) and strict TypeScript compilations (this repo's tsc)
 * in those apps, and looks inside the tarball and the installed declaration files.
 *
 * Every child process has a timeout; the apps are removed in after().
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Names the main entry point exported once and must not export any more. */
const REMOVED_EXPORTS = ['expressMiddleware', 'connectMiddleware', 'MemoryEngine', 'RedisEngine', 'MessageSchema', 'parseChannel', 'ResolvedOptions'];

// ---------------------------------------------------------------------------------------
// Helpers: bounded child processes, files, output parsing.

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args…` in `cwd`, killed after `timeoutMs`. Resolves with the exit code and
 * output, whatever the code; rejects only if the process could not run or timed out.
 */
function run(command: string, args: string[], cwd: string, timeoutMs: number, extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NODE_OPTIONS: '', ...extraEnv };
    execFile(command, args, { cwd, timeout: timeoutMs, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (err as NodeJS.ErrnoException & { code?: unknown }).code : 0;
      if (typeof code === 'number') resolve({ code, stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} did not finish: ${err!.message}\n${stdout}\n${stderr}`));
    });
  });
}

/** Like run(), but rejects with the output unless the exit code is 0. */
async function mustRun(command: string, args: string[], cwd: string, timeoutMs: number, extraEnv: Record<string, string> = {}): Promise<Run> {
  const result = await run(command, args, cwd, timeoutMs, extraEnv);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

const node = (args: string[], cwd: string, timeoutMs = 15_000, extraEnv: Record<string, string> = {}) => mustRun(process.execPath, args, cwd, timeoutMs, extraEnv);
const npm = (args: string[], cwd: string, timeoutMs = 120_000) => mustRun('npm', args, cwd, timeoutMs);

interface ProgramOptions {
  /** Arguments for node itself, before the file. */
  nodeArgs?: string[];
  /** Arguments for the program, after the file. */
  args?: string[];
  env?: Record<string, string>;
}

/** Writes `source` to `app/file`, runs it with node (15 s at most) and parses the last line it printed as JSON. */
async function nodeJson(app: string, file: string, source: string, { nodeArgs = [], args = [], env = {} }: ProgramOptions = {}): Promise<any> {
  await writeFile(join(app, file), source);
  const { stdout } = await node([...nodeArgs, file, ...args], app, 15_000, env);
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

/** A fresh app in `dir` with `packages` installed the way a user would install them. */
async function installApp(dir: string, packages: string[]): Promise<string> {
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true }) + '\n');
  await npm(['install', ...packages, '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'], dir);
  return realpath(dir);
}

/** A tsconfig for a strict consumer: this repo's @types/node only, declaration files checked too. */
function tsconfig(options: Record<string, unknown>, files: string[]): string {
  const compilerOptions = {
    target: 'es2022',
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    typeRoots: [join(root, 'node_modules/@types')],
    types: ['node'],
    ...options,
  };
  return JSON.stringify({ compilerOptions, files }, null, 2);
}

/** Writes `files` into `app` and runs this repo's tsc on `project` there (never rejects on type errors). */
async function typeCheck(app: string, project: string, files: Record<string, string>): Promise<Run> {
  for (const [name, text] of Object.entries(files)) await writeFile(join(app, name), text);
  return run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], app, 90_000);
}

/** The files tsc reported errors in (`<file>(line,col): error TS…`); '(global)' for errors without one. */
function filesWithErrors(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => /error TS\d+/.test(line) && !/^\s/.test(line))
    .map((line) => /^(.+?)\(\d+,\d+\): error TS\d+/.exec(line)?.[1] ?? '(global)');
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(dir, path) : [path];
  });
}

// ---------------------------------------------------------------------------------------
// Consumer programs.

/** Mounts a server on node:http, handshakes over real HTTP, prints what it saw as one JSON line. */
function handshakeProgram(kind: 'esm' | 'cjs'): string {
  const load =
    kind === 'esm'
      ? "import * as pkg from 'bayeux-server';\nimport http from 'node:http';\n"
      : "const pkg = require('bayeux-server');\nconst http = require('node:http');\n";
  return `${load}
async function main() {
  const bayeux = new pkg.BayeuxServer({ timeout: 1000 });
  const server = http.createServer();
  pkg.attachToServer(server, bayeux, { path: '/cometd' });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address();
    const res = await fetch('http://127.0.0.1:' + port + '/cometd/handshake', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }]),
      signal: AbortSignal.timeout(5000),
    });
    const replies = await res.json();
    console.log(JSON.stringify({ status: res.status, reply: replies[0] }));
  } finally {
    await bayeux.close();
    server.close();
  }
}
main().catch((err) => { console.error(err); process.exit(1); });
`;
}

/** Prints the runtime export names of `bayeux-server` as loaded by import and by require. */
const EXPORTS_PROGRAM = `import { createRequire } from 'node:module';
const esm = await import('bayeux-server');
const cjs = createRequire(import.meta.url)('bayeux-server');
console.log(JSON.stringify({ esm: Object.keys(esm).sort(), cjs: Object.keys(cjs).sort() }));
`;

/** An ESM resolve hook (module.register, Node >= 20.6) that appends every resolved URL to a log file. */
const RESOLVE_HOOK = `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}
`;
const REGISTER_HOOK = `import { register } from 'node:module';
register('./resolve-hook.mjs', import.meta.url, { data: { log: process.env.RESOLVE_LOG } });
`;

/** Imports argv[2] (and uses the server if it is the main entry), then prints the URLs the hook logged. */
const RESOLUTIONS_PROGRAM = `import { readFileSync } from 'node:fs';
const mod = await import(process.argv[2]);
if (mod.BayeuxServer) { const bayeux = new mod.BayeuxServer(); await bayeux.ready(); await bayeux.close(); }
console.log(JSON.stringify(readFileSync(process.env.RESOLVE_LOG, 'utf8').split('\\n').filter(Boolean)));
`;

/** Requires argv[2] (and uses the server if it is the main entry), then prints the require.cache keys. */
const REQUIRE_CACHE_PROGRAM = `async function main() {
  const mod = require(process.argv[2]);
  if (mod.BayeuxServer) { const bayeux = new mod.BayeuxServer(); await bayeux.ready(); await bayeux.close(); }
  console.log(JSON.stringify(Object.keys(require.cache)));
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

/** Where `bayeux-server/<entry>` resolves by import and by require, and what the loaded modules hold. */
const SUBPATH_PROGRAM = `import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const require = createRequire(import.meta.url);
const specifier = 'bayeux-server/' + process.argv[2];
const esm = await import(specifier);
const cjs = require(specifier);
const mainEsm = await import('bayeux-server');
const mainCjs = require('bayeux-server');
console.log(JSON.stringify({
  importPath: fileURLToPath(import.meta.resolve(specifier)),
  requirePath: require.resolve(specifier),
  esm: Object.fromEntries(Object.entries(esm).map(([k, v]) => [k, typeof v])),
  cjs: Object.fromEntries(Object.entries(cjs).map(([k, v]) => [k, typeof v])),
  sameErrorClass: esm.EngineUnavailableError === undefined || (esm.EngineUnavailableError === mainEsm.EngineUnavailableError && cjs.EngineUnavailableError === mainCjs.EngineUnavailableError),
}));
`;

/** How loading `bayeux-server/redis` fails by import and by require (in an app without ioredis). */
const REDIS_WITHOUT_IOREDIS_PROGRAM = `import { createRequire } from 'node:module';
const failure = (err) => ({ code: err.code, message: String(err.message).split('\\n')[0] });
let imported = null, required = null;
try { await import('bayeux-server/redis'); } catch (err) { imported = failure(err); }
try { createRequire(import.meta.url)('bayeux-server/redis'); } catch (err) { required = failure(err); }
console.log(JSON.stringify({ imported, required }));
`;

/** How loading `bayeux-server/metrics` fails by import and by require (in an app without prom-client). */
const METRICS_WITHOUT_PROM_CLIENT_PROGRAM = REDIS_WITHOUT_IOREDIS_PROGRAM.replaceAll('bayeux-server/redis', 'bayeux-server/metrics');

/**
 * A strict consumer of the main entry point, by type. Fails to compile if any of the
 * `@ts-expect-error` lines compiles: a wrong call, and each removed export.
 */
const CORE_CONSUMER = `import * as http from 'node:http';
import {
  BayeuxServer,
  createHandler,
  koaMiddleware,
  fastifyPlugin,
  attachToServer,
  memoryEngine,
  ackExtension,
  timesyncExtension,
  LocalClient,
  EngineUnavailableError,
  ERROR_CODES,
  longPolling,
  callbackPolling,
  iframeStreaming,
  type BayeuxHandler,
  type Message,
  type ServerSession,
  type Extension,
  type ExtensionContext,
  type SecurityPolicy,
  type ErrorCode,
  type CorsOptions,
} from 'bayeux-server';
${REMOVED_EXPORTS.map((name) => `// @ts-expect-error ${name} is not exported\nimport { type ${name} } from 'bayeux-server';`).join('\n')}

const policy: SecurityPolicy = {
  canHandshake: (message: Message) => message.ext?.['token'] === 'secret',
  canPublish: async (session: ServerSession, channel: string) => session.id.length > 0 && !channel.startsWith('/admin/'),
};
const stamp: Extension = {
  incoming(message: Message, context: ExtensionContext): Message {
    return context.session ? { ...message, ext: { ...message.ext, stamped: true } } : message;
  },
};
export const bayeux: BayeuxServer = new BayeuxServer({ timeout: 1000, maxQueue: 10, engine: memoryEngine(), policy });
bayeux.addExtension(stamp);
bayeux.addExtension(ackExtension());
bayeux.addExtension(timesyncExtension());
bayeux.on('handshake', (session: ServerSession, message: Message) => void [session.id, message.channel]);

const cors: CorsOptions = { origins: ['https://example.com', /\\.example\\.org$/] };
const transports = [longPolling(), callbackPolling({ callbackParameter: 'jsonp' }), iframeStreaming({ heartbeat: 10_000 })];
export const handler: BayeuxHandler = createHandler(bayeux, { path: '/cometd', cors, transports });
export const matched: boolean = handler.matches('/cometd/connect');
http.createServer((req, res) => handler(req, res));
export const attached: BayeuxHandler = attachToServer(http.createServer(), bayeux, { path: '/bayeux' });
export const koa = koaMiddleware(bayeux, { path: '/cometd' });
export const fastify = fastifyPlugin(bayeux, { cors });

bayeux.channel('/service/echo').onMessage((message: Message, session: ServerSession) => {
  void session.deliver(message.channel, message.data, { id: message.id, successful: true });
});
export const delivered: Promise<number> = bayeux.publish('/a/b', { x: 1 });
export const local: Promise<void> = bayeux.localClient().then(async (client: LocalClient) => {
  await client.subscribe('/chat/**', (delivery) => void (delivery.data satisfies unknown));
  await client.publish('/chat/room', { text: 'hi' });
});

export function describeError(err: unknown): string {
  if (err instanceof EngineUnavailableError) return \`engine unavailable, retry in \${err.retryMs} ms\`;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code in ERROR_CODES) return ERROR_CODES[code as ErrorCode];
  return String(err);
}
export const knownCode: ErrorCode = 'ERR_BAYEUX_INVALID_OPTION';
// @ts-expect-error publish needs a channel name
void bayeux.publish(42, {});
`;

/** A consumer of \`bayeux-server/engine\`: a partial engine, checked against the main entry's types. */
const ENGINE_CONSUMER = `import { BayeuxServer, memoryEngine, type BayeuxServerOptions } from 'bayeux-server';
import {
  EngineUnavailableError,
  NO_MAIL,
  type Awaitable,
  type ConnectResult,
  type Engine,
  type EngineConfig,
  type EngineListener,
  type SubscribeResult,
} from 'bayeux-server/engine';

/** Not a whole engine: the part a test double might stub, always down. */
export class DownEngine implements Pick<Engine, 'open' | 'close' | 'sessionCount' | 'beginConnect'> {
  open(listener: EngineListener, config: EngineConfig): Awaitable<void> {
    void [listener.wake, config.maxQueue];
  }
  close(): void {}
  sessionCount(): Promise<number> {
    return Promise.reject(new EngineUnavailableError('down', 500));
  }
  beginConnect(_clientId: string, hold: boolean): ConnectResult | null {
    return hold ? NO_MAIL.held : NO_MAIL.again;
  }
}
export const engine: Engine = memoryEngine();
export const options: BayeuxServerOptions = { engine };
export const server = new BayeuxServer(options);
export const ok: SubscribeResult = 'ok';
// @ts-expect-error a SubscribeResult is 'ok', 'unknown-session' or 'limit'
export const maybe: SubscribeResult = 'maybe';
`;

/** A consumer of \`bayeux-server/redis\`. */
const REDIS_CONSUMER = `import { BayeuxServer } from 'bayeux-server';
import { redisEngine, type RedisEngineOptions } from 'bayeux-server/redis';

const options: RedisEngineOptions = { url: 'redis://127.0.0.1:6379', prefix: 'app', commandTimeoutMs: 2000, redis: { connectTimeout: 1000 } };
export const cluster: RedisEngineOptions = { cluster: ['127.0.0.1:7000', { host: '127.0.0.1', port: 7001 }] };
export const server = new BayeuxServer({ engine: redisEngine(options) });
// @ts-expect-error the url is a string
export const wrong: RedisEngineOptions = { url: 6379 };
`;

/** A consumer of \`bayeux-server/metrics\`, with the app's own prom-client registry. */
const METRICS_CONSUMER = `import * as http from 'node:http';
import { Registry } from 'prom-client';
import { BayeuxServer } from 'bayeux-server';
import { createMetrics, type BayeuxMetrics, type MetricsOptions } from 'bayeux-server/metrics';

const options: MetricsOptions = { registry: new Registry(), prefix: 'chat_', collectDefaultMetrics: true, requestBuckets: [0.01, 0.1, 1] };
export const metrics: BayeuxMetrics = createMetrics(new BayeuxServer(), options);
http.createServer((req, res) => metrics.handler(req, res));
export const text: Promise<string> = metrics.registry.metrics();
metrics.close();
// @ts-expect-error the prefix is a string
export const wrong: MetricsOptions = { prefix: 1 };
`;

// ---------------------------------------------------------------------------------------

describe('packaging (npm pack tarball, installed into fresh apps)', function () {
  let work = '';
  let tarballEntries: string[] = [];
  /** An app with bayeux-server and its dependencies, without ioredis. */
  let plainApp = '';
  /** An app with bayeux-server, ioredis and prom-client (the optional peer dependencies). */
  let redisApp = '';
  const installed = (app: string, path = '') => join(app, 'node_modules/bayeux-server', path);

  before(async function () {
    this.timeout(300_000);
    await node([join(root, 'scripts/build.mjs')], root, 180_000);
    work = await realpath(await mkdtemp(join(tmpdir(), 'bayeux-packaging-')));
    // The build already ran: --ignore-scripts skips the prepack script that would run it again.
    const { stdout } = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root, 60_000);
    const tarball = join(work, JSON.parse(stdout)[0].filename);
    tarballEntries = (await mustRun('tar', ['-tzf', tarball], work, 30_000)).stdout.split('\n').filter(Boolean);
    [plainApp, redisApp] = await Promise.all([
      installApp(join(work, 'plain-app'), [tarball]),
      // Unpinned, as a user would: whatever version of the peer range npm picks (cache first).
      installApp(join(work, 'redis-app'), [tarball, 'ioredis', 'prom-client']),
    ]);
  });

  after(async function () {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('the tarball', function () {
    it('holds the license, changelog, readme, package.json and both builds', function () {
      for (const file of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'dist/esm/index.js', 'dist/cjs/index.js', 'dist/iframe-transport.js']) {
        expect(tarballEntries, file).to.include(`package/${file}`);
      }
    });

    it('holds nothing from spec/, bench/ or examples/', function () {
      const unwanted = tarballEntries.filter((entry) => /^package\/(spec|bench|examples)\//.test(entry));
      expect(unwanted).to.deep.equal([]);
    });
  });

  describe('in an app without ioredis', function () {
    it('installs without ioredis and prom-client (optional peer dependencies)', async function () {
      expect(existsSync(join(plainApp, 'node_modules/ioredis')), 'node_modules/ioredis').to.equal(false);
      expect(existsSync(join(plainApp, 'node_modules/prom-client')), 'node_modules/prom-client').to.equal(false);
      expect(existsSync(installed(plainApp, 'package.json')), 'node_modules/bayeux-server').to.equal(true);
    });

    for (const kind of ['esm', 'cjs'] as const) {
      it(`serves a real handshake over HTTP from ${kind === 'esm' ? "import 'bayeux-server'" : "require('bayeux-server')"}`, async function () {
        const seen = await nodeJson(plainApp, `handshake.${kind === 'esm' ? 'mjs' : 'cjs'}`, handshakeProgram(kind));
        expect(seen.status).to.equal(200);
        expect(seen.reply).to.include({ channel: '/meta/handshake', id: '1', successful: true, version: '1.0' });
        expect(seen.reply.clientId).to.match(/^[0-9a-f]{32}$/);
        expect(seen.reply.supportedConnectionTypes).to.include('long-polling');
      });
    }

    it('exports the core API at runtime, from import and require alike', async function () {
      const { esm, cjs } = await nodeJson(plainApp, 'exports.mjs', EXPORTS_PROGRAM);
      const core = ['BayeuxServer', 'createHandler', 'koaMiddleware', 'fastifyPlugin', 'attachToServer', 'memoryEngine', 'ackExtension', 'timesyncExtension', 'LocalClient', 'EngineUnavailableError', 'ERROR_CODES', 'longPolling', 'callbackPolling', 'iframeStreaming'];
      expect(esm).to.include.members(core);
      expect(cjs.filter((name: string) => name !== 'default' && name !== '__esModule')).to.deep.equal(esm.filter((name: string) => name !== 'default'));
    });

    it(`no longer exports ${REMOVED_EXPORTS.join(', ')}`, async function () {
      const { esm, cjs } = await nodeJson(plainApp, 'exports.mjs', EXPORTS_PROGRAM);
      expect(esm.filter((name: string) => REMOVED_EXPORTS.includes(name))).to.deep.equal([]);
      expect(cjs.filter((name: string) => REMOVED_EXPORTS.includes(name))).to.deep.equal([]);
    });

    it("fails to load 'bayeux-server/redis', naming the missing ioredis", async function () {
      const { imported, required } = await nodeJson(plainApp, 'redis-missing.mjs', REDIS_WITHOUT_IOREDIS_PROGRAM);
      expect(imported).to.include({ code: 'ERR_MODULE_NOT_FOUND' });
      expect(imported.message).to.include("'ioredis'");
      expect(required).to.include({ code: 'MODULE_NOT_FOUND' });
      expect(required.message).to.include("'ioredis'");
    });

    it("fails to load 'bayeux-server/metrics', naming the missing prom-client", async function () {
      const { imported, required } = await nodeJson(plainApp, 'metrics-missing.mjs', METRICS_WITHOUT_PROM_CLIENT_PROGRAM);
      expect(imported).to.include({ code: 'ERR_MODULE_NOT_FOUND' });
      expect(imported.message).to.include("'prom-client'");
      expect(required).to.include({ code: 'MODULE_NOT_FOUND' });
      expect(required.message).to.include("'prom-client'");
    });
  });

  describe('in an app with ioredis', function () {
    /** Every URL the ESM resolver produced while importing `specifier` (and using it). */
    async function resolvedWhileImporting(specifier: string): Promise<string[]> {
      await writeFile(join(redisApp, 'resolve-hook.mjs'), RESOLVE_HOOK);
      await writeFile(join(redisApp, 'register-hook.mjs'), REGISTER_HOOK);
      const log = join(redisApp, `resolutions-${specifier.replace(/\W/g, '_')}.log`);
      await writeFile(log, '');
      return nodeJson(redisApp, 'resolutions.mjs', RESOLUTIONS_PROGRAM, { nodeArgs: ['--import', './register-hook.mjs'], args: [specifier], env: { RESOLVE_LOG: log } });
    }

    /** The keys of require.cache after requiring `specifier` (and using it). */
    const requireCacheAfter = (specifier: string): Promise<string[]> => nodeJson(redisApp, 'require-cache.cjs', REQUIRE_CACHE_PROGRAM, { args: [specifier] });

    /** Where `bayeux-server/<entry>` resolves and what it exports, by import and by require. */
    const subpath = (entry: string) => nodeJson(redisApp, 'subpath.mjs', SUBPATH_PROGRAM, { args: [entry] });

    const ioredisFiles = (paths: string[]) => paths.filter((path) => path.includes('/node_modules/ioredis/'));

    it("import 'bayeux-server' resolves no ioredis module (while 'bayeux-server/redis' does)", async function () {
      const main = await resolvedWhileImporting('bayeux-server');
      expect(main.some((url) => url.endsWith('/node_modules/bayeux-server/dist/esm/index.js')), 'the hook saw the import').to.equal(true);
      expect(ioredisFiles(main)).to.deep.equal([]);
      expect(ioredisFiles(await resolvedWhileImporting('bayeux-server/redis'))).to.not.deep.equal([]);
    });

    it("require('bayeux-server') loads no ioredis module (while 'bayeux-server/redis' does)", async function () {
      const main = await requireCacheAfter('bayeux-server');
      expect(main).to.include(installed(redisApp, 'dist/cjs/index.js'));
      expect(ioredisFiles(main)).to.deep.equal([]);
      expect(ioredisFiles(await requireCacheAfter('bayeux-server/redis'))).to.not.deep.equal([]);
    });

    it("resolves 'bayeux-server/redis' to dist/esm/redis.js and dist/cjs/redis.js, exporting redisEngine", async function () {
      const redis = await subpath('redis');
      expect(redis.importPath).to.equal(installed(redisApp, 'dist/esm/redis.js'));
      expect(redis.requirePath).to.equal(installed(redisApp, 'dist/cjs/redis.js'));
      expect(redis.esm).to.deep.equal({ redisEngine: 'function' });
      expect(redis.cjs).to.include({ redisEngine: 'function' });
    });

    it("import and require of 'bayeux-server' load no prom-client module (while 'bayeux-server/metrics' does)", async function () {
      const promClientFiles = (paths: string[]) => paths.filter((path) => path.includes('/node_modules/prom-client/'));
      expect(promClientFiles(await resolvedWhileImporting('bayeux-server'))).to.deep.equal([]);
      expect(promClientFiles(await requireCacheAfter('bayeux-server'))).to.deep.equal([]);
      expect(promClientFiles(await resolvedWhileImporting('bayeux-server/metrics'))).to.not.deep.equal([]);
    });

    it("resolves 'bayeux-server/metrics' to dist/esm/metrics.js and dist/cjs/metrics.js, exporting createMetrics", async function () {
      const metrics = await subpath('metrics');
      expect(metrics.importPath).to.equal(installed(redisApp, 'dist/esm/metrics.js'));
      expect(metrics.requirePath).to.equal(installed(redisApp, 'dist/cjs/metrics.js'));
      expect(metrics.esm).to.deep.equal({ createMetrics: 'function' });
      expect(metrics.cjs).to.include({ createMetrics: 'function' });
    });

    it("resolves 'bayeux-server/engine' to dist/esm/engine.js and dist/cjs/engine.js, sharing the main entry's error class", async function () {
      const engine = await subpath('engine');
      expect(engine.importPath).to.equal(installed(redisApp, 'dist/esm/engine.js'));
      expect(engine.requirePath).to.equal(installed(redisApp, 'dist/cjs/engine.js'));
      expect(engine.esm).to.include({ EngineUnavailableError: 'function', isPromise: 'function', NO_MAIL: 'object' });
      expect(engine.sameErrorClass).to.equal(true);
    });
  });

  describe('the declaration files', function () {
    this.timeout(120_000);
    /**
     * The three compilations are independent and each takes several seconds (skipLibCheck
     * false checks all of @types/node), so before() starts them together and each it()
     * awaits its own.
     */
    let node16: Promise<Run>, bundler: Promise<Run>, redis: Promise<Run>;
    const started = (check: Promise<Run>) => (check.catch(() => {}), check); // awaited later, by the it()

    before(function () {
      node16 = started(
        typeCheck(plainApp, 'tsconfig.node16.json', {
          'tsconfig.node16.json': tsconfig({ module: 'node16', moduleResolution: 'node16' }, ['core.mts', 'core.cts', 'engine.mts']),
          'core.mts': CORE_CONSUMER,
          'core.cts': CORE_CONSUMER,
          'engine.mts': ENGINE_CONSUMER,
        }),
      );
      bundler = started(
        typeCheck(plainApp, 'tsconfig.bundler.json', {
          'tsconfig.bundler.json': tsconfig({ module: 'esnext', moduleResolution: 'bundler' }, ['core.ts', 'engine.ts']),
          'core.ts': CORE_CONSUMER,
          'engine.ts': ENGINE_CONSUMER,
        }),
      );
      redis = started(
        typeCheck(redisApp, 'tsconfig.redis.json', {
          'tsconfig.redis.json': tsconfig({ module: 'node16', moduleResolution: 'node16' }, ['redis.mts', 'redis.cts', 'metrics.mts', 'metrics.cts']),
          'redis.mts': REDIS_CONSUMER,
          'redis.cts': REDIS_CONSUMER,
          'metrics.mts': METRICS_CONSUMER,
          'metrics.cts': METRICS_CONSUMER,
        }),
      );
    });

    it('type-check a strict consumer of the core and engine API with module node16 (import and require)', async function () {
      const { code, stdout } = await node16;
      expect(code, stdout).to.equal(0);
    });

    it('type-check the same consumers with module esnext and moduleResolution bundler', async function () {
      const { code, stdout } = await bundler;
      expect(code, stdout).to.equal(0);
    });

    it("type-check strict consumers of 'bayeux-server/redis' and 'bayeux-server/metrics'; the only errors are in ioredis's own declarations", async function () {
      // skipLibCheck is false here too, but errors inside node_modules/ioredis/ are allowed:
      // ioredis 6.1.0's own declarations fail there (built/errors/MaxRetriesPerRequestError.d.ts
      // and WatchError.d.ts import 'redis-errors', which ships no types: TS7016), while 6.0.0's
      // pass. That is ioredis's problem. Any error elsewhere (this package's .d.ts files or the
      // consumer) fails the test. (skipLibCheck true would hide ioredis's errors, but it would
      // not check this package's declaration files either.)
      const { code, stdout } = await redis;
      const elsewhere = filesWithErrors(stdout).filter((file) => !file.startsWith('node_modules/ioredis/'));
      expect(elsewhere, stdout).to.deep.equal([]);
      expect(code === 0 || filesWithErrors(stdout).length > 0, `tsc exited with ${code} without reporting an error\n${stdout}`).to.equal(true);
    });

    it('never mention @internal (stripInternal removed those declarations)', async function () {
      const declarations = filesUnder(installed(plainApp)).filter((file) => file.endsWith('.d.ts'));
      expect(declarations).to.include.members(['dist/esm/index.d.ts', 'dist/cjs/index.d.ts', 'dist/esm/redis.d.ts', 'dist/esm/engine.d.ts', 'dist/esm/metrics.d.ts']);
      const mentioning = [];
      for (const file of declarations) {
        if ((await readFile(installed(plainApp, file), 'utf8')).includes('@internal')) mentioning.push(file);
      }
      expect(mentioning).to.deep.equal([]);
    });
  });
});
