/**
 * The standalone server's configuration: one zod schema for what flags, environment
 * variables and the config file merge into (cli/sources.ts does the merging). The server's
 * own options reuse the fields of lib/options.ts, so their ranges and defaults are written
 * once; the rest (listening, TLS, Redis, workers, endpoints) are the CLI's.
 */
import { z } from 'zod';
import { serverOptionsSchema } from '../lib/options.js';
import { TOKEN_SYNTAX } from '../transports/bearer-token.js';

/** Transport names as the transports advertise them (`connectionType`), in the default order of preference. */
export const TRANSPORT_NAMES = ['websocket', 'long-polling', 'callback-polling', 'iframe', 'eventsource'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** The built-in extensions the server can run (extensions/). */
export const EXTENSION_NAMES = ['ack', 'timesync'] as const;
export type ExtensionName = (typeof EXTENSION_NAMES)[number];

/** Paths the standalone server answers itself; the Bayeux mount may not take them. */
export const RESERVED_PATHS = ['/healthz', '/readyz', '/metrics', '/monitor'] as const;

const server = serverOptionsSchema.shape;

/** An origin allowed to call the server cross-origin: `https://app.example`, `null`, or a pattern written `/…/flags`. */
const origin = z.string().superRefine((o, ctx) => {
  if (o === '*') {
    ctx.addIssue({ code: 'custom', message: 'cannot be "*" (requests carry credentials); list the origins, or give a pattern such as /^https:\\/\\/[a-z]+\\.example$/' });
  } else if (o.startsWith('/')) {
    if (patternOf(o) === null) ctx.addIssue({ code: 'custom', message: 'must be a regular expression written /pattern/flags' });
  } else if (o !== 'null' && !/^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+\/?$/i.test(o)) {
    ctx.addIssue({ code: 'custom', message: 'must be an origin such as https://app.example (scheme, host, optional port), null, or /pattern/' });
  }
});

/** `/pattern/flags` as a RegExp, or null when it is not one. */
export function patternOf(text: string): RegExp | null {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(text);
  if (m === null) return null;
  try {
    return new RegExp(m[1]!, m[2]);
  } catch {
    return null;
  }
}

/** A string or a list of them (a config file may give either); always a list after parsing. */
function listOf<T extends z.ZodType<string>>(item: T) {
  return z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(item));
}

/** A bearer token: the publish endpoint's syntax (RFC 6750), and long enough not to be guessed. */
const token = z
  .string()
  .regex(TOKEN_SYNTAX, "must be an RFC 6750 token: letters, digits, '-._~+/', then '=' padding (no blanks or commas)")
  .min(16, 'must be at least 16 characters (e.g. the output of `openssl rand -hex 32`)');

/** The merged configuration, before defaults. Keys are the config file's; flags and variables are named after them. */
export const cliConfigSchema = z
  .strictObject({
    port: z.number().int().min(0).max(65535).default(8000),
    host: z.string().regex(/^[^\s/]+$/, 'must be a host name or an IP address').optional(),
    path: z
      .string()
      .regex(/^\/[^?#\s]*$/, "must start with '/' and hold no '?', '#' or blanks (e.g. '/cometd')")
      .refine((p) => !RESERVED_PATHS.some((r) => p === r || p.startsWith(`${r}/`)), `cannot be one of ${RESERVED_PATHS.join(', ')} (the server answers those itself)`)
      .default('/cometd'),
    timeout: server.timeout,
    interval: server.interval,
    maxInterval: server.maxInterval,
    cors: listOf(origin).default([]),
    transports: listOf(z.enum(TRANSPORT_NAMES, { error: `must be one of ${TRANSPORT_NAMES.join(', ')}` }))
      .refine((t) => t.length > 0, 'must list at least one transport')
      .refine((t) => new Set(t).size === t.length, 'lists a transport twice')
      .default([...TRANSPORT_NAMES]),
    // Both only answer clients that ask (a client without the extension sees no difference), so both are on.
    extensions: listOf(z.enum(EXTENSION_NAMES, { error: `must be one of ${EXTENSION_NAMES.join(', ')}` }))
      .refine((e) => new Set(e).size === e.length, 'lists an extension twice')
      .default([...EXTENSION_NAMES]),
    maxBodyBytes: server.maxBodyBytes,
    bodyTimeout: server.bodyTimeout,
    maxMessageBytes: server.maxMessageBytes,
    maxBatchMessages: server.maxBatchMessages,
    maxQueue: server.maxQueue,
    maxSubscriptionsPerSession: server.maxSubscriptionsPerSession,
    maxSessions: server.maxSessions,
    maxSessionsPerAddress: server.maxSessionsPerAddress,
    maxHandshakesPerSecondPerAddress: server.maxHandshakesPerSecondPerAddress,
    maxSessionsPerBrowser: server.maxSessionsPerBrowser,
    tlsKey: z.string().min(1).optional(),
    tlsCert: z.string().min(1).optional(),
    redis: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'must be a Redis URL, redis://[:password@]host:port[/db] or rediss://…')
      .refine((u) => URL.canParse(u), 'must be a valid URL')
      .optional(),
    redisPrefix: z.string().regex(/^[^{}\s]+$/, 'must be a non-empty string without { or } or blanks').default('bayeux'),
    redisFanout: z.enum(['logs', 'queues'], { error: 'must be logs or queues' }).default('logs'),
    workers: z.number().int().min(1).max(256).optional(),
    drainTimeout: z.number().int().min(0).max(10 * 60_000).default(10_000),
    publishToken: listOf(token).default([]),
    metrics: z.boolean().default(true),
  })
  .superRefine((c, ctx) => {
    if (c.workers !== undefined && c.redis === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['workers'],
        params: { crossField: true },
        message:
          'needs --redis: several processes share one port and any of them may get any request of a client, which works only when sessions live in a shared engine (Redis), not in one process',
      });
    }
    if ((c.tlsKey === undefined) !== (c.tlsCert === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.tlsKey === undefined ? 'tlsKey' : 'tlsCert'], params: { crossField: true }, message: 'is needed too: HTTPS takes a key and a certificate' });
    }
  });

/** The configuration after defaults: what the server starts with. Plain JSON, so a primary can hand it to its workers. */
export type CliConfig = z.output<typeof cliConfigSchema>;
/** A configuration key (also the name of the config file's key). */
export type ConfigKey = keyof z.input<typeof cliConfigSchema>;

/** Every configuration key, in the schema's order. */
export const CONFIG_KEYS = Object.keys(cliConfigSchema.shape) as ConfigKey[];

/** The default of `key` as the schema has it, or undefined when it has none. */
export function defaultOf(key: ConfigKey): unknown {
  const field = cliConfigSchema.shape[key] as z.ZodType;
  const def = (field as unknown as { def: { type: string; defaultValue?: unknown } }).def;
  return def.type === 'default' ? def.defaultValue : undefined;
}
