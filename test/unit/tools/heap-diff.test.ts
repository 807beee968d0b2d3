import { describe, expect, it } from 'vitest';
import { diffTotals, totalsOf } from '../../../tools/heap-diff.js';

/** A heap snapshot in V8's layout: nodes as flat rows of node_fields, names as indices into strings. */
const snapshot = (rows: [type: number, name: number, size: number][]) => ({
  snapshot: { meta: { node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'], node_types: [['hidden', 'array', 'string', 'object', 'code'] as string[]] as [string[]] } },
  nodes: rows.flatMap(([t, n, size], i) => [t, n, i, size, 0]),
  strings: ['', 'FoldedActor', 'hello', 'Map'],
});

describe('heap-diff', () => {
  it('groups by type and constructor, strings together, and diffs counts and self sizes', () => {
    const a = totalsOf(snapshot([[3, 1, 100], [2, 2, 20], [3, 3, 40]]));
    const b = totalsOf(snapshot([[3, 1, 100], [3, 1, 120], [2, 2, 20], [2, 0, 30]]));
    expect(a.get('object: FoldedActor')).toEqual({ count: 1, bytes: 100 });
    expect(b.get('string: (strings)')).toEqual({ count: 2, bytes: 50 });
    const rows = Object.fromEntries(diffTotals(a, b).map((r) => [r.key, [r.count, r.bytes]]));
    expect(rows).toEqual({ 'object: FoldedActor': [1, 120], 'string: (strings)': [1, 30], 'object: Map': [-1, -40] });
  });
});
