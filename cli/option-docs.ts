/**
 * What `--help` says of each configuration key, and how each is spelt as a flag and as an
 * environment variable (derived from the key: `maxInterval` → `--max-interval`,
 * `BAYEUX_MAX_INTERVAL`). The table is typed by the schema's keys, so an option added to
 * cli/config.ts without a line here does not compile.
 */
import type { ConfigKey } from './config.js';

/** How a value given as text (a flag, a variable) is read. */
export type OptionKind = 'number' | 'string' | 'boolean' | 'list';

export interface OptionDoc {
  kind: OptionKind;
  /** The section of `--help` it is listed under. */
  group: 'Listening' | 'Bayeux' | 'Limits' | 'TLS' | 'Scaling' | 'Endpoints';
  /** What the value is, in `--help` (`<ms>`, `<url>`). */
  arg?: string;
  /** One-letter flag. */
  short?: string;
  /** A list flag whose value may also hold several comma-separated items. */
  commas?: boolean;
  /** Never echoed in an error message (a token, a URL that may hold a password). */
  secret?: boolean;
  /** What `--help` shows as the default when the schema has none. */
  shownDefault?: string;
  help: string;
}

export const OPTION_DOCS: { readonly [K in ConfigKey]-?: OptionDoc } = {
  port: { kind: 'number', group: 'Listening', arg: '<port>', short: 'p', help: 'TCP port to listen on; 0 picks a free one (printed at start).' },
  host: {
    kind: 'string',
    group: 'Listening',
    arg: '<host>',
    shownDefault: 'all interfaces',
    help: 'Address to listen on, e.g. 127.0.0.1 behind a local proxy.',
  },
  path: { kind: 'string', group: 'Listening', arg: '<path>', help: 'Mount path of the Bayeux endpoint (clients append /handshake, /connect, …).' },
  timeout: { kind: 'number', group: 'Bayeux', arg: '<ms>', help: 'How long a /meta/connect is held (advised to clients as timeout).' },
  interval: { kind: 'number', group: 'Bayeux', arg: '<ms>', help: 'Pause clients make between connects (advised as interval).' },
  maxInterval: { kind: 'number', group: 'Bayeux', arg: '<ms>', help: 'A session is removed this long after its last connect reply if no new connect arrives.' },
  cors: {
    kind: 'list',
    group: 'Bayeux',
    arg: '<origin>',
    shownDefault: 'none (same origin only)',
    help: 'A page origin allowed to call the endpoint cross-origin (XHR with credentials, WebSocket): https://app.example, or a pattern /^https:\\/\\/[a-z]+\\.example$/. Repeat the flag for more; comma-separated in the variable.',
  },
  transports: {
    kind: 'list',
    group: 'Bayeux',
    arg: '<names>',
    commas: true,
    help: 'Transports offered, in order of preference, comma-separated: websocket, long-polling, callback-polling, iframe, eventsource.',
  },
  extensions: {
    kind: 'list',
    group: 'Bayeux',
    arg: '<names>',
    commas: true,
    help: 'Server extensions, comma-separated: ack (acknowledged delivery, for clients with CometD\'s AckExtension), timesync (clock offsets, for clients with TimeSyncExtension); --extensions "" for none.',
  },
  maxBodyBytes: { kind: 'number', group: 'Limits', arg: '<bytes>', help: 'Largest request body; larger gets HTTP 413.' },
  bodyTimeout: { kind: 'number', group: 'Limits', arg: '<ms>', help: 'Longest time a request body may take to arrive; then HTTP 408.' },
  maxMessageBytes: { kind: 'number', group: 'Limits', arg: '<bytes>', help: 'Largest single message; larger gets 413::message_too_large.' },
  maxBatchMessages: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most messages in one request; more gets HTTP 400.' },
  maxQueue: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most messages queued for one session; beyond it the oldest are dropped.' },
  maxSubscriptionsPerSession: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most subscriptions per session.' },
  maxSessions: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most live sessions created by this process; 0 for no limit.' },
  maxSessionsPerAddress: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most sessions of one client address in this process; 0 for no limit.' },
  maxHandshakesPerSecondPerAddress: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most handshakes per second from one client address; 0 for no limit.' },
  maxSessionsPerBrowser: { kind: 'number', group: 'Limits', arg: '<n>', help: 'Most connects held at once for one browser (its tabs); -1 for no limit.' },
  tlsKey: { kind: 'string', group: 'TLS', arg: '<file>', shownDefault: 'none (plain HTTP)', help: 'PEM private key: serve HTTPS (with --tls-cert).' },
  tlsCert: { kind: 'string', group: 'TLS', arg: '<file>', shownDefault: 'none (plain HTTP)', help: 'PEM certificate (chain): serve HTTPS (with --tls-key).' },
  redis: {
    kind: 'string',
    secret: true,
    group: 'Scaling',
    arg: '<url>',
    shownDefault: 'none (in-memory engine)',
    help: 'Keep sessions in Redis (redis://[:password@]host:port[/db], rediss:// for TLS): several processes or machines can then serve the same clients. Needs the ioredis package.',
  },
  redisPrefix: { kind: 'string', group: 'Scaling', arg: '<prefix>', help: 'Prefix of every Redis key; servers that must not see each other use different ones.' },
  redisFanout: {
    kind: 'string',
    group: 'Scaling',
    arg: '<mode>',
    help: "How a publish reaches subscribers in Redis: logs (one log entry per publish, read once per process) or queues (an entry per subscriber, 0.1.0's mode). The same in every process.",
  },
  workers: {
    kind: 'number',
    group: 'Scaling',
    arg: '<n>',
    shownDefault: 'none (one process)',
    help: 'Run n worker processes on the same port (node:cluster); needs --redis.',
  },
  drainTimeout: { kind: 'number', group: 'Scaling', arg: '<ms>', help: 'On SIGTERM, longest wait for held connects to be answered before closing.' },
  publishToken: {
    kind: 'list',
    secret: true,
    group: 'Endpoints',
    arg: '<token>',
    shownDefault: 'none (endpoints off)',
    help: 'Bearer token (16+ characters) for POST <path>/publish and /monitor. Repeat the flag (comma-separated in the variable) to accept several, e.g. while rotating.',
  },
  metrics: { kind: 'boolean', group: 'Endpoints', help: 'Serve Prometheus metrics at GET /metrics (needs the prom-client package); --no-metrics turns it off.' },
};

/** `maxInterval` → `max-interval`. */
export function flagName(key: ConfigKey): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `maxInterval` → `BAYEUX_MAX_INTERVAL`. */
export function envName(key: ConfigKey): string {
  return `BAYEUX_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** The environment variable naming the config file (`--config`). */
export const CONFIG_ENV = 'BAYEUX_CONFIG';
