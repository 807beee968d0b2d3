/**
 * Live composition benchmark: `npm run bench:live -- [--minutes 1,10,30] [--feed werift|files] [--speed 1] [--ssim-seconds 60]`
 *
 * --feed werift (the default): the real pipeline. A server process (src/main.ts,
 * embedded, LIVE_COMPOSE=1, 10 s windows) records a room of 4 participants, each a
 * werift send-only peer over the real signaling socket fed in real time by one
 * looped 640×360 VP8 + Opus clip (tools/lib/clip-player.ts, as `npm run loadgen`);
 * the host stops it through the API (the stop composes). Prints, per length: stop →
 * `composition.completed` (polled every 100 ms), the live composition's CPU while
 * recording (the server's ffmpeg children, running and reaped, from /proc), the
 * server process's own CPU per participant (recorder, signaling, the live composer's
 * indexing) and the packets lost at the recorder (event log), both while the live
 * composition runs; then the post-stop composition of the same track files (in this
 * process) and the SSIM of both against lossless renders of the same layout (the live
 * one on the plain frame grid, the post-stop one at its grid phase; first
 * `--ssim-seconds` s).
 *
 * --feed files: for each length, a generated 4-participant meeting (640×360 VP8 + Opus per
 * participant, camera-like 'busy' pictures, all present from the start; cached
 * in $TMPDIR/bench-live) is FED into a fresh meeting folder the way the
 * recorder writes it: every track file grows cluster by cluster as its media
 * time passes (at `--speed`× real time), its sidecar says finalized:false
 * until the end and is then rewritten finalized. The live composer
 * (src/composer/live, 10 s windows) composes it while it grows; at the end
 * the stop's finish() runs. The feed does NOT go through werift (that is
 * test/integration/compose-live.test.ts): the growing files are ffmpeg's
 * WebM, not werift's.
 *
 * Prints, per length: stop → ready (finish()), the average CPU (cores) of the
 * live composition while recording (this process and its ffmpeg children,
 * from /proc, over the feed's wall time; the audio encoder runs until the
 * stop and is counted when it exits, so it is in the "incl. finish" figure),
 * and the SSIM of the live output and of the post-stop composition of the
 * same tracks against a lossless render of the post-stop graph (first
 * `--ssim-seconds` s: a lossless 1280×720 render of 30 minutes is many GB).
 */
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { segmentMetaSchema } from '../events/segment.js';
import { inputArgs } from '../src/composer/args.js';
import { createComposer } from '../src/composer/index.js';
import { buildFilterGraph } from '../src/composer/filter-graph.js';
import { evaluateSegments, findSegments } from '../src/composer/inputs.js';
import { planComposition } from '../src/composer/plan.js';
import { DEFAULT_FONT } from '../src/composer/drawtext.js';
import { createLiveSession } from '../src/composer/live/session.js';
import { refreshIndex } from '../src/composer/live/webm-index.js';
import { FFMPEG, FFPROBE, run, writeFixture, type FixtureParticipant } from './lib/compose-fixtures.js';
import { childCpuSeconds, clockTicks, descendantTicks, loadAverage, readProcCpu } from './lib/proc.js';
import { ClipPlayer } from './lib/clip-player.js';
import { encodeClip, type Clip } from './lib/media-clip.js';
import { LoadParticipant } from './lib/participant.js';
import { readEventLog, summarizePeerEvents } from './lib/results.js';
import { startServerProcess } from './lib/server.js';
import { api } from './lib/util.js';

const argv = process.argv.slice(2);
const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const MINUTES = (arg('--minutes') ?? '1,10,30').split(',').map(Number).filter((n) => n > 0);
const SPEED = Number(arg('--speed') ?? 1) || 1;
const SSIM_SECONDS = Number(arg('--ssim-seconds') ?? 60) || 60;
const FEED = arg('--feed') ?? 'werift';
const CACHE = path.join(os.tmpdir(), 'bench-live');
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const COLORS = ['0xc03030', '0x30a030', '0x3050c0', '0xc0a020'];

