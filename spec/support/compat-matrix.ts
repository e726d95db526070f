/**
 * The client-compatibility matrix (client × transport → result) that docs/transports.md
 * shows, built from spec results.
 *
 * A spec that proves one client on one transport end to end (handshake, subscribe, receive,
 * publish) says so in its test title with a tag: `[matrix <client>|<transport>]`, e.g.
 * `it('same origin: long-polling round trip [matrix CometD|long-polling]', …)`. The matrix
 * reporter (`matrix-reporter.ts`) records how each tagged test ended; `scripts/compat-matrix.mjs`
 * (`npm run matrix`) runs the tagged specs and writes the table between the markers below.
 *
 * Pure functions only: no file or process access here, so specs can check them on samples.
 */

/** The clients a tag may name, in table order. `label` is what the table shows. */
export const MATRIX_CLIENTS = [
  { tag: 'CometD', label: 'CometD JavaScript 9 (`cometd`, ES modules)', runsIn: 'Chromium' },
  { tag: 'Faye', label: 'Faye 1.4 (`faye/client/faye-browser.js`)', runsIn: 'Chromium' },
  { tag: 'dojox.cometd 1.7', label: 'dojox.cometd (Dojo 1.7.12)', runsIn: 'Chromium' },
  { tag: 'cometd-nodejs-client', label: 'CometD JavaScript 9 through `cometd-nodejs-client`', runsIn: 'Node' },
  { tag: 'Faye (Node)', label: 'Faye 1.4 Node client (`faye`)', runsIn: 'Node' },
] as const;

/** The transports (Bayeux connection types) a tag may name, in column order. */
export const MATRIX_TRANSPORTS = ['long-polling', 'cross-origin-long-polling', 'callback-polling', 'iframe', 'websocket', 'eventsource'] as const;

export type MatrixClient = (typeof MATRIX_CLIENTS)[number]['tag'];
export type MatrixTransport = (typeof MATRIX_TRANSPORTS)[number];

/** One `[matrix client|transport]` tag. */
export interface MatrixTag {
  client: MatrixClient;
  transport: MatrixTransport;
}

/** How one tagged test ended. */
export type MatrixState = 'passed' | 'failed';

/** One tagged test in a run (what the reporter writes). */
export interface MatrixTestResult {
  /** The spec file, relative to the repository root, with `/` separators. */
  file: string;
  /** Mocha's full title (describe titles and the test title). */
  title: string;
  tags: MatrixTag[];
  state: MatrixState;
  /** The first line of the failure, for failed tests. */
  error?: string;
}

/** What the reporter writes to `MATRIX_OUT`. */
export interface MatrixResults {
  /** ISO time the run started. */
  startedAt: string;
  /** ISO time the run ended. */
  finishedAt: string;
  /** `process.version` of the run. */
  node: string;
  tests: MatrixTestResult[];
  /** Tags in test titles that do not parse or name an unknown client or transport. */
  badTags: { file: string; title: string; problem: string }[];
}

/** The text of every `[matrix …]` tag in `text` (a title or a source file), without brackets. */
export function findMatrixTags(text: string): string[] {
  return [...text.matchAll(/\[matrix\b([^\]\n]*)\]/g)].map((m) => `matrix${m[1]}`);
}

/** Parses one tag text (`matrix CometD|long-polling`, as {@link findMatrixTags} returns it). */
export function parseMatrixTag(tag: string): MatrixTag | { problem: string } {
  const m = /^matrix (.+)\|(.+)$/.exec(tag);
  if (!m) return { problem: `[${tag}] is not of the form [matrix <client>|<transport>]` };
  const client = m[1]!;
  const transport = m[2]!;
  if (!MATRIX_CLIENTS.some((c) => c.tag === client)) {
    return { problem: `[${tag}]: unknown client ${JSON.stringify(client)} (known: ${MATRIX_CLIENTS.map((c) => c.tag).join(', ')})` };
  }
  if (!(MATRIX_TRANSPORTS as readonly string[]).includes(transport)) {
    return { problem: `[${tag}]: unknown transport ${JSON.stringify(transport)} (known: ${MATRIX_TRANSPORTS.join(', ')})` };
  }
  return { client: client as MatrixClient, transport: transport as MatrixTransport };
}

/** The tags of a test title, and the problems with any that do not parse. */
export function parseTitleTags(title: string): { tags: MatrixTag[]; problems: string[] } {
  const tags: MatrixTag[] = [];
  const problems: string[] = [];
  for (const text of findMatrixTags(title)) {
    const parsed = parseMatrixTag(text);
    if ('problem' in parsed) problems.push(parsed.problem);
    else if (!tags.some((t) => t.client === parsed.client && t.transport === parsed.transport)) tags.push(parsed);
  }
  return { tags, problems };
}

