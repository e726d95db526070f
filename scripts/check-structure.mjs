// Checks the import structure of the sources (every .ts file under lib/, transports/ and
// extensions/), reading each file with TypeScript's parser, so every kind of import counts:
// `import`, `import type`, `export … from`, `import x = require(…)`, `import('…')` with a
// literal, and type positions such as `import('./x.js').T`.
//
// The rules:
//   (a) lib/ is self-contained: no file in lib/ imports a file outside lib/ (transports/,
//       extensions/, the root entry files index.ts, redis.ts, engine.ts, or anything else).
//   (b) lib/ has no import cycle, type-only imports included.
//   (c) The transports are peers: none of transports/long-polling.ts,
//       transports/callback-polling.ts and transports/iframe-streaming.ts imports another
//       of the three, directly or through other files under transports/.
// A relative import that names no file is reported too (it would hide a cycle).
//
// Usage: node scripts/check-structure.mjs [--root DIR]
// Exit status: 0 with a one-line summary, 1 with the list of problems, 2 on bad usage.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ts = createRequire(import.meta.url)('typescript');

const SOURCE_DIRS = ['lib', 'transports', 'extensions'];
const TRANSPORTS = ['transports/long-polling.ts', 'transports/callback-polling.ts', 'transports/iframe-streaming.ts'];

function parseArgs(argv) {
  let root = join(dirname(fileURLToPath(import.meta.url)), '..');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root' && i + 1 < argv.length) root = resolve(argv[++i]);
    else {
      console.error(`usage: node scripts/check-structure.mjs [--root DIR] (unknown argument: ${argv[i]})`);
      process.exit(2);
    }
  }
  return { root };
}

/** Paths relative to root, with forward slashes, of every .ts file under dir (none if it does not exist). */
function tsFilesUnder(root, dir) {
  const out = [];
  const walk = (abs) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const child = join(abs, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(toKey(root, child));
    }
  };
  if (existsSync(join(root, dir))) walk(join(root, dir));
  return out.sort();
}

const toKey = (root, abs) => relative(root, abs).split(sep).join('/');

/** Every module specifier in a source file, with whether it came from a type-only form. */
function specifiersOf(fileName, text) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const literal = (node) => (node && ts.isStringLiteralLike(node) ? node.text : undefined);
  const add = (spec, node) => {
    if (spec !== undefined) found.push({ spec, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      add(literal(node.moduleSpecifier), node);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(literal(node.moduleReference.expression), node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(literal(node.arguments[0]), node);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(literal(node.argument.literal), node);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The file a relative specifier names (`./x.js` is the source `./x.ts`), or undefined. */
function resolveRelative(root, fromKey, spec) {
  const base = join(root, dirname(fromKey), spec);
  const candidates = [base];
  if (/\.(m|c)?js$/.test(spec)) candidates.unshift(base.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts').replace(/\.cjs$/, '.cts'));
  else candidates.push(`${base}.ts`, join(base, 'index.ts'));
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return toKey(root, candidate);
  }
  return undefined;
}

/** Strongly connected components (Tarjan) of a graph given as Map<node, Set<node>>. */
function stronglyConnected(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const connect = (v) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return components;
}

/** Shortest path from `from` to `to` (at least one edge) following graph edges that stay in `allowed`. */
function shortestPath(graph, from, to, allowed) {
  const previous = new Map();
  const queue = [];
  for (const next of graph.get(from) ?? []) {
    if (!allowed(next) || previous.has(next)) continue;
    previous.set(next, from);
    queue.push(next);
  }
  while (queue.length > 0) {
    const node = queue.shift();
    if (node === to) {
      const path = [to];
      let at = previous.get(to);
      while (at !== from) {
        path.unshift(at);
        at = previous.get(at);
      }
      return [from, ...path];
    }
    for (const next of graph.get(node) ?? []) {
      if (!allowed(next) || previous.has(next)) continue;
      previous.set(next, node);
      queue.push(next);
    }
  }
  return undefined;
}

export function checkStructure(root) {
  const files = SOURCE_DIRS.flatMap((dir) => tsFilesUnder(root, dir));
  const graph = new Map(files.map((file) => [file, new Set()]));
  const problems = { outsideLib: [], unresolved: [], cycles: [], transports: [] };
  let imports = 0;

  for (const file of files) {
    for (const { spec, line } of specifiersOf(file, readFileSync(join(root, file), 'utf8'))) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue; // a package or node: built-in
      imports++;
      const target = resolveRelative(root, file, spec);
      if (target === undefined) {
        problems.unresolved.push(`${file}:${line} imports '${spec}', which names no file`);
        continue;
      }
      graph.get(file)?.add(target);
      if (file.startsWith('lib/') && !target.startsWith('lib/')) {
        problems.outsideLib.push(`${file}:${line} imports ${target} ('${spec}')`);
      }
    }
  }

  const inLib = (node) => node.startsWith('lib/');
  const libGraph = new Map([...graph].filter(([file]) => inLib(file)).map(([file, targets]) => [file, new Set([...targets].filter(inLib))]));
  for (const component of stronglyConnected(libGraph)) {
    const [first] = component;
    if (component.length === 1 && !libGraph.get(first).has(first)) continue;
    const members = new Set(component);
    const cycle = shortestPath(libGraph, first, first, (node) => members.has(node));
    const others = component.length > cycle.length - 1 ? ` (all of ${component.join(', ')} are on cycles with each other)` : '';
    problems.cycles.push(`${cycle.join(' -> ')}${others}`);
  }

  const throughTransports = (node) => node.startsWith('transports/');
  for (const from of TRANSPORTS) {
    for (const to of TRANSPORTS) {
      if (from === to || !graph.has(from)) continue;
      const path = shortestPath(graph, from, to, throughTransports);
      if (path) problems.transports.push(path.join(' -> '));
    }
  }

  return { files, imports, problems };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { root } = parseArgs(process.argv.slice(2));
  const { files, imports, problems } = checkStructure(root);
  const sections = [
    ['lib/ imports from outside lib/ (transports/, extensions/, entry files):', problems.outsideLib],
    ['import cycles in lib/ (type-only imports count):', problems.cycles],
    ['transport modules reaching another transport module:', problems.transports],
    ['relative imports that name no file:', problems.unresolved],
  ].filter(([, list]) => list.length > 0);
  if (sections.length > 0) {
    const count = sections.reduce((n, [, list]) => n + list.length, 0);
    console.error(`check-structure: ${count} problem(s) under ${root}`);
    for (const [title, list] of sections) {
      console.error(`\n${title}`);
      for (const item of list) console.error(`  ${item}`);
    }
    process.exit(1);
  }
  const per = SOURCE_DIRS.map((dir) => `${files.filter((f) => f.startsWith(`${dir}/`)).length} in ${dir}/`).join(', ');
  console.log(`check-structure: ok, ${files.length} files (${per}), ${imports} relative imports; lib/ self-contained and acyclic, transports independent`);
}
