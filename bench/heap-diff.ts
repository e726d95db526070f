/**
 * What the heap holds per session: the difference between two heap snapshots (taken by
 * `idle --heap-snapshots` at the baseline and with N sessions held), grouped by node type
 * and constructor name, as bytes per session.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

function groups(file: string): Map<string, Group> {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out = new Map<string, Group>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = snap.strings[snap.nodes[i + iName]!]!;
    // Strings and numbers are grouped by type only; objects by constructor, closures by function.
    const key =
      type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number'
        ? `(${type})`
        : `${type} ${name.length > 60 ? name.slice(0, 57) + '…' : name}`;
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[i + iSize]!;
    out.set(key, g);
  }
  return out;
}

/** A table of the largest per-session differences between `base` and `held`. */
export function heapDiff(base: string, held: string, sessions: number, top = 30): string {
  const a = groups(base);
  const b = groups(held);
  const rows: { key: string; count: number; bytes: number }[] = [];
  for (const [key, g] of b) {
    const before = a.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, count: g.count - before.count, bytes: g.bytes - before.bytes });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  return [
    `${held} vs ${base}: ${(total / sessions).toFixed(0)} B per session (${sessions} sessions), self sizes`,
    '  bytes/session  objects/session  type and constructor',
    ...rows
      .slice(0, top)
      .map((r) => `  ${(r.bytes / sessions).toFixed(0).padStart(13)}  ${(r.count / sessions).toFixed(2).padStart(15)}  ${r.key}`),
  ].join('\n');
}
