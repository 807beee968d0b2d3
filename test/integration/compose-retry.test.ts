/**
 * "A failed composition keeps every input, records ffmpeg's last stderr
 * lines, and is retried automatically (3 attempts with backoff) and on
 * request" — through the full app, in both modes. ffmpeg really fails: the
 * app's FFMPEG_PATH is a wrapper that exits 1 with two stderr lines for its
 * first composer runs and runs the real ffmpeg after that. Each `it` records
 * its own meeting on its own app, so the tests run side by side (both modes
 * at once) and none depends on another.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type ExpectStatic } from 'vitest';
import type { StoredEvent } from '../../events/envelope.js';
import { compositionStream } from '../../events/streams.js';
import { COMPOSITION_MAX_ATTEMPTS } from '../../machines/recording.js';
import { retryDelayMs } from '../../machines/composition.js';
import type { TestApp } from '../helpers/app.js';
import { APP_MODES, startModeApp, type AppMode } from '../helpers/app-modes.js';
import { probeOutput } from '../helpers/compose-analysis.js';
import { composeAgain, jobEvents, waitForJob } from '../helpers/compositions.js';
import { FAILURE_LINE, failingFfmpeg, type FailingFfmpeg } from '../helpers/ffmpeg-wrapper.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { eventually } from '../helpers/wait.js';

/** How late a retry may start after its backoff on a busy machine (timer, queue, worker claim). */
const SLACK_MS = 4_000;
const FFPROBE = process.env.FFPROBE_PATH ?? '/usr/bin/ffprobe';

interface Meeting {
  app: TestApp;
  ffmpeg: FailingFfmpeg;
  room: string;
  recordingId: string;
  durationMs: number;
  jobId: string;
  /** The recording's track files (media, sidecars, levels) as the stop left them. */
  trackFiles: string[];
  cleanup(): Promise<void>;
}

