// Writes the client-compatibility matrix of docs/transports.md from the specs.
//
//   npm run matrix                          runs every spec test tagged [matrix <client>|<transport>]
//                                           and rewrites the table between the compat-matrix markers
//   npm run matrix -- --from matrix.json    only rewrites the table, from the results of an earlier
//                                           run (e.g. `MATRIX_OUT=matrix.json npm test`)
//   npm run matrix -- --dry-run             prints the table instead of writing the doc
//
// Runs under tsx (it imports the TypeScript helpers of spec/support). Exits non-zero when a
// tagged test failed, a tag does not parse, or the run left no results; the doc is written
// whenever there are results, failures included (that is what a matrix is for).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findMatrixTags, parseMatrixTag, renderMatrix, replaceMatrixBlock } from '../spec/support/compat-matrix.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = join(root, 'docs', 'transports.md');
const REPORTER = './spec/support/matrix-reporter.ts';

function fail(message) {
  console.error(`matrix: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { from: null, dryRun: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--from' && argv[i + 1]) args.from = argv[++i];
    else if (argv[i] === '--dry-run') args.dryRun = true;
    else fail(`unknown argument ${argv[i]} (use --from <results.json> or --dry-run)`);
  }
  return args;
}

/** Every *.spec.ts under spec/, relative to the root with / separators. */
function specFiles(dir = join(root, 'spec')) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...specFiles(path));
    else if (entry.name.endsWith('.spec.ts')) out.push(relative(root, path).split(sep).join('/'));
  }
  return out.sort();
}

/** The spec files with tags, and every tag in them (a tag that does not parse stops the run). */
function taggedSources() {
  const files = [];
  const tags = [];
  const problems = [];
  for (const file of specFiles()) {
    const found = findMatrixTags(readFileSync(join(root, file), 'utf8'));
    if (found.length === 0) continue;
    files.push(file);
    for (const text of found) {
      const tag = parseMatrixTag(text);
      if ('problem' in tag) problems.push(`${file}: ${tag.problem}`);
      else tags.push(tag);
    }
  }
  if (problems.length > 0) fail(`tags that do not parse:\n  ${problems.join('\n  ')}`);
  return { files, tags };
}

function runTaggedSpecs(files) {
  const dir = mkdtempSync(join(tmpdir(), 'compat-matrix-'));
  const out = join(dir, 'results.json');
  try {
    console.log(`matrix: running the tagged tests of ${files.join(', ')}`);
    const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const r = spawnSync(process.execPath, [mocha, '--reporter', REPORTER, '--grep', '\\[matrix ', ...files], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, MATRIX_OUT: out },
    });
    if (r.error) fail(`mocha could not be started: ${r.error.message}`);
    let results;
    try {
      results = JSON.parse(readFileSync(out, 'utf8'));
    } catch {
      fail(`mocha left no results (${r.signal ?? `exit code ${r.status}`})`);
    }
    return { results, status: r.status ?? 1 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const args = parseArgs(process.argv.slice(2));
const { files, tags } = taggedSources();
if (files.length === 0) fail('no spec carries a [matrix <client>|<transport>] tag');
if (!args.dryRun) {
  // Check the markers before a run of several minutes, not after.
  try {
    replaceMatrixBlock(readFileSync(DOC, 'utf8'), '');
  } catch (err) {
    fail(`${relative(root, DOC)}: ${err.message}`);
  }
}

let results;
let status = 0;
if (args.from) {
  try {
    results = JSON.parse(readFileSync(args.from, 'utf8'));
  } catch (err) {
    fail(`cannot read ${args.from}: ${err.message}`);
  }
} else {
  ({ results, status } = runTaggedSpecs(files));
}

if (results.badTags.length > 0) {
  fail(`tags that do not parse:\n  ${results.badTags.map((b) => `${b.file}: ${b.title}: ${b.problem}`).join('\n  ')}`);
}
const block = renderMatrix(results, { command: '`npm run matrix` (scripts/compat-matrix.mjs)', tagged: tags });
if (args.dryRun) {
  console.log(block);
} else {
  writeFileSync(DOC, replaceMatrixBlock(readFileSync(DOC, 'utf8'), block));
  console.log(`matrix: wrote ${relative(root, DOC)}`);
  console.log(block);
}
const failed = results.tests.filter((t) => t.state === 'failed').length;
if (failed > 0) console.error(`matrix: ${failed} tagged test(s) failed`);
process.exit(failed > 0 ? 1 : status);
