/**
 * A configuration the server cannot start with: a bad flag, variable or config file key, an
 * unreadable TLS file. main.ts prints its message on stderr and exits with code 2, the
 * usual code for a usage error, so scripts tell it apart from a crash (1).
 */
export class ConfigError extends Error {
  readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