/** An app whose ffmpeg fails its first `failFirst` composer runs; one participant recorded for ~2 s of media, stopped with compose. */
async function recordAndStop(mode: AppMode, failFirst: number, expect: ExpectStatic): Promise<Meeting> {
  const bin = await tempDir('mr-retry-bin-');
  const ffmpeg = await failingFfmpeg(bin, failFirst);
  const app = await startModeApp(mode, { FFMPEG_PATH: ffmpeg.path, FFPROBE_PATH: FFPROBE });
  const room = `retry-${failFirst}`;
  // small, cheap media: four of these run at once, and only the composition's attempts matter here
  const host = await Participant.join(app.url, room, { name: 'Host', media: { width: 320, height: 180, fps: 15, videoKbps: 250 } });
  const cleanup = async () => {
    await host.close();
    await app.cleanup();
    await removeDir(bin);
  };
  try {
    const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'mp4' });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id;
    const sent = () => Math.min(host.current?.sender.stats.video?.spanMs ?? 0, host.current?.sender.stats.audio?.spanMs ?? 0);
    await eventually(() => sent() >= 2_000, 60_000, 100).catch((err) => {
      throw new Error(`${err.message}: ${host.peers.length} peer(s), sent ${JSON.stringify(host.current?.sender.stats)}, state ${host.current?.sender.pc.connectionState}`);
    });
    const stopped = await app.http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stopped.status).toBe(200);
    const s = stopped.json.session;
    const trackFiles = (await readdir(join(app.root, room))).filter((f) => f.includes(recordingId) && !f.includes('-composed')).sort();
    expect(trackFiles.filter((f) => f.endsWith('.webm'))).toHaveLength(2); // audio + video
    return {
      app,
      ffmpeg,
      room,
      recordingId,
      durationMs: Date.parse(s.stoppedAt) - Date.parse(s.startedAt),
      jobId: stopped.json.compositionJob.id,
      trackFiles,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

const ofType = (events: StoredEvent[], type: string) => events.filter((e) => e.type === type);

/** The automatic attempts: run n+1 starts one backoff (5 s, then 10 s) after run n failed, and not much later. */
function expectBackoff(events: StoredEvent[], failedRuns: number, expect: ExpectStatic) {
  const started = ofType(events, 'composition.started');
  const failed = ofType(events, 'composition.failed');
  const due = ofType(events, 'composition.retry.due');
  expect(failed.map((e) => e.data.attempt)).toEqual(Array.from({ length: failedRuns }, (_, i) => i + 1));
  const retries = Math.min(failedRuns, COMPOSITION_MAX_ATTEMPTS - 1); // no backoff after the last attempt
  expect(due).toHaveLength(retries);
  for (let n = 1; n <= retries; n++) {
    const delay = retryDelayMs(n);
    const failedAt = failed[n - 1]!.time;
    const next = started.find((e) => e.data.attempt === n + 1);
    expect(next, `run ${n + 1} started`).toBeTruthy();
    expect(due[n - 1]!.time - failedAt, `retry ${n} due after ${delay} ms`).toBeGreaterThanOrEqual(delay);
    expect(next!.time - failedAt, `run ${n + 1} started ${next!.time - failedAt} ms after run ${n} failed`).toBeGreaterThanOrEqual(delay);
    expect(next!.time - failedAt).toBeLessThan(delay + SLACK_MS);
  }
}

/** What the failing wrapper wrote on stderr for run n. */
const stderrOfRun = (n: number) => [`wrapper: refusing composer run ${n} on purpose`, `${FAILURE_LINE} ${n}`];

// All four side by side: most of their time is backoff.
describe.concurrent.each(APP_MODES)('a composition whose ffmpeg fails (%s)', (mode) => {
  it('is retried with backoff until it succeeds, and keeps its inputs', async ({ expect }) => {
    const m = await recordAndStop(mode, 2, expect);
    try {
      const job = await waitForJob(m.app.http, m.jobId, 90_000);
      expect(job.status, JSON.stringify(job)).toBe('completed');
      expect(job.attempts).toBe(3);
      expect(job.maxAttempts).toBe(COMPOSITION_MAX_ATTEMPTS);
      expect(job.failures).toEqual([
        { attempt: 1, error: expect.stringContaining(`${FAILURE_LINE} 1`) },
        { attempt: 2, error: expect.stringContaining(`${FAILURE_LINE} 2`) },
      ]);
      expect(job.error).toBeUndefined();
      expect(await m.ffmpeg.composerRuns()).toBe(3);

      const events = await jobEvents(m.app.log, m.jobId);
      expectBackoff(events, 2, expect);
      const failed = ofType(events, 'composition.failed');
      for (const f of failed) expect(f.data.stderr).toEqual(stderrOfRun(Number(f.data.attempt)));
      expect(ofType(events, 'composition.completed').map((e) => e.data.attempt)).toEqual([3]);

      const info = await probeOutput(join(m.app.root, m.room, job.output.filename));
      expect(info.video).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
      expect(Math.abs(info.durationMs - m.durationMs)).toBeLessThan(200);
      // kept through both failures and after the success (DELETE_TRACKS_AFTER_COMPOSE is off)
      for (const f of m.trackFiles) expect(existsSync(join(m.app.root, m.room, f)), f).toBe(true);
      for (const f of job.inputFiles) expect(m.trackFiles).toContain(f);
    } finally {
      await m.cleanup();
    }
  }, 150_000);

  it('exhausts its attempts: failed with ffmpeg’s stderr, every input kept, and composable again on request', async ({ expect }) => {
    const m = await recordAndStop(mode, 1_000, expect);
    try {
      const job = await waitForJob(m.app.http, m.jobId, 90_000);
      expect(job.status, JSON.stringify(job)).toBe('failed');
      expect(job.attempts).toBe(COMPOSITION_MAX_ATTEMPTS);
      expect(job.failures.map((f: any) => f.attempt)).toEqual([1, 2, 3]);
      job.failures.forEach((f: any) => expect(f.error).toContain(`${FAILURE_LINE} ${f.attempt}`));
      expect(job.error).toContain(`${FAILURE_LINE} 3`); // ffmpeg's last stderr line
      expect(job.output).toBeUndefined();
      // the job keeps ffmpeg's stderr of its last run (the API shows its last line as `error`)
      expect((await m.app.runtime.read(compositionStream(m.jobId)))?.snapshot.context.stderr).toEqual(stderrOfRun(3));

      const events = await jobEvents(m.app.log, m.jobId);
      expectBackoff(events, 3, expect);
      for (const f of ofType(events, 'composition.failed')) expect(f.data.stderr).toEqual(stderrOfRun(Number(f.data.attempt)));

      // no fourth automatic run: failed is a state without a retry timer (two retry.due above, none after run 3)
      expect(await m.ffmpeg.composerRuns()).toBe(3);
      expect((await m.app.http.get(`/api/recording-compositions/${m.jobId}`)).json.job.status).toBe('failed');

      // every input is still there, and nothing composed (no output, no partial file)
      const left = (await readdir(join(m.app.root, m.room))).filter((f) => f.includes(m.recordingId)).sort();
      expect(left).toEqual(m.trackFiles);
      for (const f of job.inputFiles) expect(m.trackFiles).toContain(f);
      expect(job.inputFiles.length).toBeGreaterThanOrEqual(2);

      // once ffmpeg works again, the kept inputs compose on request
      await m.ffmpeg.failFirst(3);
      const again = await composeAgain(m.app.http, { meetingId: m.room, recordingId: m.recordingId }, 90_000);
      expect(again.status, JSON.stringify(again)).toBe('completed');
      expect(again.attempts).toBe(1);
      const info = await probeOutput(join(m.app.root, m.room, again.output.filename));
      expect(info.video?.codec).toBe('h264');
      expect(Math.abs(info.durationMs - m.durationMs)).toBeLessThan(200);
    } finally {
      await m.cleanup();
    }
  }, 150_000);
});