/** One cell of the matrix. */
export interface MatrixCell {
  passed: number;
  failed: number;
  /** Spec files with tests in this cell. */
  files: string[];
}

/** The matrix: `cells[client][transport]`, absent where nothing is tagged. */
export type Matrix = Map<MatrixClient, Map<MatrixTransport, MatrixCell>>;

/** Counts the tagged tests of a run per client and transport. */
export function buildMatrix(results: Pick<MatrixResults, 'tests'>): Matrix {
  const matrix: Matrix = new Map();
  for (const test of results.tests) {
    for (const { client, transport } of test.tags) {
      let row = matrix.get(client);
      if (!row) matrix.set(client, (row = new Map()));
      let cell = row.get(transport);
      if (!cell) row.set(transport, (cell = { passed: 0, failed: 0, files: [] }));
      if (test.state === 'passed') cell.passed++;
      else cell.failed++;
      if (!cell.files.includes(test.file)) cell.files.push(test.file);
    }
  }
  return matrix;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The text of one cell: ✅ passed (n tests) / ❌ failed (k of n tests) / — not tested, or
 * ❌ not run when specs carry the tag (`tagged`) but the run has no result for it.
 */
export function cellText(cell: MatrixCell | undefined, tagged = false): string {
  if (!cell || cell.passed + cell.failed === 0) return tagged ? '❌ not run (tagged in a spec, no result)' : '— not tested';
  const total = cell.passed + cell.failed;
  if (cell.failed === 0) return `✅ passed (${plural(total, 'test')})`;
  return `❌ failed (${cell.failed} of ${plural(total, 'test')})`;
}

/** Options for {@link renderMatrix}. */
export interface RenderOptions {
  /** The command that produced the table, named in the text. */
  command?: string;
  /** Every tag found in the spec sources: a tagged cell without results shows as not run. */
  tagged?: readonly MatrixTag[];
}

/**
 * The Markdown that goes between the markers: the table, then the date, the spec files it
 * came from and every failure. Columns are the known transports, rows the known clients.
 */
export function renderMatrix(results: MatrixResults, options: RenderOptions = {}): string {
  const matrix = buildMatrix(results);
  const lines: string[] = [];
  lines.push(`<!-- Written by ${options.command ?? '`npm run matrix`'} from the spec results; edits here are overwritten. -->`);
  lines.push('');
  lines.push(`| client | runs in | ${MATRIX_TRANSPORTS.map((t) => `\`${t}\``).join(' | ')} |`);
  lines.push(`| --- | --- | ${MATRIX_TRANSPORTS.map(() => '---').join(' | ')} |`);
  for (const client of MATRIX_CLIENTS) {
    const row = matrix.get(client.tag);
    const cells = MATRIX_TRANSPORTS.map((t) =>
      cellText(row?.get(t), options.tagged?.some((x) => x.client === client.tag && x.transport === t) ?? false),
    );
    lines.push(`| ${client.label} | ${client.runsIn} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  const files = [...new Set(results.tests.map((t) => t.file))].sort();
  const passed = results.tests.filter((t) => t.state === 'passed').length;
  const date = results.finishedAt.slice(0, 10);
  lines.push(
    `Run on ${date} (Node ${results.node}): ${plural(results.tests.length, 'tagged test')}, ${passed} passed. ` +
      `Sources: ${files.length > 0 ? files.map((f) => `\`${f}\``).join(', ') : 'none'}.`,
  );
  const failed = results.tests.filter((t) => t.state === 'failed');
  if (failed.length > 0) {
    lines.push('');
    lines.push('Failed:');
    lines.push('');
    for (const t of failed) lines.push(`- \`${t.file}\`: ${t.title}${t.error ? ` — ${t.error}` : ''}`);
  }
  return lines.join('\n');
}

export const MATRIX_START = '<!-- compat-matrix:start -->';
export const MATRIX_END = '<!-- compat-matrix:end -->';

/** Replaces what is between the markers in `doc` with `block`; throws when the markers are missing or out of order. */
export function replaceMatrixBlock(doc: string, block: string): string {
  const start = doc.indexOf(MATRIX_START);
  const end = doc.indexOf(MATRIX_END);
  if (start < 0 || end < 0 || end < start || doc.indexOf(MATRIX_START, start + 1) >= 0 || doc.indexOf(MATRIX_END, end + 1) >= 0) {
    throw new Error(`the document needs exactly one ${MATRIX_START} followed by one ${MATRIX_END}`);
  }
  return `${doc.slice(0, start + MATRIX_START.length)}\n${block}\n${doc.slice(end)}`;
}
