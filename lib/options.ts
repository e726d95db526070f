/**
 * Server options, their defaults, and the one-time check done at construction.
 */
import { z } from 'zod';
import type { Engine } from './engines/engine.js';
import type { Advice } from './message.js';
import type { SecurityPolicy } from './security.js';
import { codedTypeError } from './coded-errors.js';

/** Options for {@link BayeuxServer}. Every limit has a safe default. */
export interface BayeuxServerOptions {
  /** How long a `/meta/connect` is held, in ms (advised to clients as `timeout`). Default 30000. */
  timeout?: number;
  /** Pause clients make between connects, in ms (advised as `interval`). Default 0. */
  interval?: number;
  /** A session is removed this many ms after its last connect reply if no new connect arrives. Default 10000. */
  maxInterval?: number;
  /** How often expired sessions are swept, in ms. Default 1000. */
  sweepInterval?: number;
  /** Largest request body accepted, in bytes; larger gets HTTP 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest single message, in bytes (as serialized JSON); larger gets `413::message_too_large`. Default 256 KiB. */
  maxMessageBytes?: number;
  /** Most messages in one request; more gets HTTP 400. Default 1000. */
  maxBatchMessages?: number;
  /** Most messages queued for one session; beyond it the oldest are dropped (event `queueOverflow`). Default 10000. */
  maxQueue?: number;
  /** Most subscriptions per session. Default 1000. */
  maxSubscriptionsPerSession?: number;
  /** The state engine (sessions, subscriptions, queues). Default: an in-memory engine. */
  engine?: Engine;
  /** Who may handshake, subscribe and publish. Default: everyone (meta channels excepted). */
  policy?: SecurityPolicy;
  /**
   * Advice sent with a refused handshake. Default `{ reconnect: 'none' }`: the client stops
   * rather than retrying in a loop. Use `{ reconnect: 'handshake', interval: 5000 }` to let
   * clients retry slowly (e.g. once a token may have been refreshed).
   */
  deniedHandshakeAdvice?: Advice;
  /**
   * Whether a publisher subscribed to the channel gets its own message back. Default true;
   * a channel can override it (`server.channel(name).broadcastToPublisher = false`).
   */
  broadcastToPublisher?: boolean;
  /**
   * Most `/meta/connect`s of one browser (one `BAYEUX_BROWSER` cookie) held at once in this
   * process. A connect beyond it is answered at once with advice
   * `{"multiple-clients": true, reconnect: "retry", interval: multiSessionInterval}`, so the
   * extra tabs poll instead of using up the browser's few connections per host. Applies
   * only to requests that carry the cookie. Default 1 (as CometD); -1 for no limit.
   */
  maxSessionsPerBrowser?: number;
  /** Polling interval, in ms, advised to the tabs beyond `maxSessionsPerBrowser`. Default 2000. */
  multiSessionInterval?: number;
}

const schema = z.strictObject({
  timeout: z.number().int().min(0).max(10 * 60_000).default(30_000),
  interval: z.number().int().min(0).max(10 * 60_000).default(0),
  maxInterval: z.number().int().min(1).max(24 * 3600_000).default(10_000),
  sweepInterval: z.number().int().min(10).max(60_000).default(1000),
  maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
  maxMessageBytes: z.number().int().min(256).default(256 * 1024),
  maxBatchMessages: z.number().int().min(1).default(1000),
  maxQueue: z.number().int().min(1).default(10_000),
  maxSubscriptionsPerSession: z.number().int().min(1).default(1000),
  engine: z.custom<Engine>((v) => typeof v === 'object' && v !== null).optional(),
  policy: z.custom<SecurityPolicy>((v) => typeof v === 'object' && v !== null).optional(),
  deniedHandshakeAdvice: z
    .object({ reconnect: z.enum(['none', 'handshake', 'retry']), interval: z.number().int().min(0).optional() })
    .default({ reconnect: 'none', interval: 0 }),
  broadcastToPublisher: z.boolean().default(true),
  maxSessionsPerBrowser: z.number().int().min(-1).default(1),
  multiSessionInterval: z.number().int().min(1).max(10 * 60_000).default(2000),
});

/** Options after defaults are applied. */
export type ResolvedOptions = Required<Omit<BayeuxServerOptions, 'engine' | 'policy'>> & {
  engine?: Engine;
  policy?: SecurityPolicy;
};

/** Applies defaults and validates; throws a readable error on a bad option. */
export function resolveOptions(options: BayeuxServerOptions = {}): ResolvedOptions {
  const r = schema.safeParse(options);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `option ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data as ResolvedOptions;
}
