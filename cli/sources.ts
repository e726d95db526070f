/**
 * Reads the configuration from its three sources, command-line flags, `BAYEUX_*`
 * environment variables and a JSON config file (`--config`), merges them (flags > variables
 * > file > defaults) and checks the result with the one schema of cli/config.ts. Anything
 * wrong, unknown flags, variables and keys included, is a {@link ConfigError} naming the
 * option as the user wrote it: `--max-interval`, `BAYEUX_MAX_INTERVAL` or
 * `maxInterval in ./bayeux.json`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { z } from 'zod';
import { CONFIG_KEYS, cliConfigSchema, type CliConfig, type ConfigKey } from './config.js';
import { ConfigError } from './config-error.js';
import { CONFIG_ENV, OPTION_DOCS, envName, flagName, type OptionDoc } from './option-docs.js';

/** What the command line asks for. */
export type CliRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
      kind: 'run';
      config: CliConfig;
      /** How the user wrote `key` (`--port`, `BAYEUX_PORT`, `port in ./bayeux.json`), or its flag when it was not given. */
      labelOf(key: ConfigKey): string;
    };

/** Variables with our prefix that are not options; a primary hands this one to its workers. */
export const WORKER_CONFIG_ENV = 'BAYEUX_SERVER_WORKER_CONFIG';

/** A value and where it came from. */
interface Given {
  value: unknown;
  label: string;
  source: 'flag' | 'env' | 'file';
}

/** Parses `argv` (without node and the script), `env` and the config file they name; throws {@link ConfigError}. */
export function resolveCli(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): CliRequest {
  const flags = readFlags(argv);
  if (flags.help === true) return { kind: 'help' };
  if (flags.version === true) return { kind: 'version' };
  const fromEnv = readEnv(env);
  const configFile = (flags.config as string | undefined) ?? nonEmpty(env[CONFIG_ENV]);
  const fromFile = configFile === undefined ? new Map<ConfigKey, Given>() : readConfigFile(configFile, cwd);

  const given = new Map<ConfigKey, Given>(fromFile);
  for (const [key, g] of fromEnv) given.set(key, g);
  for (const key of CONFIG_KEYS) {
    const value = flagValue(key, flags[key]);
    if (value !== undefined) given.set(key, { value, label: `--${flagName(key)}`, source: 'flag' });
  }
  const labelOf = (key: ConfigKey): string => given.get(key)?.label ?? `--${flagName(key)}`;

  const r = cliConfigSchema.safeParse(Object.fromEntries([...given].map(([k, g]) => [k, g.value])));
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = issue.path[0] as ConfigKey | undefined;
    if (key === undefined) throw new ConfigError(problemOf(issue));
    const item = typeof issue.path[1] === 'number' ? issue.path[1] : undefined;
    let raw = given.get(key)?.value;
    if (item !== undefined && Array.isArray(raw)) raw = raw[item];
    // The value is echoed to help spot a typo, unless it is a secret or not the point.
    const echo = raw !== undefined && OPTION_DOCS[key]?.secret !== true && !(issue.code === 'custom' && issue.params?.crossField === true);
    throw new ConfigError(`${labelOf(key)}: ${problemOf(issue)}${echo ? ` (got ${show(raw)})` : ''}`);
  }
  const config = r.data;
  // Files named in the config file are found next to it; on the command line, from where it runs.
  for (const key of ['tlsKey', 'tlsCert'] as const) {
    const file = config[key];
    if (file !== undefined) {
      const base = given.get(key)?.source === 'file' ? path.dirname(path.resolve(cwd, configFile!)) : cwd;
      config[key] = path.resolve(base, file);
    }
  }
  return { kind: 'run', config, labelOf };
}

/** `parseArgs` options: one per configuration key, plus `--config`, `--help` and `--version`. */
function flagOptions(): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const key of CONFIG_KEYS) {
    const doc: OptionDoc = OPTION_DOCS[key];
    options[flagName(key)] = {
      type: doc.kind === 'boolean' ? 'boolean' : 'string',
      ...(doc.kind === 'list' ? { multiple: true } : {}),
      ...(doc.short !== undefined ? { short: doc.short } : {}),
    };
  }
  return options;
}