async function fixture(minutes: number): Promise<string> {
  const dir = path.join(CACHE, `${minutes}m`);
  if (await stat(path.join(dir, 'ready')).catch(() => null)) return dir;
  await rm(dir, { recursive: true, force: true });
  const durationMs = minutes * 60_000;
  const participants: FixtureParticipant[] = COLORS.map((color, i) => ({
    participantId: i === 0 ? 'host' : `p${i}`,
    name: i === 0 ? 'Host' : `Participant ${i}`,
    role: i === 0 ? 'host' : 'participant',
    color,
    toneHz: 300 + 110 * i,
    pattern: 'busy',
    segments: [{ offsetMs: 0, durationMs }],
  }));
  process.stdout.write(`generating the ${minutes}-minute meeting … `);
  await writeFixture({ root: dir, meetingId: 'meeting', recordingId: 'rec', participants, recordingStartedAt: 0 });
  await writeFile(path.join(dir, 'ready'), '');
  console.log('done');
  return dir;
}

const cpuNow = () => readProcCpu('self').self / clockTicks() + childCpuSeconds();

/** Copies the fixture's tracks into `dest` as growing files, cluster by cluster, as the media time passes. */
async function feed(src: string, dest: string, durationMs: number, startedAt: number, now: () => number) {
  const names = await readdir(src);
  const tracks: { media: string; sidecar: string; meta: ReturnType<typeof segmentMetaSchema.parse>; ends: { timeMs: number; end: number }[]; done: number }[] = [];
  for (const n of names.filter((x) => x.endsWith('.json') && !x.endsWith('.levels.json'))) {
    const meta = segmentMetaSchema.safeParse(JSON.parse(await readFile(path.join(src, n), 'utf8')));
    if (!meta.success) continue;
    const index = await refreshIndex(path.join(src, meta.data.file));
    const ends = index.clusters.map((c, i) => ({ timeMs: (index.clusters[i + 1]?.timeMs ?? Infinity), end: index.clusters[i + 1]?.offset ?? c.end }));
    tracks.push({ media: meta.data.file, sidecar: n, meta: meta.data, ends: [{ timeMs: 0, end: index.headerEnd ?? 0 }, ...ends], done: 0 });
    await writeFile(path.join(dest, n), JSON.stringify({ ...meta.data, finalized: false, durationMs: null, endedAt: null }));
  }
  const handles = await Promise.all(tracks.map(async (t) => ({ src: await open(path.join(src, t.media), 'r'), dst: await open(path.join(dest, t.media), 'w') })));
  for (;;) {
    const t = now() - startedAt;
    for (const [i, tr] of tracks.entries()) {
      // Everything up to the last cluster whose successor starts at or before t: whole clusters, like werift's writes.
      let upTo = tr.done;
      for (const e of tr.ends) if (e.timeMs <= t || e.timeMs === Infinity && t >= durationMs) upTo = Math.max(upTo, e.end);
      if (upTo > tr.done) {
        const buf = Buffer.alloc(upTo - tr.done);
        await handles[i]!.src.read(buf, 0, buf.length, tr.done);
        await handles[i]!.dst.write(buf, 0, buf.length, tr.done);
        tr.done = upTo;
      }
    }
    if (t >= durationMs) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const h of handles) {
    await h.src.close();
    await h.dst.close();
  }
  for (const tr of tracks) {
    await copyFile(path.join(src, tr.sidecar), path.join(dest, tr.sidecar));
    if (tr.meta.levelsFile) await copyFile(path.join(src, tr.meta.levelsFile), path.join(dest, tr.meta.levelsFile));
  }
}

