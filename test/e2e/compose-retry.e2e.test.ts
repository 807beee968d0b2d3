import { execFileSync } from 'node:child_process';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { poll, sleep } from '../helpers/wait.js';
import { LOG_MODES, logModeEnv, type LogMode } from './log-modes.js';

/**
 * README "Composition": a failed composition is retried with backoff, and one
 * that keeps failing stops after its attempts with every input kept. The full
 * app with real effects (werift participants, the werift recorder, real ffmpeg);
 * the only fault is injected in front of ffmpeg: a wrapper that fails the
 * composition's runs (the ones with a filter graph) a set number of times and
 * hands every other call to the real binary.
 */
const which = (bin: string) => execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();

async function failingFfmpeg(dir: string, failures: number): Promise<{ path: string; runs: () => Promise<number> }> {
  const count = join(dir, 'composition-runs');
  const path = join(dir, 'ffmpeg');
  await writeFile(
    path,
    `#!/bin/sh
case " $* " in
  *" -filter_complex"*)
    n=$(cat '${count}' 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > '${count}'
    if [ "$n" -le ${failures} ]; then echo "injected failure of run $n" >&2; exit 1; fi ;;
esac
exec '${which('ffmpeg')}' "$@"
`,
  );
  await chmod(path, 0o755);
  return { path, runs: async () => Number((await readFile(count, 'utf8').catch(() => '0')).trim()) };
}

let app: TestApp | undefined;
let people: Participant[] = [];
let dirs: string[] = [];
let releases: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.allSettled(people.map((p) => p.close()));
  await app?.cleanup();
  await Promise.all(dirs.map(removeDir));
  for (const r of releases) await r();
  app = undefined;
  people = [];
  dirs = [];
  releases = [];
});

/** Records a short meeting of two and stops it with a composition; returns the job id and the times of its runs' events. */
async function recordAndStop(mode: LogMode, failures: number) {
  const bin = await tempDir('mr-ffmpeg-');
  dirs.push(bin);
  const ffmpeg = await failingFfmpeg(bin, failures);
  const logMode = await logModeEnv(mode);
  releases.push(logMode.release);
  app = await startTestApp({ ...logMode.env, FFMPEG_PATH: ffmpeg.path, FFPROBE_PATH: which('ffprobe') });
  expect(app.log.kind).toBe(mode);
  const runs: { type: string; time: number; attempt: number }[] = [];
  app.runtime.onEvent(({ event }) => {
    if (event.stream.startsWith('composition:') && ['composition.started', 'composition.failed', 'composition.completed'].includes(event.type))
      runs.push({ type: event.type, time: event.time, attempt: (event.data as { attempt: number }).attempt });
  });
  const room = 'retry-room';
  people.push(await Participant.join(app.url, room, { name: 'Host' }), await Participant.join(app.url, room, { name: 'Guest' }));
  const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
  expect(started.status).toBe(201);
  await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 10_000)));
  await sleep(2_500); // what is recorded: 2.5 s of both
  const stopped = await app.http.delete(`/api/recording-sessions/${started.json.session.id}`);
  expect(stopped.status).toBe(200);
  const jobId: string = stopped.json.compositionJob.id;
  const job = () => app!.http.get(`/api/recording-compositions/${jobId}`).then((r) => r.json.job);
  return { room, jobId, runs, ffmpeg, job };
}

describe.each(LOG_MODES)('a composition that fails (full app, real ffmpeg, %s log)', (mode) => {
  it('is retried with backoff until it succeeds', async () => {
    const { room, runs, ffmpeg, job } = await recordAndStop(mode, 2);
    const done = await poll(job, (j) => j?.status === 'completed' || j?.status === 'failed', { timeoutMs: 120_000, stepMs: 250 });
    expect(done.status, JSON.stringify(done)).toBe('completed');
    expect(done.attempts).toBe(3);
    expect(await ffmpeg.runs()).toBe(3);
    expect(runs.map((r) => `${r.type}:${r.attempt}`)).toEqual([
      'composition.started:1', 'composition.failed:1',
      'composition.started:2', 'composition.failed:2',
      'composition.started:3', 'composition.completed:3',
    ]);
    // the backoff of machines/composition.ts: 5 s after the first failure, 10 s after the second
    expect(runs[2]!.time - runs[1]!.time).toBeGreaterThanOrEqual(5_000);
    expect(runs[4]!.time - runs[3]!.time).toBeGreaterThanOrEqual(10_000);
    const composed = await probeFile(join(app!.root, room, done.output.filename));
    expect(composed.decodeErrors).toBe('');
    expect(composed.durationMs).toBeGreaterThan(2_000);
  }, 180_000);

  it('stops after its attempts, says why, and keeps every input', async () => {
    const { room, jobId, runs, ffmpeg, job } = await recordAndStop(mode, 1_000);
    const done = await poll(job, (j) => j?.status === 'completed' || j?.status === 'failed', { timeoutMs: 120_000, stepMs: 250 });
    expect(done.status, JSON.stringify(done)).toBe('failed');
    expect(done.attempts).toBe(3);
    expect(done.error).toBeTruthy();
    expect(runs.filter((r) => r.type === 'composition.started').map((r) => r.attempt)).toEqual([1, 2, 3]);
    // no retry is due any more (a pending one lives in the retrying state, with its timer), and ffmpeg ran three times
    expect(app!.runtime.get(`composition:${jobId}`)?.value).toBe('failed');
    expect(await ffmpeg.runs()).toBe(3);
    // the track files stay for a retry requested later
    const tracks = (await readdir(join(app!.root, room))).filter((f) => f.endsWith('.webm') && !f.includes('composed'));
    expect(tracks.length).toBe(4); // audio + video of two participants
  }, 180_000);
});
