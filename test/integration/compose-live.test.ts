/**
 * Composition while recording (src/composer/live), through the full app with
 * LIVE_COMPOSE=1 and 2 s windows: two werift participants are recorded for
 * about 7 s; chunks are composed while the recording runs, and the stop's
 * composition job only composes the last window and joins. The output is
 * checked against a post-stop composition of the same tracks.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridCells, fitRect, inset } from '../../src/composer/geometry.js';
import type { TestApp } from '../helpers/app.js';
import { startModeApp } from '../helpers/app-modes.js';
import { colorDistance, hexRgb, probeOutput, probeRegion } from '../helpers/compose-analysis.js';
import { composeAgain, regionMeansAt, waitForJob } from '../helpers/compositions.js';
import { colourFfmpeg } from '../helpers/ffmpeg-wrapper.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { eventually, poll } from '../helpers/wait.js';
import { FFMPEG, run } from '../../tools/lib/compose-fixtures.js';

const room = 'compose-live';
const WINDOW_MS = 2_000;
const RECORDED_MS = 7_000;
const RED = '0xc03030';
const GREEN = '0x30c030';

let app: TestApp;
let wrappers = '';
let host: Participant;
let guest: Participant;
let recordingId = '';
let durationMs = 0;
let chunksBeforeStop = 0;
/** The session's liveComposition while recording. */
let during: any;
let stopToReadyMs = 0;
let live: any;
let bothOnScreen: number[] = [];

beforeAll(async () => {
  app = await startModeApp('embedded', { LIVE_COMPOSE: '1', LIVE_COMPOSE_WINDOW_MS: String(WINDOW_MS) });
  wrappers = await tempDir('mr-compose-live-bin-');
  const [red, green] = await Promise.all([colourFfmpeg(wrappers, RED), colourFfmpeg(wrappers, GREEN)]);
  host = await Participant.join(app.url, room, { name: 'Host', media: { ffmpegPath: red, durationMs: 60_000 } });
  guest = await Participant.join(app.url, room, { name: 'Guest', media: { ffmpegPath: green, durationMs: 60_000 } });
  const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
  expect(started.status).toBe(201);
  recordingId = started.json.session.id;
  const sent = (p: Participant) => Math.min(p.current?.sender.stats.video?.spanMs ?? 0, p.current?.sender.stats.audio?.spanMs ?? 0);
  await eventually(() => [host, guest].every((p) => sent(p) >= RECORDED_MS), 240_000, 100).catch((e) => {
    throw new Error(`${e.message}: sent ${[host, guest].map(sent).join(', ')} ms`);
  });
  const manifest = join(app.root, room, `.live-${recordingId}`, 'manifest.json');
  // At least two windows composed while recording (a loaded machine may lag; the bound is the test's timeout).
  const chunks = async () => JSON.parse(await readFile(manifest, 'utf8').catch(() => '{"chunks":[]}')).chunks.length as number;
  chunksBeforeStop = await poll(chunks, (n) => n >= 2, { timeoutMs: 60_000, stepMs: 200 });
  during = (await app.http.get(`/api/recording-sessions/${recordingId}`)).json.session.liveComposition;
  const t0 = Date.now();
  const stopped = await app.http.delete(`/api/recording-sessions/${recordingId}`);
  expect(stopped.status).toBe(200);
  durationMs = Date.parse(stopped.json.session.stoppedAt) - Date.parse(stopped.json.session.startedAt);
  live = await waitForJob(app.http, stopped.json.compositionJob.id, 240_000);
  stopToReadyMs = Date.now() - t0;
  expect(live.status, JSON.stringify(live)).toBe('completed');
  // Every segment is in the session once its peer closed (before the job ran).
  const session = (await app.http.get(`/api/recording-sessions/${recordingId}`)).json.session;
  const seg = (p: Participant) => {
    const v = session.segments.find((x: any) => x.participantId === p.participantId && x.kind === 'video');
    return { start: v.offsetMs as number, end: (v.offsetMs + v.durationMs) as number };
  };
  const [hv, gv] = [seg(host), seg(guest)];
  const lo = Math.max(hv.start, gv.start) + 500;
  const hi = Math.min(hv.end, gv.end) - 500;
  expect(hi - lo, `both on screen from ${lo} to ${hi} ms`).toBeGreaterThan(2 * WINDOW_MS);
  // First, middle and last moment both pictures were recorded: in different windows.
  bothOnScreen = [lo, Math.round((lo + hi) / 2), hi];
}, 600_000);

afterAll(async () => {
  await Promise.allSettled([host, guest].map((p) => p?.close()));
  await app?.cleanup();
  if (wrappers) await removeDir(wrappers);
});

const pathOf = (job: any) => join(app.root, room, job.output.filename);

async function ssim(a: string, b: string): Promise<number> {
  const r = await run(FFMPEG, ['-hide_banner', '-nostats', '-i', a, '-i', b, '-lavfi', '[0:v][1:v]ssim', '-f', 'null', '-']);
  const m = /SSIM .*All:([0-9.]+)/.exec(r.stderr);
  if (!m) throw new Error(`no SSIM in ${r.stderr.slice(-300)}`);
  return Number(m[1]);
}

describe('live composition', () => {
  it('composed chunks while recording, and the stop only finished it', () => {
    expect(chunksBeforeStop).toBeGreaterThanOrEqual(2);
    // The API said how far it was: "composed up to", and how far behind real time.
    expect(during).toMatchObject({ state: 'recording' });
    expect(during.composedUpToMs).toBeGreaterThanOrEqual(2 * WINDOW_MS);
    expect(during.lagMs).toBeGreaterThanOrEqual(0);
    // Not a speed test (benchmarks are): the post-stop path would compose all ~13 s here.
    console.log(`live: ${chunksBeforeStop} chunks before the stop, stop → completed ${stopToReadyMs} ms, duration ${durationMs} ms`);
  });

  it('is the recording’s format and exact duration, both pictures in their tiles', async () => {
    const info = await probeOutput(pathOf(live));
    expect(info.video).toMatchObject({ codec: 'vp9', width: 1280, height: 720 });
    expect(info.audio?.codec).toBe('opus');
    expect(Math.abs(info.durationMs - durationMs), `${info.durationMs} vs ${durationMs}`).toBeLessThan(100);
    const tiles = gridCells(2, { x: 0, y: 0, w: 1280, h: 720 }).map((t) => probeRegion(fitRect(inset(t), 640, 360)));
    const times = bothOnScreen;
    const frames = await regionMeansAt(pathOf(live), info.video!, tiles, times);
    for (const t of times) {
      const [l, r] = frames.get(t) ?? [];
      expect(l && colorDistance(l, hexRgb(RED)) < 60, `host at ${t}: ${JSON.stringify(l)}`).toBe(true);
      expect(r && colorDistance(r, hexRgb(GREEN)) < 60, `guest at ${t}: ${JSON.stringify(r)}`).toBe(true);
    }
  });

  it('looks like the post-stop composition of the same tracks', async () => {
    const post = await composeAgain(app.http, { meetingId: room, recordingId, layout: 'grid', format: 'webm' }, 400_000);
    expect(post.status, JSON.stringify(post)).toBe('completed');
    const s = await ssim(pathOf(live), pathOf(post));
    console.log(`SSIM live vs post-stop: ${s}`);
    expect(s).toBeGreaterThan(0.97);
  }, 450_000);
});
