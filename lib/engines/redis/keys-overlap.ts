/**
 * Whether two subscription keys (channel names or patterns, valid per lib/channel-name.ts:
 * a wildcard is only ever the last segment) can match a common channel. The Redis engine's
 * logs mode needs it: a publish on a channel both keys match is appended to both logs under
 * one sequence number, and only a take that merges the session's logs in Redis counts it
 * once, so a session whose keys overlap is not served by the process reads.
 *
 * A key is its fixed segments plus what may follow: nothing (a channel), exactly one more
 * segment (`*`) or one or more (`**`). Two keys meet when their lengths can agree and their
 * fixed segments agree wherever both have one.
 */
export function keysOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const x = shape(a);
  const y = shape(b);
  // Lengths (in segments) of the channels each can match: [min, max].
  if (x.min > y.max || y.min > x.max) return false;
  const n = Math.min(x.fixed.length, y.fixed.length);
  for (let i = 0; i < n; i++) if (x.fixed[i] !== y.fixed[i]) return false;
  return true;
}

/** Whether any two of `keys` can match a common channel. */
export function anyOverlap(keys: readonly string[]): boolean {
  for (let i = 0; i < keys.length; i++) for (let j = i + 1; j < keys.length; j++) if (keysOverlap(keys[i]!, keys[j]!)) return true;
  return false;
}

function shape(key: string): { fixed: string[]; min: number; max: number } {
  const segments = key.slice(1).split('/');
  const last = segments[segments.length - 1];
  if (last === '*' || last === '**') {
    const fixed = segments.slice(0, -1);
    return { fixed, min: fixed.length + 1, max: last === '*' ? fixed.length + 1 : Infinity };
  }
  return { fixed: segments, min: segments.length, max: segments.length };
}
