/**
 * The one-time check of the options of the handler, the adapters and the transports (as
 * lib/options.ts does for the server's): a zod schema per options object, and at the first
 * problem a `TypeError` (`ERR_BAYEUX_INVALID_OPTION`) whose message names the option by its
 * path, `cors.origins[1]`. Unknown keys are refused, so a misspelt option is not ignored.
 */
import { z } from 'zod';
import { codedTypeError } from '../lib/coded-errors.js';

/** Returns `value` checked against `schema` (defaults applied); throws naming the option. `owner` says whose options they are. */
export function checkOptions<S extends z.ZodType>(schema: S, value: unknown, owner: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  // A misspelt key explains the rest (`{ origin }` also lacks `origins`): report it first.
  const issues = r.error.issues;
  const { path, problem } = describe(issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!);
  const where = path.length === 0 ? 'options' : `option ${formatPath(path)}`;
  throw codedTypeError('ERR_BAYEUX_INVALID_OPTION', `${owner} ${where}: ${problem}`);
}

function describe(issue: z.ZodError['issues'][number]): { path: PropertyKey[]; problem: string } {
  if (issue.code === 'unrecognized_keys') {
    // zod reports the object that has the key; name the key itself.
    return { path: [...issue.path, issue.keys[0]!], problem: 'unknown option' };
  }
  if (issue.code === 'invalid_union') {
    // `false` or an object: when the value is an object, what is wrong inside it is the news.
    for (const branch of issue.errors) {
      const inner = branch.find((i) => i.code === 'unrecognized_keys') ?? branch[0];
      if (inner !== undefined && (inner.path.length > 0 || inner.code === 'unrecognized_keys')) {
        const d = describe(inner);
        return { path: [...issue.path, ...d.path], problem: d.problem };
      }
    }
  }
  return { path: issue.path, problem: issue.message };
}

/** `['cors', 'origins', 1]` → `cors.origins[1]`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : (out === '' ? '' : '.') + String(p);
  return out;
}

/** A query parameter name a transport reads. */
export const parameterName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a query parameter name (1 to 64 letters, digits, _ . -)');

/** A whole number of ms a timer waits: setTimeout fires at once past 2^31 - 1 ms, so at most a day. */
export function milliseconds(min: number): z.ZodNumber {
  return z.number().int().min(min).max(24 * 3600_000);
}
