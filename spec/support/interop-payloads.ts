/**
 * Payloads that must survive client -> server -> client unchanged, as [name, value].
 */

/** A string of `units` UTF-16 code units mixing 1-, 2-, 3- and 4-byte UTF-8 characters. */
function mixedString(units: number): string {
  const pattern = 'aé日😀\u2028𝄞z'; // 1+1+1+2+1+2+1 = 9 units, 1+2+3+4+3+4+1 = 18 bytes
  return pattern.repeat(Math.ceil(units / pattern.length)).slice(0, units - (units % pattern.length));
}

function nested(depth: number): unknown {
  let v: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [i, v] : { level: i, child: v };
  return v;
}

export const PAYLOADS: ReadonlyArray<readonly [string, unknown]> = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['zero', 0],
  ['an integer', -42],
  ['a fraction', 3.141592653589793],
  ['a large exponent', 1e21],
  ['a tiny number', 5e-324],
  ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
  ['an empty string', ''],
  ['an empty object', {}],
  ['an empty array', []],
  ['accented and CJK text', 'héllo wörld, 日本語, Ελληνικά, עברית'],
  ['astral characters', '😀 𝄞 𠜎 👩‍👩‍👧'],
  ['line and paragraph separators', 'a\u2028b\u2029c'],
  ['escapes and control characters', 'quote " backslash \\ slash / tab \t nl \n nul \u0000 \u001f del \u007f </script>'],
  ['a lone surrogate', 'x\ud800y'],
  ['an object with unicode keys', { 'clé': 1, '日本': [2], '😀': { '\u2028': null } }],
  ['a mixed array', [1, 'two', null, true, { three: 3 }, [4, [5]], -0.5]],
  ['a deeply nested value', nested(40)],
  ['a 64 KiB ASCII string', 'x'.repeat(64 * 1024)],
  ['a 64 Ki-unit string of 1- to 4-byte characters', mixedString(64 * 1024)],
];

function codeUnit(s: string, i: number): string {
  return i < s.length ? `U+${s.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}` : 'end of string';
}

/**
 * Where `actual` first differs from `expected` (a path and a short reason), or null when
 * they are equal. Keeps failures on 64 KB strings readable, unlike a full diff.
 */
export function firstDifference(actual: unknown, expected: unknown, path = 'data'): string | null {
  if (typeof expected === 'string') {
    if (typeof actual !== 'string') return `${path}: expected a string, got ${JSON.stringify(actual)?.slice(0, 80)}`;
    if (actual === expected) return null;
    let i = 0;
    while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
    return `${path}: strings differ at index ${i} of ${expected.length} (got ${codeUnit(actual, i)}, expected ${codeUnit(expected, i)}; got length ${actual.length})`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array`;
    if (actual.length !== expected.length) return `${path}: expected length ${expected.length}, got ${actual.length}`;
    for (let i = 0; i < expected.length; i++) {
      const d = firstDifference(actual[i], expected[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return `${path}: expected an object`;
    const ek = Object.keys(expected).sort();
    const ak = Object.keys(actual).sort();
    if (JSON.stringify(ek) !== JSON.stringify(ak)) return `${path}: expected keys ${JSON.stringify(ek)}, got ${JSON.stringify(ak)}`;
    for (const k of ek) {
      const d = firstDifference((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(actual, expected) ? null : `${path}: expected ${String(expected)}, got ${JSON.stringify(actual)}`;
}

/** Throws a short, readable error when `actual` differs from `expected`. */
export function assertSamePayload(actual: unknown, expected: unknown, what: string): void {
  const d = firstDifference(actual, expected);
  if (d !== null) throw new Error(`${what}: ${d}`);
}
