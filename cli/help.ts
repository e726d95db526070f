/**
 * `bayeux-server --help` and `--version`. The help lists every configuration key of
 * cli/config.ts with its flag, environment variable, config file key and default (the
 * schema's, so it cannot drift).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_KEYS, defaultOf, type ConfigKey } from './config.js';
import { CONFIG_ENV, OPTION_DOCS, envName, flagName, type OptionDoc } from './option-docs.js';

const GROUPS: OptionDoc['group'][] = ['Listening', 'Bayeux', 'Limits', 'TLS', 'Scaling', 'Endpoints'];

/** The text of `--help`. */
export function helpText(): string {
  const lines = [
    'Usage: bayeux-server [options]',
    '',
    'A standalone Bayeux server for CometD, Faye and Dojo clients (in-memory engine unless --redis).',
    'Every option is also an environment variable and a key of the JSON file given with --config;',
    'flags win over variables, variables over the file, the file over the defaults.',
    '',
    `  -c, --config <file>   JSON config file, e.g. { "port": 8000, "maxInterval": 20000 }  [env ${CONFIG_ENV}]`,
    '  -h, --help            Print this help',
    '      --version         Print the version',
  ];
  for (const group of GROUPS) {
    lines.push('', `${group}:`);
    for (const key of CONFIG_KEYS.filter((k) => OPTION_DOCS[k].group === group)) lines.push(...describe(key));
  }
  lines.push(
    '',
    'Endpoints: GET /healthz (the process is alive), GET /readyz (the engine is reachable and the',
    'server is not draining), GET /metrics, POST <path>/publish and /monitor (with --publish-token).',
    'SIGTERM or SIGINT drains the server (clients move elsewhere), closes it and exits 0.',
    'Config errors exit with code 2. Docs: docs/server.md.',
    '',
  );
  return lines.join('\n');
}

function describe(key: ConfigKey): string[] {
  const doc = OPTION_DOCS[key];
  const flag = doc.kind === 'boolean' ? `--${flagName(key)}, --no-${flagName(key)}` : `--${flagName(key)} ${doc.arg ?? '<value>'}`;
  const def = defaultOf(key);
  const shown = doc.shownDefault ?? (Array.isArray(def) ? def.join(',') : String(def));
  return [`  ${doc.short !== undefined ? `-${doc.short}, ` : '    '}${flag}`, `        ${doc.help}`, `        default: ${shown}; env ${envName(key)}; config key "${key}"`];
}

/** The package's version: the package.json above this file (source or dist/esm/cli). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      // dist/esm has a package.json of its own ({ "type": "module" }): go past it.
      if (pkg.name === 'bayeux-server' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // none here: look further up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
