/**
 * What grew between two V8 heap snapshots (`npm run soak -- --heap-snapshots DIR`
 * writes one at every idle point): objects grouped by type and constructor
 * name, with the change in count and in self size, largest growth first.
 *
 *   npm run heap-diff -- a.heapsnapshot b.heapsnapshot [--top 40]
 *
 * Self sizes only (not retained sizes): enough to see which kind of object
 * piles up; open the snapshots in Chrome DevTools to see what holds them.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Totals = Map<string, { count: number; bytes: number }>;

export function totalsOf(s: Snapshot): Totals {
  const { node_fields: fields, node_types: types } = s.snapshot.meta;
  const width = fields.length;
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const names = types[0];
  const totals: Totals = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = names[s.nodes[i + ti]!]!;
    let name = s.strings[s.nodes[i + ni]!]!;
    if (type.includes('string')) name = '(strings)';
    else if (type === 'code' || type === 'number' || type === 'hidden' || type === 'array') name = `(${type})`;
    else if (name.length > 60) name = `${name.slice(0, 60)}…`;
    const key = `${type}: ${name}`;
    const t = totals.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += s.nodes[i + si]!;
    totals.set(key, t);
  }
  return totals;
}

export function diffTotals(a: Totals, b: Totals) {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].map((key) => {
    const x = a.get(key) ?? { count: 0, bytes: 0 };
    const y = b.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: y.count - x.count, bytes: y.bytes - x.bytes, nowCount: y.count, nowBytes: y.bytes };
  });
}

function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' } } });
  if (positionals.length !== 2) {
    console.error('usage: npm run heap-diff -- a.heapsnapshot b.heapsnapshot [--top 40]');
    process.exit(2);
  }
  const top = Number(values.top);
  const [a, b] = positionals.map((f) => totalsOf(JSON.parse(readFileSync(f, 'utf8')) as Snapshot)) as [Totals, Totals];
  const rows = diffTotals(a, b);
  const sum = (t: Totals) => [...t.values()].reduce((n, x) => n + x.bytes, 0);
  const mb = (n: number) => (n / 1024 / 1024).toFixed(2);
  console.log(`self size: ${mb(sum(a))} MB → ${mb(sum(b))} MB (${sum(b) >= sum(a) ? '+' : ''}${mb(sum(b) - sum(a))} MB)`);
  const line = (r: (typeof rows)[number]) =>
    `${(r.count >= 0 ? '+' : '') + r.count}`.padStart(9) + `${(r.bytes >= 0 ? '+' : '') + (r.bytes / 1024).toFixed(1)} KB`.padStart(14) + `   now ${r.nowCount} (${(r.nowBytes / 1024).toFixed(0)} KB)  ${r.key}`;
  console.log('\nlargest growth in bytes:');
  for (const r of [...rows].sort((x, y) => y.bytes - x.bytes).slice(0, top)) console.log(line(r));
  console.log('\nlargest growth in count:');
  for (const r of [...rows].sort((x, y) => y.count - x.count).slice(0, Math.ceil(top / 2))) console.log(line(r));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) main();
