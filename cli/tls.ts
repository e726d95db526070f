/**
 * The HTTPS key and certificate, read when the server starts. An unreadable file, or a key
 * and certificate that do not make a TLS context (not PEM, not a pair), is a
 * {@link ConfigError}: the server exits 2 at once rather than failing every handshake.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { CliConfig, ConfigKey } from './config.js';
import { ConfigError } from './config-error.js';

export interface TlsFiles {
  key: Buffer;
  cert: Buffer;
}

/** The key and certificate of `config`, or null for plain HTTP. */
export function readTls(config: CliConfig, labelOf: (key: ConfigKey) => string = (k) => k): TlsFiles | null {
  if (config.tlsKey === undefined || config.tlsCert === undefined) return null;
  const read = (key: 'tlsKey' | 'tlsCert'): Buffer => {
    try {
      return readFileSync(config[key]!);
    } catch (err) {
      throw new ConfigError(`${labelOf(key)}: cannot read ${config[key]} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const files = { key: read('tlsKey'), cert: read('tlsCert') };
  try {
    tls.createSecureContext(files);
  } catch (err) {
    throw new ConfigError(`${labelOf('tlsKey')} / ${labelOf('tlsCert')}: not a usable PEM key and certificate pair (${(err as Error).message})`);
  }
  return files;
}
