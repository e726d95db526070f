/**
 * The published package: `npm run build` produces an ES module build and a CommonJS build
 * with declaration files, and a consumer that installs `bayeux-server` can import it,
 * require it and type-check against it. The consumers run in fresh Node processes (no
 * tsx), resolving the package through a node_modules symlink exactly as an install would.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

interface Run {
  stdout: string;
  stderr: string;
}

/** Runs `node args…` in `cwd`, bounded by `timeoutMs`; rejects with its output on failure. */
function runNode(args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd, timeout: timeoutMs, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`node ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * The consumer program, in either module system: mount a server on node:http, handshake
 * over real HTTP, print what it saw as one JSON line.
 */
function consumerSource(kind: 'esm' | 'cjs'): string {
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
    });
    const replies = await res.json();
    console.log(JSON.stringify({ status: res.status, reply: replies[0], exports: Object.keys(pkg).sort() }));
  } finally {
    await bayeux.close();
    server.close();
  }
}
main().catch((err) => { console.error(err); process.exit(1); });
`;
}

/** Type-only use of the public API, compiled against the package's declaration files. */
const typedConsumer = (importLine: string): string => `${importLine}
import * as http from 'node:http';
const bayeux: BayeuxServer = new BayeuxServer({ timeout: 1000, maxQueue: 10 });
const handler: BayeuxHandler = createHandler(bayeux, { path: '/cometd' });
http.createServer((req, res) => handler(req, res));
bayeux.channel('/service/echo').onMessage((message: Message, session: ServerSession) => {
  void session.deliver(message.channel, message.data, { id: message.id, successful: true });
});
const sent: Promise<number> = bayeux.publish('/a/b', { x: 1 });
void sent;
// @ts-expect-error publish needs a channel name
void bayeux.publish(42, {});
`;

describe('packaging', function () {
  let consumer = '';

  before(async function () {
    this.timeout(180_000);
    await runNode([join(root, 'scripts/build.mjs')], root, 170_000);
    consumer = await mkdtemp(join(tmpdir(), 'bayeux-consumer-'));
    await mkdir(join(consumer, 'node_modules'));
    await symlink(root, join(consumer, 'node_modules', 'bayeux-server'), 'dir');
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  });

  after(async function () {
    if (consumer) await rm(consumer, { recursive: true, force: true });
  });

  it('writes both builds with declaration files and module-type markers', async function () {
    for (const build of ['esm', 'cjs']) {
      for (const file of ['index.js', 'index.d.ts', 'redis.d.ts', 'engine.d.ts', 'lib/server.d.ts', 'transports/adapters.d.ts']) {
        expect(existsSync(join(root, 'dist', build, file)), `dist/${build}/${file}`).to.equal(true);
      }
    }
    expect(JSON.parse(await readFile(join(root, 'dist/cjs/package.json'), 'utf8'))).to.deep.equal({ type: 'commonjs' });
    expect(JSON.parse(await readFile(join(root, 'dist/esm/package.json'), 'utf8'))).to.deep.equal({ type: 'module' });
  });

  it('points every path in package.json at a file the build wrote', async function () {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    const paths: string[] = [pkg.main, pkg.module, pkg.types];
    const dot = pkg.exports['.'];
    for (const cond of ['import', 'require']) paths.push(dot[cond].types, dot[cond].default);
    for (const p of paths) expect(existsSync(join(root, p)), p).to.equal(true);
  });

  for (const kind of ['esm', 'cjs'] as const) {
    it(`serves a handshake from the ${kind === 'esm' ? 'import()' : 'require()'}d build`, async function () {
      this.timeout(20_000);
      const file = kind === 'esm' ? 'consumer.mjs' : 'consumer.cjs';
      await writeFile(join(consumer, file), consumerSource(kind));
      const { stdout } = await runNode([file], consumer, 15_000);
      const seen = JSON.parse(stdout.trim().split('\n').pop()!);
      expect(seen.status).to.equal(200);
      expect(seen.reply).to.include({ channel: '/meta/handshake', id: '1', successful: true, version: '1.0' });
      expect(seen.reply.clientId).to.match(/^[0-9a-f]{32}$/);
      expect(seen.reply.supportedConnectionTypes).to.include('long-polling');
      expect(seen.exports).to.include.members(['BayeuxServer', 'createHandler', 'koaMiddleware', 'fastifyPlugin', 'attachToServer']);
    });
  }

  it('resolves import to the ES module build and require to the CommonJS build', async function () {
    this.timeout(20_000);
    const script =
      "import { createRequire } from 'node:module';\n" +
      "console.log(JSON.stringify({ import: import.meta.resolve('bayeux-server'), require: createRequire(import.meta.url).resolve('bayeux-server') }));\n";
    await writeFile(join(consumer, 'resolve.mjs'), script);
    const { stdout } = await runNode(['resolve.mjs'], consumer, 15_000);
    const resolved = JSON.parse(stdout);
    expect(fileURLToPath(resolved.import)).to.equal(join(root, 'dist/esm/index.js'));
    expect(resolved.require).to.equal(join(root, 'dist/cjs/index.js'));
  });

  it('type-checks an ES module and a CommonJS consumer against the declaration files', async function () {
    this.timeout(60_000);
    const names = 'BayeuxServer, createHandler, type BayeuxHandler, type Message, type ServerSession';
    await writeFile(join(consumer, 'typed.mts'), typedConsumer(`import { ${names} } from 'bayeux-server';`));
    await writeFile(join(consumer, 'typed.cts'), typedConsumer(`import { ${names} } from 'bayeux-server';`));
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          typeRoots: [join(root, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['typed.mts', 'typed.cts'],
      }),
    );
    await runNode([tsc, '-p', 'tsconfig.json'], consumer, 55_000);
  });
});
