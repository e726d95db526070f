/**
 * The client-compatibility matrix of docs/transports.md: tags in spec titles parse, the
 * table is built and rendered right from a sample run, the doc block is replaced between
 * its markers only, and the matrix reporter records a real mocha run (a fixture with
 * passing, failing and hook-stopped tests) while printing exactly what `spec` prints.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  MATRIX_CLIENTS,
  MATRIX_END,
  MATRIX_START,
  MATRIX_TRANSPORTS,
  buildMatrix,
  findMatrixTags,
  parseMatrixTag,
  parseTitleTags,
  renderMatrix,
  replaceMatrixBlock,
  type MatrixResults,
} from './support/compat-matrix.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A tag as it appears in a title (built, so this file carries no tag of its own). */
function tag(client: string, transport: string): string {
  return `[${'matrix'} ${client}|${transport}]`;
}

/** Every *.spec.ts under spec/, relative to the root. */
function specFiles(dir = join(ROOT, 'spec')): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...specFiles(path));
    else if (entry.name.endsWith('.spec.ts')) out.push(relative(ROOT, path).split(sep).join('/'));
  }
  return out;
}

const SAMPLE: MatrixResults = {
  startedAt: '2025-03-04T10:00:00.000Z',
  finishedAt: '2025-03-04T10:01:00.000Z',
  node: 'v20.19.0',
  badTags: [],
  tests: [
    { file: 'spec/browser-a.spec.ts', title: `A same origin ${tag('CometD', 'long-polling')}`, tags: [{ client: 'CometD', transport: 'long-polling' }], state: 'passed' },
    { file: 'spec/browser-a.spec.ts', title: `A cors ${tag('CometD', 'long-polling')}`, tags: [{ client: 'CometD', transport: 'long-polling' }], state: 'passed' },
    { file: 'spec/browser-b.spec.ts', title: `B jsonp ${tag('Faye', 'callback-polling')}`, tags: [{ client: 'Faye', transport: 'callback-polling' }], state: 'failed', error: 'expected 1 to equal 2' },
    { file: 'spec/browser-b.spec.ts', title: `B jsonp again ${tag('Faye', 'callback-polling')}`, tags: [{ client: 'Faye', transport: 'callback-polling' }], state: 'passed' },
    {
      file: 'spec/interop-c.spec.ts',
      title: `C both ${tag('Faye (Node)', 'long-polling')} ${tag('cometd-nodejs-client', 'long-polling')}`,
      tags: [
        { client: 'Faye (Node)', transport: 'long-polling' },
        { client: 'cometd-nodejs-client', transport: 'long-polling' },
      ],
      state: 'passed',
    },
  ],
};

