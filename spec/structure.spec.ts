/**
 * The import structure of the sources, as scripts/check-structure.mjs checks it: lib/ imports
 * nothing from transports/, extensions/ or the entry files, lib/ has no import cycle (type-only
 * imports count), and the three transport modules do not import one another. The checker runs
 * as a child process, once on this checkout and then on small temporary trees that break the
 * rules, to show that it does report them.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const checker = join(root, 'scripts/check-structure.mjs');

interface CheckResult {
  code: number | null;
  output: string;
}

/** Runs the checker (on `treeRoot` if given), bounded to 15 s; resolves with its exit code and output. */
function runChecker(treeRoot?: string): Promise<CheckResult> {
  const args = [checker, ...(treeRoot ? ['--root', treeRoot] : [])];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, timeout: 15_000, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(new Error(`check-structure did not finish: ${err.message}\n${stdout}${stderr}`));
      else resolve({ code: err ? (err.code as number) : 0, output: stdout + stderr });
    });
  });
}

/** Writes `files` (path relative to `dir` -> content) into `dir`. */
async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

describe('source structure (scripts/check-structure.mjs)', function () {
  this.timeout(20_000);
  const temporary: string[] = [];

  async function tree(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'bayeux-structure-'));
    temporary.push(dir);
    await writeTree(dir, files);
    return dir;
  }

  after(async function () {
    await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('passes on this checkout, with a one-line summary', async function () {
    const { code, output } = await runChecker();
    expect(code, output).to.equal(0);
    expect(output.trim().split('\n')).to.have.length(1);
    expect(output).to.match(/^check-structure: ok, \d+ files/);
  });

  it('reports a type-only import cycle in lib/ and an import from lib/ into transports/', async function () {
    const dir = await tree({
      'lib/a.ts': "import type { B } from './b.js';\nexport type A = { b?: B };\n",
      'lib/b.ts': "import type { A } from './a.js';\nimport { helper } from '../transports/helper.js';\nexport type B = { a?: A };\nexport const h = helper;\n",
      'transports/helper.ts': 'export const helper = 1;\n',
      'extensions/none.ts': 'export {};\n',
    });
    const { code, output } = await runChecker(dir);
    expect(code, output).to.equal(1);
    expect(output).to.match(/import cycles in lib\/[^\n]*\n\s+lib\/a\.ts -> lib\/b\.ts -> lib\/a\.ts/);
    expect(output).to.include("lib/b.ts:2 imports transports/helper.ts ('../transports/helper.js')");
  });

  it('reports imports from lib/ into extensions/ and the entry files, and export-from and import() forms', async function () {
    const dir = await tree({
      'index.ts': "export * from './lib/x.js';\n",
      'lib/x.ts': "export { ackExtension } from '../extensions/ack.js';\nexport const entry = () => import('../index.js');\n",
      'extensions/ack.ts': 'export const ackExtension = 1;\n',
    });
    const { code, output } = await runChecker(dir);
    expect(code, output).to.equal(1);
    expect(output).to.include('lib/x.ts:1 imports extensions/ack.ts');
    expect(output).to.include('lib/x.ts:2 imports index.ts');
  });

  it('reports a transport module that reaches another through a shared file', async function () {
    const dir = await tree({
      'transports/long-polling.ts': "import { name } from './shared.js';\nexport const longPolling = name;\n",
      'transports/shared.ts': "export { callbackPolling as name } from './callback-polling.js';\n",
      'transports/callback-polling.ts': 'export const callbackPolling = 1;\n',
      'transports/iframe-streaming.ts': "import type { X } from './long-polling.js';\nexport type Y = X;\n",
    });
    const { code, output } = await runChecker(dir);
    expect(code, output).to.equal(1);
    expect(output).to.include('transports/long-polling.ts -> transports/shared.ts -> transports/callback-polling.ts');
    expect(output).to.include('transports/iframe-streaming.ts -> transports/long-polling.ts');
  });
});
