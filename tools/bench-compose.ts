/**
 * Composition benchmark: `npx tsx tools/bench-compose.ts [--seconds 60] [--runs 1] [--all] [--fresh]`
 *
 * Generates 60 s recordings (640×360 VP8 + Opus per participant, one track per
 * file, with sidecars, cached in $TMPDIR/bench-compose) with 2, 4 and 9
 * participants, composes them with this composer, and in the same run the
 * previous product's argument set (host-led 1280×720@30, VP9 realtime
 * cpu-used 4, amix duration=longest, -shortest) for 4 participants. Prints
 * speed (× realtime, wall clock and ffmpeg CPU seconds — other work on the
 * machine skews wall clock) and size, and the SSIM of both 4-participant
 * host-led outputs against a lossless render of their own filtergraph.
 * `--runs N` keeps the fastest of N runs per configuration (the machine is
 * shared); `--all` adds the grid and speaker layouts; about 4 minutes with
 * the defaults once the inputs are cached.
 */
import { spawn } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { SegmentMeta } from '../events/segment.js';
import { inputArgs } from '../src/composer/args.js';
import { createComposer, type Format, type Layout } from '../src/composer/index.js';
import { buildFilterGraph } from '../src/composer/filter-graph.js';
import { fitRect, inset, rowCells, stageAndStrip } from '../src/composer/geometry.js';
import { evaluateSegments, findSegments } from '../src/composer/inputs.js';
import { planComposition } from '../src/composer/plan.js';
import { DEFAULT_FONT } from '../src/composer/drawtext.js';
import { FFMPEG, FFPROBE, writeFixture, type FixtureParticipant } from './lib/compose-fixtures.js';

const argv = process.argv.slice(2);
const SECONDS = Number(argv[argv.indexOf('--seconds') + 1]) || 60;
const DURATION = SECONDS * 1000;
const FRESH = argv.includes('--fresh');
const RUNS = Math.max(1, Number(argv[argv.indexOf('--runs') + 1]) || 1);
const ALL = argv.includes('--all');
const CACHE = path.join(os.tmpdir(), 'bench-compose', `v1-${SECONDS}s`);
const logger = pino({ level: 'warn' });
const COLORS = ['0xc03030', '0x30a030', '0x3050c0', '0xc0a020', '0xa030a0', '0x20a0a0', '0xd06020', '0x808080', '0x6040c0'];