async function ssim(file: string, reference: string): Promise<number> {
  const r = await run(FFMPEG, [
    '-hide_banner', '-t', String(SSIM_SECONDS), '-i', file, '-t', String(SSIM_SECONDS), '-i', reference,
    '-lavfi', '[0:v]setpts=N/30/TB[a];[1:v]setpts=N/30/TB[b];[a][b]ssim=shortest=1', '-f', 'null', '-',
  ]);
  const m = /All:([\d.]+)/.exec(r.stderr);
  if (!m) throw new Error(`no SSIM: ${r.stderr.slice(-500)}`);
  return Number(m[1]);
}

async function lossless(dir: string, durationMs: number, out: string, ids = { meetingId: 'meeting', recordingId: 'rec' }, plainGrid = false) {
  const found = await findSegments(dir, ids.meetingId, ids.recordingId, logger);
  const { usable } = await evaluateSegments(FFPROBE, found, logger);
  const plan = planComposition(
    { durationMs, layout: 'grid', width: 1280, height: 720, fps: 30, namePlates: true, fontFile: DEFAULT_FONT },
    usable.map((u) => ({ meta: u.meta, path: u.mediaPath, assessment: u.assessment, levels: u.levels })),
    [],
  );
  const graphFile = `${out}.graph`;
  // The live composer's windows are on the plain grid (phase 0); the post-stop path at the longest camera's phase.
  await writeFile(graphFile, buildFilterGraph(plainGrid ? { ...plan.spec, gridPhaseMs: 0 } : plan.spec));
  const r = await run(FFMPEG, [
    '-hide_banner', '-loglevel', 'error', '-y', ...inputArgs(plan.inputs), '-filter_complex_script', graphFile, '-map', '[vout]', '-map', '[aout]',
    '-c:v', 'libx264', '-qp', '0', '-preset', 'ultrafast', '-c:a', 'pcm_s16le', '-t', String(SSIM_SECONDS), out,
  ]);
  if (r.code !== 0) throw new Error(`reference render failed: ${r.stderr}`);
}

