/**
 * Memory held per meeting by the runtime: in one process with the embedded
 * log, N short meetings (tools/lib/short-meeting.ts: the events the real app
 * dispatches for a host and a participant recording, stopping and composing),
 * then idle past the actors' grace period and a full GC, then N more, idle
 * and GC again. Prints heap used, RSS and the live actor count after each
 * phase. With eviction the second phase should add about nothing.
 *
 * Usage: npm run bench:memory -- [--meetings 5000] [--phases 2] [--grace-ms 1000] [--keep 500] [--no-evict] [--snapshots DIR]
 * (--snapshots: a V8 heap snapshot after each idle + GC point, for `npm run heap-diff`.)
 * (--no-evict: actors are never evicted, what the runtime did before.)
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { createEmbeddedLog } from '../src/log/embedded.js';
import { createRuntime, type Runtime } from '../src/runtime/runtime.js';
import { shortMeeting } from './lib/short-meeting.js';

const { values: args } = parseArgs({
  options: {
    meetings: { type: 'string', default: '5000' },
    phases: { type: 'string', default: '2' },
    'grace-ms': { type: 'string', default: '1000' },
    keep: { type: 'string' },
    'no-evict': { type: 'boolean', default: false },
    snapshots: { type: 'string' },
  },
});
const N = Number(args.meetings);
const graceMs = args['no-evict'] ? Infinity : Number(args['grace-ms']);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:memory does)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function settle() {
  if (Number.isFinite(graceMs)) await sleep(graceMs + 1_500); // past the grace period and the next sweep
  for (let i = 0; i < 4; i++) {
    gc!();
    await sleep(50);
  }
}

function measure(rt: Runtime) {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, ...rt.stats() };
}

function print(label: string, m: ReturnType<typeof measure>, prev?: ReturnType<typeof measure>) {
  const delta = prev
    ? `   Δheap ${mb(m.heapUsed - prev.heapUsed).padStart(6)} MB (${((m.heapUsed - prev.heapUsed) / N / 1024).toFixed(2)} KB/meeting)   ΔRSS ${mb(m.rss - prev.rss).padStart(6)} MB`
    : '';
  console.log(
    `${label.padEnd(22)} heap ${mb(m.heapUsed).padStart(7)} MB   RSS ${mb(m.rss).padStart(7)} MB   live actors ${String(m.live).padStart(6)}   kept ${String(m.kept).padStart(5)}${delta}`,
  );
}

const dir = await mkdtemp(join(tmpdir(), 'mr-bench-memory-'));
try {
  const log = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
  const rt = createRuntime({
    log,
    logger: pino({ level: 'silent' }),
    actorGraceMs: graceMs,
    keepFinished: args.keep !== undefined ? Number(args.keep) : undefined,
  });
  rt.follow();
  console.log(`${N} short meetings per phase, embedded log (no fsync), grace ${Number.isFinite(graceMs) ? `${graceMs} ms` : 'never (no eviction)'}`);
  // A warm-up meeting, so code and caches are not counted as meeting memory.
  await shortMeeting(rt, 'warm', 'warm-rec');
  await settle();
  const base = measure(rt);
  print('start', base);
  const snapshot = async (label: string) => {
    if (!args.snapshots) return;
    await mkdir(args.snapshots, { recursive: true });
    console.log(`  heap snapshot: ${writeHeapSnapshot(join(args.snapshots, `${label}.heapsnapshot`))}`);
  };
  await snapshot('start');
  let prev = base;
  for (let phase = 1; phase <= Number(args.phases); phase++) {
    const started = performance.now();
    for (let i = 0; i < N; i++) await shortMeeting(rt, `p${phase}-room-${i}`, `p${phase}-rec-${i}`);
    const ms = performance.now() - started;
    const busy = measure(rt);
    print(`phase ${phase}, just after`, busy, prev);
    await settle();
    const m = measure(rt);
    print(`phase ${phase}, idle + GC`, m, prev);
    await snapshot(`phase-${phase}`);
    console.log(`  (${Math.round(ms)} ms, ${Math.round((N / ms) * 1000)} meetings/s; evicted so far ${m.evicted})`);
    prev = m;
  }
  await rt.close();
  await log.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