/** The flags by configuration key (plus config, help, version). */
function readFlags(argv: readonly string[]): Record<string, unknown> {
  const options = flagOptions();
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, allowNegative: true }));
  } catch (err) {
    throw new ConfigError(flagProblem(err as Error & { code?: string }, Object.keys(options)));
  }
  // `--no-port` is not an option (only booleans have a negative form).
  for (const [name, value] of Object.entries(values)) {
    if (value === false && options[name]?.type !== 'boolean') throw new ConfigError(`unknown option --no-${name}`);
  }
  const byKey: Record<string, unknown> = { config: values.config, help: values.help, version: values.version };
  for (const key of CONFIG_KEYS) byKey[key] = values[flagName(key)];
  return byKey;
}

/** parseArgs' error, said shortly, with a guess for a misspelt option. */
function flagProblem(err: Error & { code?: string }, names: string[]): string {
  const unknown = /Unknown option '([^']+)'/.exec(err.message);
  if (unknown !== null) {
    const flag = unknown[1]!;
    const guess = closest(flag.replace(/^-+/, '').replace(/=.*$/, ''), names);
    return `unknown option ${flag}${guess === null ? '' : ` (did you mean --${guess}?)`}`;
  }
  const positional = /Unexpected argument '([^']+)'/.exec(err.message);
  if (positional !== null) return `unexpected argument '${positional[1]}' (options are written --name value)`;
  return err.message.split('. ')[0]!;
}

/** A flag's text as the value the schema checks. */
function flagValue(key: ConfigKey, value: unknown): unknown {
  if (value === undefined) return undefined;
  const doc = OPTION_DOCS[key];
  if (doc.kind === 'list') {
    const items = value as string[];
    return doc.commas === true ? items.flatMap(splitList) : items;
  }
  return typeof value === 'string' ? fromText(doc, value) : value;
}

/** The `BAYEUX_*` variables that are set (an empty one counts as unset). */
function readEnv(env: NodeJS.ProcessEnv): Map<ConfigKey, Given> {
  const byName = new Map(CONFIG_KEYS.map((key) => [envName(key), key]));
  const given = new Map<ConfigKey, Given>();
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('BAYEUX_') || name === CONFIG_ENV || name === WORKER_CONFIG_ENV) continue;
    const key = byName.get(name);
    if (key === undefined) {
      const guess = closest(name, [...byName.keys(), CONFIG_ENV]);
      throw new ConfigError(`unknown environment variable ${name}${guess === null ? '' : ` (did you mean ${guess}?)`}`);
    }
    const t = nonEmpty(text);
    if (t === undefined) continue;
    const doc = OPTION_DOCS[key];
    given.set(key, { value: doc.kind === 'list' ? splitList(t) : fromText(doc, t), label: name, source: 'env' });
  }
  return given;
}

/** The keys of a JSON config file; unknown keys are errors. */
function readConfigFile(file: string, cwd: string): Map<ConfigKey, Given> {
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new ConfigError(`--config: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--config: ${file} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`--config: ${file} must hold a JSON object such as { "port": 8000 }`);
  }
  const known = new Set<string>(CONFIG_KEYS);
  const given = new Map<ConfigKey, Given>();
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) {
      const guess = closest(key, CONFIG_KEYS);
      throw new ConfigError(`unknown key ${JSON.stringify(key)} in ${file}${guess === null ? '' : ` (did you mean ${guess}?)`}`);
    }
    given.set(key as ConfigKey, { value, label: `${key} in ${file}`, source: 'file' });
  }
  return given;
}

/** Text as a number or boolean when it is one; else as is, for the schema to refuse with its message. */
function fromText(doc: OptionDoc, text: string): unknown {
  const t = text.trim();
  if (doc.kind === 'number') return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : text;
  if (doc.kind === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(t)) return true;
    if (/^(false|0|no|off)$/i.test(t)) return false;
  }
  return text;
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text;
}

/** A zod issue in plain words. */
function problemOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int') return 'must be a whole number';
      if (issue.expected === 'number') return 'must be a number';
      if (issue.expected === 'boolean') return 'must be true or false';
      if (issue.expected === 'array') return 'must be a list';
      return `must be a ${issue.expected}`;
    case 'too_small':
      if (issue.origin === 'number') return `must be at least ${String(issue.minimum)}`;
      return issue.message;
    case 'too_big':
      if (issue.origin === 'number') return `must be at most ${String(issue.maximum)}`;
      return issue.message;
    default:
      return issue.message;
  }
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** The name among `names` nearest to `name` (case-insensitive edit distance), if near enough to be a typo. */
function closest(name: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of names) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
