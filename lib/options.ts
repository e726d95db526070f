/**
 * Server options, their defaults, and the one-time check done at construction.
 */
import { z } from 'zod';
import type { Engine } from './engines/engine.js';
import type { RequestContext } from './exchange.js';
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
  /**
   * Longest time, in ms, a request body may take to arrive once its reading has begun; a
   * body still incomplete then (a stalled upload, a `Content-Length` larger than what is
   * sent, a trickle of bytes) gets HTTP 408 and its connection is closed. It covers only
   * the upload: a `/meta/connect` held for `timeout` has been read already. Default 10000
   * (a `maxBodyBytes` body at about 100 KB/s).
   */
  bodyTimeout?: number;
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
  /**
   * Most sessions one client address (see `clientAddress`) may have in this process at once.
   * A handshake beyond it gets `429:<limit>:too_many_sessions_from_address` with advice
   * `{ reconnect: 'handshake', interval }`, `interval` being the session expiry time
   * (`interval + maxInterval`, at most 60 s): by then a session its client abandoned has
   * freed its slot. Counted per process, not across a cluster; in-process clients are
   * neither limited nor counted. Default 0: no limit. See docs/security.md on proxies.
   */
  maxSessionsPerAddress?: number;
  /**
   * Most handshakes one client address (see `clientAddress`) may make per second in this
   * process, counted in fixed one-second windows (so a burst across the end of a window may
   * reach twice this). One beyond it gets `429:<limit>:too_many_handshakes` with advice
   * `{ reconnect: 'handshake', interval }`, `interval` being the ms until the window ends.
   * In-process clients are not limited. Default 0: no limit.
   */
  maxHandshakesPerSecondPerAddress?: number;
  /**
   * Most sessions this process has created and that are still alive (in-process clients not
   * counted). A handshake beyond it gets `503:<limit>:too_many_sessions` with the same advice
   * as `maxSessionsPerAddress`. Default 0: no limit, since the right number depends on the
   * memory a session costs in the app and on the engine; a default low enough to protect a
   * small process would refuse real clients of a large one.
   */
  maxSessions?: number;
  /**
   * The client address the per-address limits count a handshake under. Default: the TCP
   * peer (`request.remoteAddress`). Behind a reverse proxy every client has the proxy's
   * address: return the client's address as a proxy you run reports it (e.g. the entry it
   * appends to `X-Forwarded-For`). Never trust the header by default: a client can send any
   * value in it, and would then count under an address of its choosing. Returning
   * `undefined` falls back to the peer address, as does a function that throws (the error
   * goes to the `error` event). Addresses are cut to 100 characters.
   */
  clientAddress?: (request: RequestContext) => string | undefined;
}

/**
 * The shape, rules and defaults of {@link BayeuxServerOptions}: the CLI (cli/config.ts) builds
 * its own options from these fields, so ranges and defaults are written once.
 *
 * @internal
 */
export const serverOptionsSchema = z.strictObject({
  timeout: z.number().int().min(0).max(10 * 60_000).default(30_000),
  interval: z.number().int().min(0).max(10 * 60_000).default(0),
  maxInterval: z.number().int().min(1).max(24 * 3600_000).default(10_000),
  sweepInterval: z.number().int().min(10).max(60_000).default(1000),
  maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
  bodyTimeout: z.number().int().min(100).max(10 * 60_000).default(10_000),
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
  maxSessionsPerAddress: z.number().int().min(0).default(0),
  maxHandshakesPerSecondPerAddress: z.number().int().min(0).default(0),
  maxSessions: z.number().int().min(0).default(0),
  clientAddress: z.custom<(request: RequestContext) => string | undefined>((v) => typeof v === 'function', 'expected a function').optional(),
});

/** Options for {@link BayeuxServer.drain}. */
export interface DrainOptions {
  /**
   * Longest wait, in ms, for the connects held in this process to be answered; `drain`
   * resolves `false` if some are still unanswered then (`close()` answers them). Default 10000.
   */
  timeout?: number;
  /**
   * `advice.interval`, in ms, of the `503::server_draining` refusal of a handshake: how long a
   * new client waits before it handshakes again (through the load balancer, which by then
   * should send it to another process). Default 1000.
   */
  handshakeInterval?: number;
}

const drainSchema = z.strictObject({
  timeout: z.number().int().min(0).max(10 * 60_000).default(10_000),
  handshakeInterval: z.number().int().min(0).max(10 * 60_000).default(1000),
});

/** Applies defaults to the options of a drain and checks them. */
export function resolveDrainOptions(options: DrainOptions = {}): Required<DrainOptions> {
  const r = drainSchema.safeParse(options);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `drain option ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}

/** Options after defaults are applied. */
export type ResolvedOptions = Required<Omit<BayeuxServerOptions, 'engine' | 'policy' | 'clientAddress'>> & {
  engine?: Engine;
  policy?: SecurityPolicy;
  clientAddress?: BayeuxServerOptions['clientAddress'];
};

/** Applies defaults and validates; throws a readable error on a bad option. */
export function resolveOptions(options: BayeuxServerOptions = {}): ResolvedOptions {
  const r = serverOptionsSchema.safeParse(options);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `option ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data as ResolvedOptions;
}
