/**
 * Mocha's `spec` reporter, unchanged on screen, that can also record how every test tagged
 * `[matrix <client>|<transport>]` ended (see `compat-matrix.ts`), for the compatibility
 * matrix in docs/transports.md.
 *
 * Recording is off unless a file is named, by the environment or a reporter option:
 *
 *   MATRIX_OUT=matrix.json npm test
 *   npx mocha --reporter-option matrixOut=matrix.json spec/browser-faye.spec.ts
 *
 * A tagged test counts as failed when it fails, when a `beforeEach`/`afterEach` hook fails
 * around it, or when a hook failure stops its suite before it runs (mocha then skips it
 * without a word, which must not read as "not tested").
 */
import { writeFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import Mocha from 'mocha';
import { parseTitleTags, type MatrixResults, type MatrixTestResult } from './compat-matrix.js';

const { EVENT_RUN_BEGIN, EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL } = Mocha.Runner.constants;

interface ReporterOptions {
  reporterOption?: { matrixOut?: string };
  reporterOptions?: { matrixOut?: string };
}

/** The runner's `--grep`/`--invert` (not public API): tests they leave out never run. */
interface GrepState {
  _grep?: RegExp;
  _invert?: boolean;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.trim().slice(0, 300);
}

export default class MatrixReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options: Mocha.MochaOptions & ReporterOptions = {}) {
    super(runner, options);
    const out = options.reporterOption?.matrixOut ?? options.reporterOptions?.matrixOut ?? process.env.MATRIX_OUT;
    if (out) record(runner, out);
  }
}

function record(runner: Mocha.Runner, out: string): void {
  const results = new Map<Mocha.Test, MatrixTestResult>();
  const badTags: MatrixResults['badTags'] = [];
  const flagged = new Set<Mocha.Test>();
  let startedAt = new Date().toISOString();
  const fileOf = (test: Mocha.Runnable): string => (test.file ? relative(process.cwd(), test.file).split(sep).join('/') : '?');

  /** Records `test` if tagged; a failure replaces an earlier pass (an afterEach failed). */
  function put(test: Mocha.Test, state: MatrixTestResult['state'], err?: unknown): void {
    const title = test.fullTitle();
    const { tags, problems } = parseTitleTags(title);
    if (problems.length > 0 && !flagged.has(test)) {
      flagged.add(test);
      for (const problem of problems) badTags.push({ file: fileOf(test), title, problem });
    }
    if (tags.length === 0) return;
    if (state === 'passed' && results.has(test)) return;
    const result: MatrixTestResult = { file: fileOf(test), title, tags, state };
    if (err !== undefined) result.error = firstLine(err);
    results.set(test, result);
  }

  /** Would this test run at all under the runner's grep? */
  function selected(test: Mocha.Test): boolean {
    const { _grep: grep, _invert: invert } = runner as unknown as GrepState;
    if (!grep) return true;
    grep.lastIndex = 0;
    return grep.test(test.fullTitle()) !== Boolean(invert);
  }

  function* testsUnder(suite: Mocha.Suite): Generator<Mocha.Test> {
    yield* suite.tests;
    for (const s of suite.suites) yield* testsUnder(s);
  }

  runner.on(EVENT_RUN_BEGIN, () => {
    startedAt = new Date().toISOString();
  });
  runner.on(EVENT_TEST_PASS, (test) => put(test, 'passed'));
  runner.on(EVENT_TEST_FAIL, (runnable, err) => {
    if (runnable.type === 'test') {
      put(runnable as Mocha.Test, 'failed', err);
      return;
    }
    // A hook failed: the test it ran around (each-hooks) fails with it, and the tests of its
    // suite that have not run yet will not run at all.
    const hookError = `${runnable.title}: ${firstLine(err)}`;
    const current = (runnable as unknown as Mocha.Hook).ctx?.currentTest;
    if (current && /"(before|after) each"/.test(runnable.title)) put(current, 'failed', hookError);
    if (!runnable.parent) return;
    for (const test of testsUnder(runnable.parent)) {
      if (!results.has(test) && test.state === undefined && !test.isPending() && selected(test)) put(test, 'failed', hookError);
    }
  });
  runner.once(EVENT_RUN_END, () => {
    const doc: MatrixResults = {
      startedAt,
      finishedAt: new Date().toISOString(),
      node: process.version,
      tests: [...results.values()],
      badTags,
    };
    // Synchronously: mocha's --exit ends the process right after this event.
    writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  });
}