async function one(minutes: number) {
  const src = await fixture(minutes);
  const durationMs = minutes * 60_000;
  const work = path.join(CACHE, 'run');
  await rm(work, { recursive: true, force: true });
  const dir = path.join(work, 'meeting');
  await mkdir(dir, { recursive: true });
  const srcDir = path.join(src, 'meeting');
  const t0 = Date.now();
  const now = () => t0 + (Date.now() - t0) * SPEED;
  const session = createLiveSession({
    dir, meetingId: 'meeting', recordingId: 'rec', startedAt: t0, layout: 'grid', format: 'webm',
    width: 1280, height: 720, fps: 30, namePlates: true, fontFile: DEFAULT_FONT,
    windowMs: 10_000, lagMs: 1_500, maxLagMs: 8_000, ffmpeg: FFMPEG, ffprobe: FFPROBE, logger, now, pollMs: 200,
  });
  const cpu0 = cpuNow();
  session.start();
  await feed(srcDir, dir, durationMs, t0, now);
  const recordedWallS = (Date.now() - t0) / 1000;
  const cpuRecording = cpuNow() - cpu0;
  const behind = session.status();
  const stop = Date.now();
  const result = await session.finish({ jobId: 'bench', meetingId: 'meeting', recordingId: 'rec', durationMs, layout: 'grid', format: 'webm', createdAt: stop });
  const stopToReady = (Date.now() - stop) / 1000;
  const cpuAll = cpuNow() - cpu0;
  if (!result) throw new Error(`live composition failed: ${session.status().error}`);

  const post = createComposer({ root: work, logger, ffmpegPath: FFMPEG, ffprobePath: FFPROBE });
  const tp = Date.now();
  const postResult = await post.compose({ jobId: 'post', meetingId: 'meeting', recordingId: 'rec', durationMs, layout: 'grid', format: 'webm', createdAt: stop + 1 });
  const postS = (Date.now() - tp) / 1000;
  console.log(
    `${String(minutes).padStart(3)} min: stop → ready ${stopToReady.toFixed(1)} s (post-stop composition: ${postS.toFixed(1)} s); ` +
      `live CPU while recording ${(cpuRecording / recordedWallS).toFixed(2)} cores, incl. finish ${(cpuAll / recordedWallS).toFixed(2)}; ` +
      `composed up to ${(behind.composedUpToMs / 1000).toFixed(0)} s at the stop; load ${loadAverage()}`,
  );
  const ref = path.join(work, 'reference.mkv');
  await lossless(dir, durationMs, ref);
  const [sLive, sPost] = [await ssim(result.path, ref), await ssim(postResult.path, ref)];
  console.log(`       SSIM vs lossless (first ${SSIM_SECONDS} s): live ${sLive.toFixed(4)}, post-stop ${sPost.toFixed(4)} (Δ ${(sPost - sLive).toFixed(4)})`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs: number, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

async function oneWerift(minutes: number, clip: Clip) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-live-werift-'));
  const server = await startServerProcess(
    { RECORDING_DIR: root, LIVE_COMPOSE: '1', LIVE_COMPOSE_WINDOW_MS: '10000', EVENTLOG_FSYNC: '1', LOG_LEVEL: 'info' },
    { inheritNatsUrl: false },
  );
  const base = server.url.replace(/\/+$/, '');
  const player = new ClipPlayer(clip);
  player.start();
  const participants: LoadParticipant[] = [];
  try {
    const room = `live-${minutes}m`;
    participants.push(await LoadParticipant.join(base, room, player, 'host'));
    for (let i = 1; i < 4; i++) participants.push(await LoadParticipant.join(base, room, player, `p${i}`));
    if (participants[0]!.role !== 'host') throw new Error('the first socket is not the host');
    const started = await api(base, 'POST', '/api/recording-sessions', { connectionId: room });
    if (started.status !== 201) throw new Error(`POST /api/recording-sessions: ${started.status} ${JSON.stringify(started.json)}`);
    const recordingId = started.json.session.id as string;
    const t0 = Date.now();
    await until('every recorder peer to connect', () => participants.every((p) => p.current?.connectedAt != null), (x) => x, 30_000);
    // CPU from 5 s in (peers connected, first keyframes written) to the stop.
    await sleep(5_000);
    const c0 = { at: Date.now(), self: readProcCpu(server.pid).self, children: descendantTicks(server.pid) };
    const durationMs = minutes * 60_000;
    let lastLine = 0;
    while (Date.now() - t0 < durationMs) {
      await sleep(Math.min(1_000, durationMs - (Date.now() - t0)));
      if (Date.now() - lastLine >= 60_000) {
        lastLine = Date.now();
        const s = (await api(base, 'GET', `/api/recording-sessions/${recordingId}`)).json.session;
        const live = s?.liveComposition;
        process.stdout.write(`  ${((Date.now() - t0) / 60_000).toFixed(0)} min: composed up to ${live ? (live.composedUpToMs / 1000).toFixed(0) : '?'} s, lag ${live ? (live.lagMs / 1000).toFixed(1) : '?'} s\n`);
      }
    }
    const c1 = { at: Date.now(), self: readProcCpu(server.pid).self, children: descendantTicks(server.pid) };
    const behind = (await api(base, 'GET', `/api/recording-sessions/${recordingId}`)).json.session?.liveComposition;
    const stopAt = Date.now();
    const stopped = await api(base, 'DELETE', `/api/recording-sessions/${recordingId}`);
    if (stopped.status !== 200) throw new Error(`DELETE: ${stopped.status} ${JSON.stringify(stopped.json)}`);
    const done = await until(
      'the composition',
      async () => (await api(base, 'GET', `/api/recording-sessions/${recordingId}`)).json,
      (j) => j.compositionJob?.status === 'completed' || j.compositionJob?.status === 'failed',
      30 * 60_000,
    );
    const stopToReady = (Date.now() - stopAt) / 1000;
    if (done.compositionJob.status !== 'completed') throw new Error(`composition failed: ${JSON.stringify(done.compositionJob)}`);
    player.stop();
    for (const p of participants) await p.close();
    participants.length = 0;

    const wall = (c1.at - c0.at) / 1000;
    const tick = clockTicks();
    const events = await readEventLog(root);
    const peers = summarizePeerEvents(events, new Set([recordingId]));
    const finishedLive = server.lines.some((l) => l.msg === 'live composition finished' && l.recordingId === recordingId);
    console.log(
      `${String(minutes).padStart(3)} min: stop → composition.completed ${stopToReady.toFixed(1)} s (${finishedLive ? 'finished the live composition' : 'NOT live: composed after the stop'}); ` +
        `composed up to ${behind ? (behind.composedUpToMs / 1000).toFixed(0) : '?'} s at the stop; ` +
        `live composition (ffmpeg) ${((c1.children - c0.children) / tick / wall).toFixed(2)} cores while recording; ` +
        `server process ${((c1.self - c0.self) / tick / wall).toFixed(3)} cores (${((c1.self - c0.self) / tick / wall / 4).toFixed(3)} per participant); ` +
        `recorder: ${peers.packets} packets, ${peers.lost} lost (${peers.packets ? ((100 * peers.lost) / peers.packets).toFixed(3) : '?'} %); load ${loadAverage()}`,
    );

    // The same track files composed after the stop, and both against lossless renders.
    const session = done.session;
    const recDurationMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
    const dir = path.join(root, room);
    const livePath = path.join(dir, done.compositionJob.output.filename);
    const tp = Date.now();
    const post = await createComposer({ root, logger, ffmpegPath: FFMPEG, ffprobePath: FFPROBE }).compose({
      jobId: 'post', meetingId: room, recordingId, durationMs: recDurationMs, layout: 'grid', format: 'webm', createdAt: Date.now(),
    });
    const postS = (Date.now() - tp) / 1000;
    const ids = { meetingId: room, recordingId };
    const refPlain = path.join(root, 'reference-plain.mkv');
    const refPhase = path.join(root, 'reference-phase.mkv');
    await lossless(dir, recDurationMs, refPlain, ids, true);
    await lossless(dir, recDurationMs, refPhase, ids, false);
    const [sLive, sPost] = [await ssim(livePath, refPlain), await ssim(post.path, refPhase)];
    console.log(
      `       post-stop composition of the same tracks: ${postS.toFixed(1)} s; SSIM vs lossless (first ${SSIM_SECONDS} s): live ${sLive.toFixed(4)}, post-stop ${sPost.toFixed(4)} (Δ ${(sPost - sLive).toFixed(4)})`,
    );
  } finally {
    player.stop();
    for (const p of participants) await p.close().catch(() => undefined);
    await server.stop();
    if (!argv.includes('--keep')) await rm(root, { recursive: true, force: true });
    else console.log(`       kept ${root}`);
  }
}

async function main() {
  if (FEED === 'werift') {
    const clip = await encodeClip({ seconds: 10, width: 640, height: 360, fps: 30, gopFrames: 30, videoKbps: 800, audioKbps: 48, ffmpegPath: FFMPEG });
    console.log(
      `feed: werift senders through the server (signaling, recorder, live composer), real time; 4 participants (one looped ${clip.width}×${clip.height} VP8 + Opus clip), grid webm 1280×720@30, 10 s windows`,
    );
    for (const m of MINUTES) await oneWerift(m, clip);
    return;
  }
  console.log(`feed: ffmpeg-written track files grown cluster by cluster at ${SPEED}× real time (not werift); 4 participants, grid webm 1280×720@30, 10 s windows`);
  for (const m of MINUTES) await one(m);
}

// werift's sockets and timers outlive closed peers: exit once the figures are out.
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
