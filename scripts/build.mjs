// Builds the package into dist/: an ES module build (dist/esm) and a CommonJS build
// (dist/cjs), each with declaration files, from the same sources and tsconfig.build.json,
// and dist/iframe-transport.js (the browser side of iframe streaming). The standalone
// server's CLI (cli/, the `bayeux-server` bin) is ESM only: it goes into dist/esm alone.
// Usage: node scripts/build.mjs
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const dist = join(root, 'dist');

const builds = [
  { name: 'esm', type: 'module', flags: [], alsoInclude: ['cli'] },
  // NodeNext would emit ESM here (the package is "type": "module"), so CommonJS is asked for explicitly.
  { name: 'cjs', type: 'commonjs', flags: ['--module', 'commonjs', '--moduleResolution', 'node10'] },
];

/**
 * The tsconfig of a build that compiles more than tsconfig.build.json includes: written next
 * to its output, extending it, so that its include list is read from there and never drifts.
 */
async function projectOf(build, dir) {
  const base = join(root, 'tsconfig.build.json');
  if (!build.alsoInclude) return base;
  const { include } = JSON.parse(await readFile(base, 'utf8'));
  const project = join(dir, `tsconfig.${build.name}.json`);
  await mkdir(dir, { recursive: true });
  await writeFile(project, JSON.stringify({ extends: base, include: [...include, ...build.alsoInclude].map((p) => join(root, p)) }));
  return project;
}

async function compile(build, outDir) {
  const args = [tsc, '-p', await projectOf(build, `${outDir}.project`), '--outDir', outDir, ...build.flags];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`tsc (${build.name}) failed: ${signal ?? `exit code ${code}`}`));
    });
  });
}

/**
 * Replaces dist/<name> with a finished build. Only renames touch dist/<name> (the old build
 * is moved aside, then deleted), so two builds finishing together cannot tear each other's
 * output; the loser of a race retries.
 */
async function swapIn(from, to) {
  for (let attempt = 1; ; attempt++) {
    const old = `${from}.old-${attempt}`;
    try {
      await rename(to, old);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    try {
      await rename(from, to);
      return;
    } catch (err) {
      if (attempt >= 5 || (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST')) throw err;
    } finally {
      await rm(old, { recursive: true, force: true });
    }
  }
}

const started = Date.now();
// Compile into a private directory first, so dist/ never holds a half-written build
// (another process may be using it, or building at the same time).
const staging = join(dist, `.staging-${process.pid}`);
await rm(staging, { recursive: true, force: true });
try {
  await Promise.all(builds.map((build) => compile(build, join(staging, build.name))));
  for (const build of builds) {
    // Tells Node how to load the .js files under each directory, whatever the root package says.
    await mkdir(join(staging, build.name), { recursive: true });
    await writeFile(join(staging, build.name, 'package.json'), JSON.stringify({ type: build.type }) + '\n');
    await swapIn(join(staging, build.name), join(dist, build.name));
  }
  // The bin (tsc keeps its #! line, not its mode).
  await chmod(join(dist, 'esm/cli/main.js'), 0o755);
  // The browser side of iframe streaming as a file of its own (the handler also serves it
  // at <mount>/iframe-transport.js), for pages that host or bundle it themselves.
  const { IFRAME_CLIENT_SCRIPT } = await import(pathToFileURL(join(dist, 'esm/transports/iframe-client.js')).href);
  const client = join(dist, `.iframe-transport-${process.pid}.js`);
  await writeFile(client, IFRAME_CLIENT_SCRIPT);
  await rename(client, join(dist, 'iframe-transport.js'));
} finally {
  await rm(staging, { recursive: true, force: true });
}
console.log(`built dist/esm, dist/cjs and dist/iframe-transport.js in ${Date.now() - started} ms`);
