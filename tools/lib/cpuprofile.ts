/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self and inclusive time per
 * function, optionally restricted to a time window (CLOCK_MONOTONIC µs, the
 * clock V8 stamps profiles with and process.hrtime reads). Pure except the reader.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  /** Share of the sampled time (idle included) in [0, 1]. */
  share: number;
}

export interface ProfileSummary {
  sampledMs: number;
  idleShare: number;
  self: ProfileRow[];
  inclusive: ProfileRow[];
  byFile: ProfileRow[];
}

const short = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\/werift\/lib\//, 'werift/')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^\/work\/main\//, '');

const frameKey = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${short(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`.trim();

/** Pure. */
export function summarizeProfile(p: CpuProfile, top = 15, window?: { from: number; to: number }): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const perNode = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (window && (t < window.from || t > window.to)) continue;
    const dt = p.timeDeltas[i + 1] ?? 0; // a sample's time runs until the next one
    perNode.set(p.samples[i]!, (perNode.get(p.samples[i]!) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  const self = new Map<string, number>();
  const file = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of perNode) {
    total += us;
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') idle += us;
    const k = frameKey(cf);
    self.set(k, (self.get(k) ?? 0) + us);
    const f = cf.url ? short(cf.url) : cf.functionName;
    file.set(f, (file.get(f) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const key = frameKey(byId.get(cur)!.callFrame);
      if (key === '(root)' || seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, share: total > 0 ? us / total : 0 }));
  return { sampledMs: total / 1000, idleShare: total > 0 ? idle / total : 0, self: rows(self), inclusive: rows(incl), byFile: rows(file) };
}

/** The main-thread profile node wrote for `pid` in `dir` (thread 0), or the largest one. */
export async function readServerProfile(dir: string, pid: number): Promise<{ file: string; profile: CpuProfile } | null> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.cpuprofile'));
  const mine = names.filter((n) => n.includes(`.${pid}.`));
  const candidates = mine.length ? mine : names;
  if (candidates.length === 0) return null;
  const main = candidates.find((n) => n.includes(`.${pid}.0.`));
  let pick = main;
  if (!pick) {
    let best = -1;
    for (const n of candidates) {
      const s = (await stat(join(dir, n))).size;
      if (s > best) {
        best = s;
        pick = n;
      }
    }
  }
  const file = join(dir, pick!);
  return { file, profile: JSON.parse(await readFile(file, 'utf8')) as CpuProfile };
}
