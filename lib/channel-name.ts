/**
 * Channel names: the grammar, the three categories and wildcard expansion, written once.
 *
 * We accept CometD's character set (a superset of the spec's) so that names the CometD
 * clients send are not refused, and we reject only what would break routing: empty
 * segments, a wildcard anywhere but the last segment, and characters outside the set.
 */

/** One segment: CometD's set, minus `*` (wildcards are whole segments) and `/`. */
const SEGMENT = /^[A-Za-z0-9!#$()+\-.@_{}~ ]+$/;

/** Longest channel name we accept; keeps keys bounded for the engines. */
export const MAX_CHANNEL_LENGTH = 1024;

/** How a channel name is routed. */
export type ChannelKind = 'meta' | 'service' | 'broadcast';

/** What the grammar says about a name. */
export interface ChannelInfo {
  readonly kind: ChannelKind;
  /** `'*'` or `'**'` when the last segment is a wildcard, else `null`. */
  readonly wildcard: '*' | '**' | null;
}

const infoCache = new Map<string, ChannelInfo | null>();
const INFO_CACHE_MAX = 10_000;

/**
 * Parses a channel name, returning `null` when it is not valid.
 * Results are cached (bounded), so each distinct name is checked once.
 */
export function parseChannel(name: unknown): ChannelInfo | null {
  if (typeof name !== 'string') return null;
  const cached = infoCache.get(name);
  if (cached !== undefined) return cached;
  const info = checkChannel(name);
  if (infoCache.size >= INFO_CACHE_MAX) infoCache.clear();
  infoCache.set(name, info);
  return info;
}

function checkChannel(name: string): ChannelInfo | null {
  if (name.length < 2 || name.length > MAX_CHANNEL_LENGTH || name.charCodeAt(0) !== 47 /* / */) {
    return null;
  }
  const segments = name.slice(1).split('/');
  let wildcard: '*' | '**' | null = null;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '*' || s === '**') {
      if (i !== segments.length - 1) return null;
      wildcard = s;
    } else if (!SEGMENT.test(s)) {
      return null;
    }
  }
  const kind: ChannelKind =
    segments[0] === 'meta' && segments.length > 1
      ? 'meta'
      : segments[0] === 'service' && segments.length > 1
        ? 'service'
        : 'broadcast';
  return { kind, wildcard };
}

const expansionCache = new Map<string, readonly string[]>();
const EXPANSION_CACHE_MAX = 10_000;

/**
 * The subscription keys that match a concrete channel: the name itself and every
 * wildcard pattern above it. `/a/b/c` → `/a/b/c`, `/a/b/*`, `/a/b/**`, `/a/**`, `/**`.
 */
export function expandChannel(name: string): readonly string[] {
  const cached = expansionCache.get(name);
  if (cached !== undefined) return cached;
  const out: string[] = [name];
  let cut = name.lastIndexOf('/');
  // `*` matches only the last segment, so only the direct parent gets a `*` pattern.
  out.push(name.slice(0, cut + 1) + '*');
  for (;;) {
    out.push(name.slice(0, cut + 1) + '**');
    if (cut === 0) break;
    cut = name.lastIndexOf('/', cut - 1);
  }
  if (expansionCache.size >= EXPANSION_CACHE_MAX) expansionCache.clear();
  expansionCache.set(name, out);
  return out;
}

/** True when `pattern` (possibly a wildcard) matches the concrete `channel`. */
export function channelMatches(pattern: string, channel: string): boolean {
  if (pattern === channel) return true;
  if (pattern.endsWith('/**')) {
    const prefix = pattern.slice(0, -2);
    return channel.length > prefix.length && channel.startsWith(prefix);
  }
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1);
    return channel.length > prefix.length && channel.startsWith(prefix) && channel.indexOf('/', prefix.length) === -1;
  }
  return false;
}

/** The five protocol channels. */
export const META = {
  handshake: '/meta/handshake',
  connect: '/meta/connect',
  subscribe: '/meta/subscribe',
  unsubscribe: '/meta/unsubscribe',
  disconnect: '/meta/disconnect',
} as const;