describe('compatibility matrix', function () {
  describe('tags', function () {
    it('parses a tag into client and transport, and refuses unknown names and other shapes', function () {
      expect(parseMatrixTag('matrix dojox.cometd 1.7|callback-polling')).to.deep.equal({ client: 'dojox.cometd 1.7', transport: 'callback-polling' });
      expect(parseMatrixTag('matrix Faye (Node)|long-polling')).to.deep.equal({ client: 'Faye (Node)', transport: 'long-polling' });
      expect(parseMatrixTag('matrix Nobody|long-polling')).to.have.property('problem').that.matches(/unknown client "Nobody"/);
      expect(parseMatrixTag('matrix CometD|carrier-pigeon')).to.have.property('problem').that.matches(/unknown transport "carrier-pigeon"/);
      expect(parseMatrixTag('matrix CometD long-polling')).to.have.property('problem').that.matches(/not of the form/);
      expect(parseMatrixTag('matrix CometD|')).to.have.property('problem');
      expect(parseMatrixTag('matrix  CometD|long-polling'), 'exact names only').to.have.property('problem');
    });

    it('finds every tag in a title, once per client and transport', function () {
      const title = `x ${tag('CometD', 'long-polling')} y ${tag('CometD', 'iframe')} ${tag('CometD', 'long-polling')} ${tag('Nobody', 'iframe')}`;
      expect(findMatrixTags(title)).to.have.length(4);
      const { tags, problems } = parseTitleTags(title);
      expect(tags).to.deep.equal([
        { client: 'CometD', transport: 'long-polling' },
        { client: 'CometD', transport: 'iframe' },
      ]);
      expect(problems).to.have.length(1);
      expect(parseTitleTags('no tag here, not even [matrixy stuff]')).to.deep.equal({ tags: [], problems: [] });
    });

    it('every tag in the spec files names a known client and transport', function () {
      const found: string[] = [];
      const problems: string[] = [];
      for (const file of specFiles()) {
        for (const text of findMatrixTags(readFileSync(join(ROOT, file), 'utf8'))) {
          const parsed = parseMatrixTag(text);
          if ('problem' in parsed) problems.push(`${file}: ${parsed.problem}`);
          else found.push(`${parsed.client}|${parsed.transport}`);
        }
      }
      expect(problems).to.deep.equal([]);
      // The browser and Node interop specs carry tags (a rename that drops them shows here).
      for (const pair of ['CometD|long-polling', 'CometD|callback-polling', 'Faye|long-polling', 'Faye|cross-origin-long-polling', 'Faye|callback-polling', 'dojox.cometd 1.7|long-polling', 'dojox.cometd 1.7|callback-polling', 'cometd-nodejs-client|long-polling', 'Faye (Node)|long-polling', 'cometd-nodejs-client|websocket', 'Faye (Node)|websocket', 'Faye|eventsource']) {
        expect(found, pair).to.include(pair);
      }
    });
  });

  describe('table', function () {
    it('counts tests per client and transport; one failure makes the cell fail', function () {
      const m = buildMatrix(SAMPLE);
      expect(m.get('CometD')?.get('long-polling')).to.deep.equal({ passed: 2, failed: 0, files: ['spec/browser-a.spec.ts'] });
      expect(m.get('Faye')?.get('callback-polling')).to.deep.equal({ passed: 1, failed: 1, files: ['spec/browser-b.spec.ts'] });
      expect(m.get('Faye (Node)')?.get('long-polling')?.passed).to.equal(1);
      expect(m.get('cometd-nodejs-client')?.get('long-polling')?.passed).to.equal(1);
      expect(m.get('CometD')?.get('iframe')).to.equal(undefined);
      expect(m.has('dojox.cometd 1.7')).to.equal(false);
    });

    it('renders every known client and transport, with the date, the sources and the failures', function () {
      const text = renderMatrix(SAMPLE, { command: '`npm run matrix`', tagged: [{ client: 'dojox.cometd 1.7', transport: 'callback-polling' }] });
      const lines = text.split('\n');
      expect(lines[0]).to.match(/^<!-- Written by `npm run matrix`/);
      const table = lines.filter((l) => l.startsWith('|'));
      expect(table).to.have.length(2 + MATRIX_CLIENTS.length);
      expect(table[0]).to.equal('| client | runs in | `long-polling` | `cross-origin-long-polling` | `callback-polling` | `iframe` | `websocket` | `eventsource` |');
      expect(table[1]).to.equal('| --- | --- | --- | --- | --- | --- | --- | --- |');
      const row = (label: string): string[] => table.find((l) => l.startsWith(`| ${label} |`))!.split(' | ').slice(2);
      const label = (t: string): string => MATRIX_CLIENTS.find((c) => c.tag === t)!.label;
      expect(row(label('CometD'))).to.deep.equal(['✅ passed (2 tests)', '— not tested', '— not tested', '— not tested', '— not tested', '— not tested |']);
      expect(row(label('Faye'))).to.deep.equal(['— not tested', '— not tested', '❌ failed (1 of 2 tests)', '— not tested', '— not tested', '— not tested |']);
      expect(row(label('dojox.cometd 1.7'))).to.deep.equal(['— not tested', '— not tested', '❌ not run (tagged in a spec, no result)', '— not tested', '— not tested', '— not tested |']);
      expect(row(label('Faye (Node)'))[0]).to.equal('✅ passed (1 test)');
      expect(row(label('cometd-nodejs-client'))[0]).to.equal('✅ passed (1 test)');
      expect(text).to.include('Run on 2025-03-04 (Node v20.19.0): 5 tagged tests, 4 passed. Sources: `spec/browser-a.spec.ts`, `spec/browser-b.spec.ts`, `spec/interop-c.spec.ts`.');
      expect(text).to.include(`- \`spec/browser-b.spec.ts\`: B jsonp ${tag('Faye', 'callback-polling')} — expected 1 to equal 2`);
      expect(MATRIX_TRANSPORTS).to.have.length(6);
    });

    it('says plainly when nothing ran', function () {
      const text = renderMatrix({ ...SAMPLE, tests: [] });
      expect(text).to.include('0 tagged tests, 0 passed. Sources: none.');
      expect(text).not.to.include('✅');
      expect(text).not.to.include('Failed:');
    });

    it('replaces only what is between the markers, and refuses a doc without exactly one pair', function () {
      const doc = `# T\n\nbefore\n${MATRIX_START}\nold table\n${MATRIX_END}\nafter\n`;
      const out = replaceMatrixBlock(doc, 'new table');
      expect(out).to.equal(`# T\n\nbefore\n${MATRIX_START}\nnew table\n${MATRIX_END}\nafter\n`);
      expect(replaceMatrixBlock(out, 'new table'), 'idempotent').to.equal(out);
      expect(() => replaceMatrixBlock('# T\n', 'x')).to.throw(/exactly one/);
      expect(() => replaceMatrixBlock(`${MATRIX_END}\n${MATRIX_START}\n`, 'x')).to.throw(/exactly one/);
      expect(() => replaceMatrixBlock(`${MATRIX_START}\n${MATRIX_END}\n${MATRIX_START}\n${MATRIX_END}\n`, 'x')).to.throw(/exactly one/);
    });
  });

  describe('reporter', function () {
    this.timeout(60_000);
    const FIXTURE = 'spec/fixtures/matrix-sample.fixture.ts';
    let dir = '';

    before(function () {
      dir = mkdtempSync(join(tmpdir(), 'matrix-spec-'));
    });
    after(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    /** Runs mocha on the fixture in a child; resolves with its output and exit code. */
    function runMocha(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; out: string }> {
      return new Promise((resolve, reject) => {
        const childEnv = { ...process.env, ...env };
        for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
        const child = spawn(process.execPath, [join(ROOT, 'node_modules/mocha/bin/mocha.js'), ...args, FIXTURE], { cwd: ROOT, env: childEnv });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => {
          child.kill();
          reject(new Error(`mocha on the fixture did not finish in 45 s; output so far:\n${out}`));
        }, 45_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    }

    /** Timings differ from run to run; nothing else may. */
    function normalize(out: string): string {
      return out.replace(/ \(\d+ ?ms\)/g, '').replace(/\(\d+ ?m?s\)/g, '(T)');
    }

    it('records passes, failures and hook-stopped tests, and prints what the spec reporter prints', async function () {
      const file = join(dir, 'results.json');
      const grepped = join(dir, 'grepped.json');
      const [recorded, plain, subset] = await Promise.all([
        runMocha(['--reporter', './spec/support/matrix-reporter.ts'], { MATRIX_OUT: file }),
        runMocha(['--reporter', 'spec'], { MATRIX_OUT: undefined }),
        runMocha(['--reporter', './spec/support/matrix-reporter.ts', '--grep', 'passes too|teardown fails'], { MATRIX_OUT: grepped }),
      ]);
      // The fixture fails on purpose: 1 test, 1 before-all hook, 1 after-each hook.
      expect(recorded.code, recorded.out).to.equal(3);
      expect(plain.code, plain.out).to.equal(3);
      expect(normalize(recorded.out)).to.equal(normalize(plain.out));
      expect(plain.out).to.include(`passes too ${tag('CometD', 'long-polling')}`);

      // A test left out by --grep is not run, so a hook failure beside it does not count it.
      expect(subset.code, subset.out).to.equal(1);
      const few = JSON.parse(readFileSync(grepped, 'utf8')) as MatrixResults;
      expect(few.tests.map((t) => [t.title.replace(/^matrix sample /, ''), t.state])).to.deep.equal([
        [`passes too ${tag('CometD', 'long-polling')}`, 'passed'],
        [`a suite whose afterEach hook fails passes, then its teardown fails ${tag('Faye (Node)', 'long-polling')}`, 'failed'],
      ]);

      const results = JSON.parse(readFileSync(file, 'utf8')) as MatrixResults;
      expect(results.node).to.equal(process.version);
      expect(Date.parse(results.finishedAt)).to.be.at.least(Date.parse(results.startedAt));
      const byTitle = new Map(results.tests.map((t) => [t.title.replace(/^matrix sample /, ''), t]));
      expect([...byTitle.keys()]).to.have.members([
        `passes ${tag('CometD', 'long-polling')}`,
        `passes too ${tag('CometD', 'long-polling')}`,
        `fails ${tag('Faye', 'callback-polling')}`,
        `a suite whose before hook fails never runs ${tag('dojox.cometd 1.7', 'long-polling')}`,
        `a suite whose afterEach hook fails passes, then its teardown fails ${tag('Faye (Node)', 'long-polling')}`,
        `a suite whose afterEach hook fails does not run after that ${tag('Faye (Node)', 'long-polling')}`,
      ]);
      const get = (title: string) => byTitle.get(title)!;
      expect(get(`passes ${tag('CometD', 'long-polling')}`)).to.deep.include({ file: FIXTURE, state: 'passed', tags: [{ client: 'CometD', transport: 'long-polling' }] });
      expect(get(`fails ${tag('Faye', 'callback-polling')}`)).to.deep.include({ state: 'failed', error: 'failed on purpose' });
      expect(get(`a suite whose before hook fails never runs ${tag('dojox.cometd 1.7', 'long-polling')}`).state).to.equal('failed');
      expect(get(`a suite whose before hook fails never runs ${tag('dojox.cometd 1.7', 'long-polling')}`).error).to.match(/before all.*before hook failed on purpose/);
      expect(get(`a suite whose afterEach hook fails passes, then its teardown fails ${tag('Faye (Node)', 'long-polling')}`).state).to.equal('failed');
      expect(get(`a suite whose afterEach hook fails does not run after that ${tag('Faye (Node)', 'long-polling')}`).state).to.equal('failed');
      expect(results.badTags).to.have.length(1);
      expect(results.badTags[0]).to.deep.include({ file: FIXTURE });
      expect(results.badTags[0]!.problem).to.match(/unknown client "Nobody"/);

      const text = renderMatrix(results);
      expect(text).to.include(`| ${MATRIX_CLIENTS[0].label} | Chromium | ✅ passed (2 tests) |`);
      expect(text).to.include('❌ failed (1 of 1 test)');
    });
  });
});