function run(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A 9-participant recording, generated once; the 2- and 4-participant ones are subsets (hard links, own sidecars). */
async function inputs(): Promise<void> {
  const marker = path.join(CACHE, 'ready');
  if (!FRESH && (await stat(marker).catch(() => null))) return;
  await rm(CACHE, { recursive: true, force: true });
  const participants: FixtureParticipant[] = COLORS.map((color, i) => ({
    participantId: i === 0 ? 'host' : `p${i}`,
    name: i === 0 ? 'Host' : `Participant ${i}`,
    role: i === 0 ? 'host' : 'participant',
    color,
    toneHz: 220 + i * 110,
    toneAmplitude: 0.08,
    pattern: 'busy',
    segments: [{ offsetMs: 0, durationMs: DURATION }],
    speaksMs: Array.from({ length: Math.ceil(SECONDS / 9) }, (_, k) => ({ start: (k * 9 + i) * 1000, end: (k * 9 + i + 1) * 1000 })),
  }));
  const t = Date.now();
  process.stdout.write(`generating ${participants.length} × ${SECONDS} s of 640×360 VP8 + Opus in ${CACHE} … `);
  await writeFixture({ root: CACHE, meetingId: 'bench9', recordingId: 'r9', participants, width: 640, height: 360, fps: 30 });
  for (const n of [2, 4]) {
    const dir = path.join(CACHE, `bench${n}`);
    await mkdir(dir, { recursive: true });
    const keep = new Set(participants.slice(0, n).map((p) => p.participantId));
    for (const f of await readdir(path.join(CACHE, 'bench9'))) {
      if (!f.endsWith('.json') || f.endsWith('.levels.json')) continue;
      const meta = JSON.parse(await readFile(path.join(CACHE, 'bench9', f), 'utf8')) as SegmentMeta;
      if (!keep.has(meta.participantId)) continue;
      const rename = (name: string) => name.replace('-r9-', `-r${n}-`);
      await link(path.join(CACHE, 'bench9', meta.file), path.join(dir, rename(meta.file)));
      if (meta.levelsFile) await link(path.join(CACHE, 'bench9', meta.levelsFile), path.join(dir, rename(meta.levelsFile)));
      const next = { ...meta, meetingId: `bench${n}`, recordingId: `r${n}`, file: rename(meta.file), levelsFile: meta.levelsFile && rename(meta.levelsFile) };
      await writeFile(path.join(dir, rename(f)), JSON.stringify(next));
    }
  }
  await writeFile(marker, '');
  console.log(`${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** An ffmpeg that records its own CPU time (user + system) in `<dir>/cpu`. */
async function timedFfmpeg(dir: string): Promise<{ bin: string; cpu: () => Promise<number> }> {
  const bin = path.join(dir, 'ffmpeg');
  const out = path.join(dir, 'cpu');
  await writeFile(bin, `#!/bin/sh\nexec /usr/bin/time -o ${out} -f "%U %S" ${FFMPEG} "$@"\n`);
  await chmod(bin, 0o755);
  return {
    bin,
    cpu: async () => {
      const [u, s] = (await readFile(out, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
      return u! + s!;
    },
  };
}

interface Row {
  name: string;
  load: number;
  wallS: number;
  cpuS: number;
  bytes: number;
  file: string;
}

async function ours(n: number, layout: Layout, format: Format, work: string): Promise<Row> {
  const timed = await timedFfmpeg(work);
  const composer = createComposer({ root: CACHE, logger, ffmpegPath: timed.bin, ffprobePath: FFPROBE });
  const t = Date.now();
  const r = await composer.compose({
    jobId: `bench-${n}-${layout}-${format}`, meetingId: `bench${n}`, recordingId: `r${n}`, durationMs: DURATION, layout, format, createdAt: Date.now(),
  });
  const wallS = (Date.now() - t) / 1000;
  const moved = path.join(work, `ours-${n}-${layout}.${format}`);
  await rm(moved, { force: true });
  await link(r.path, moved);
  await rm(r.path);
  await rm(path.join(path.dirname(r.path), r.metadataFile));
  return { name: `ours ${n}p ${layout} ${format}`, load: os.loadavg()[0]!, wallS, cpuS: await timed.cpu(), bytes: r.sizeBytes, file: moved };
}

/** The same plan compose() makes, for a lossless reference render of our graph. */
async function ourGraph(n: number, layout: Layout) {
  const dir = path.join(CACHE, `bench${n}`);
  const found = await findSegments(dir, `bench${n}`, `r${n}`, logger);
  const { usable } = await evaluateSegments(FFPROBE, found, logger);
  const plan = planComposition(
    { durationMs: DURATION, layout, width: 1280, height: 720, fps: 30, namePlates: true, fontFile: DEFAULT_FONT },
    usable.map((u) => ({ meta: u.meta, path: u.mediaPath, assessment: u.assessment, levels: u.levels })),
    [],
  );
  return { inputs: inputArgs(plan.inputs), graph: buildFilterGraph(plan.spec) };
}

/** The previous product: host large on top, the others in a row, VP9 realtime cpu-used 4, amix longest, -shortest. */
async function baselineGraph(n: number) {
  const dir = path.join(CACHE, `bench${n}`);
  const metas = (await findSegments(dir, `bench${n}`, `r${n}`, logger)).map((f) => f.meta);
  const order = (kind: 'video' | 'audio') =>
    metas.filter((m) => m.kind === kind).sort((a, b) => Number(b.role === 'host') - Number(a.role === 'host') || a.participantId.localeCompare(b.participantId));
  const videos = order('video');
  const audios = order('audio');
  const { stage, strip } = stageAndStrip(1280, 720);
  const rects = [fitRect(stage, 640, 360), ...rowCells(videos.length - 1, strip).map((c) => fitRect(inset(c), 640, 360))];
  const chains = ['color=c=black:s=1280x720:r=30[bg]'];
  let last = 'bg';
  videos.forEach((_, i) => {
    const r = rects[i]!;
    // The canvas is endless; the host's end ends the video (-shortest alone does not stop a filtergraph source in ffmpeg 5.1).
    chains.push(`[${i}:v]scale=${r.w}:${r.h}[s${i}]`, `[${last}][s${i}]overlay=${r.x}:${r.y}${i === 0 ? ':shortest=1' : ''}[o${i}]`);
    last = `o${i}`;
  });
  chains.push(`[${last}]null[vout]`);
  chains.push(`${audios.map((_, i) => `[${videos.length + i}:a]`).join('')}amix=inputs=${audios.length}:duration=longest[aout]`);
  return {
    inputs: [...videos, ...audios].flatMap((m) => ['-i', path.join(dir, m.file)]),
    graph: chains.join(';'),
  };
}

async function baseline(n: number, work: string): Promise<Row> {
  const { inputs: ins, graph } = await baselineGraph(n);
  const timed = await timedFfmpeg(work);
  const out = path.join(work, `baseline-${n}.webm`);
  const t = Date.now();
  const r = await run(timed.bin, [
    '-hide_banner', '-loglevel', 'error', '-y', ...ins, '-filter_complex', graph, '-map', '[vout]', '-map', '[aout]',
    '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '4', '-c:a', 'libopus', '-shortest', out,
  ]);
  if (r.code !== 0) throw new Error(`baseline failed: ${r.stderr}`);
  return { name: `baseline ${n}p host-led webm`, load: os.loadavg()[0]!, wallS: (Date.now() - t) / 1000, cpuS: await timed.cpu(), bytes: (await stat(out)).size, file: out };
}

async function lossless(ins: string[], graph: string, out: string, shortest: boolean) {
  const r = await run(FFMPEG, [
    '-hide_banner', '-loglevel', 'error', '-y', ...ins, '-filter_complex', graph, '-map', '[vout]', '-map', '[aout]',
    '-c:v', 'libx264', '-qp', '0', '-preset', 'ultrafast', '-c:a', 'pcm_s16le', ...(shortest ? ['-t', String(SECONDS)] : []), out,
  ]);
  if (r.code !== 0) throw new Error(`reference render failed: ${r.stderr}`);
}

/** Mean SSIM (Y, U, V weighted, as ffmpeg prints "All") over frames paired by index. */
async function ssim(file: string, reference: string): Promise<number> {
  const r = await run(FFMPEG, [
    '-hide_banner', '-i', file, '-i', reference,
    '-lavfi', '[0:v]setpts=N/30/TB[a];[1:v]setpts=N/30/TB[b];[a][b]ssim=shortest=1', '-f', 'null', '-',
  ]);
  const m = /All:([\d.]+)/.exec(r.stderr);
  if (!m) throw new Error(`no SSIM: ${r.stderr.slice(-500)}`);
  return Number(m[1]);
}

const fmt = (row: Row) =>
  `${row.name.padEnd(30)} ${(SECONDS / row.wallS).toFixed(2).padStart(6)}× wall  ${(SECONDS / row.cpuS).toFixed(2).padStart(6)}× per CPU-s  ` +
  `(${row.wallS.toFixed(1)} s, ${row.cpuS.toFixed(1)} CPU-s)  ${(row.bytes / 1e6).toFixed(2).padStart(6)} MB  load ${row.load.toFixed(1)}`;

/** The fastest of RUNS runs. */
async function best(runOnce: () => Promise<Row>): Promise<Row> {
  let fastest: Row | null = null;
  for (let i = 0; i < RUNS; i++) {
    const row = await runOnce();
    if (!fastest || row.wallS < fastest.wallS) fastest = row;
  }
  console.log(fmt(fastest!));
  return fastest!;
}

async function main() {
  console.log(`bench-compose: ${SECONDS} s inputs, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  await inputs();
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-compose-run-'));
  try {
    const rows: Row[] = [];
    for (const n of [2, 4, 9]) rows.push(await best(() => ours(n, 'host-led', 'webm', work)));
    const more = ALL ? ([['host-led', 'mp4'], ['grid', 'webm'], ['grid', 'mp4'], ['speaker', 'webm']] as const) : ([['host-led', 'mp4']] as const);
    for (const [layout, format] of more) rows.push(await best(() => ours(4, layout, format, work)));
    const base = await best(() => baseline(4, work));

    const ours4 = rows.find((r) => r.name === 'ours 4p host-led webm')!;
    const ours4mp4 = rows.find((r) => r.name === 'ours 4p host-led mp4')!;
    console.log(`\nspeed vs baseline (4p host-led): ${(base.wallS / ours4.wallS).toFixed(2)}× wall, ${(base.cpuS / ours4.cpuS).toFixed(2)}× CPU (webm); ` +
      `${(base.wallS / ours4mp4.wallS).toFixed(2)}× wall, ${(base.cpuS / ours4mp4.cpuS).toFixed(2)}× CPU (mp4)`);

    process.stdout.write('SSIM against lossless renders of the same graphs … ');
    const ourRef = path.join(work, 'ref-ours.mkv');
    const baseRef = path.join(work, 'ref-baseline.mkv');
    const g = await ourGraph(4, 'host-led');
    await lossless(g.inputs, g.graph, ourRef, false);
    const b = await baselineGraph(4);
    await lossless(b.inputs, b.graph, baseRef, true);
    const [sOurs, sOursMp4, sBase] = [await ssim(ours4.file, ourRef), await ssim(ours4mp4.file, ourRef), await ssim(base.file, baseRef)];
    console.log('');
    console.log(`  ours webm (VP9)     SSIM ${sOurs.toFixed(5)}  ${(ours4.bytes / 1e6).toFixed(2)} MB`);
    console.log(`  ours mp4 (H.264)    SSIM ${sOursMp4.toFixed(5)}  ${(ours4mp4.bytes / 1e6).toFixed(2)} MB`);
    console.log(`  baseline webm (VP9) SSIM ${sBase.toFixed(5)}  ${(base.bytes / 1e6).toFixed(2)} MB`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
