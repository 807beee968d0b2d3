import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeOutput, regionMeans, type Rgb } from '../helpers/compose-analysis.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * README: track files are kept after a composition, so a recording can be
 * composed again with another layout and format through
 * `POST /api/recording-compositions`. A real recording (werift host with video,
 * a guest with audio only) is composed as the stop asks (grid, WebM), then
 * again as host-only MP4; both are checked on the decoded output.
 */
describe('composing a recording again with another layout and format', () => {
  let app: TestApp;
  let people: Participant[] = [];
  const room = 'recompose-room';
  let recordingId = '';
  let first: any;

  const finished = (jobId: string) =>
    poll(
      () => app.http.get(`/api/recording-compositions/${jobId}`).then((r) => r.json.job),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 250 },
    );
  /** For the left and right halves: the most of each frame's mean colour that is lit by video (the brightest frame). */
  async function brightestHalves(file: string): Promise<{ left: number; right: number; both: number }> {
    const frames = await regionMeans(file, { width: 1280, height: 720 }, [
      { x: 80, y: 200, w: 480, h: 320 },
      { x: 720, y: 200, w: 480, h: 320 },
    ]);
    const light = (c: Rgb) => (c.r + c.g + c.b) / 3;
    return {
      left: Math.max(...frames.map((f) => light(f[0]!))),
      right: Math.max(...frames.map((f) => light(f[1]!))),
      both: Math.max(...frames.map((f) => Math.min(light(f[0]!), light(f[1]!)))),
    };
  }

  beforeAll(async () => {
    app = await startTestApp();
    people = [
      await Participant.join(app.url, room, { name: 'Host' }),
      await Participant.join(app.url, room, { name: 'Guest', media: { video: false } }),
    ];
    const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(started.status).toBe(201);
    recordingId = started.json.session.id;
    await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 10_000)));
    await sleep(3_000); // what is recorded: 3 s
    const stopped = await app.http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stopped.status).toBe(200);
    first = await finished(stopped.json.compositionJob.id);
    expect(first.status, JSON.stringify(first)).toBe('completed');
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(people.map((p) => p.close()));
    await app?.cleanup();
  });

  it('composes it again as host-only MP4, beside the first output', async () => {
    const r = await app.http.post('/api/recording-compositions', { meetingId: room, recordingId, layout: 'host-only', format: 'mp4' });
    expect(r.status).toBe(202);
    const again = await finished(r.json.job.id);
    expect(again.status, JSON.stringify(again)).toBe('completed');
    expect(again).toMatchObject({ layout: 'host-only', format: 'mp4', recordingId });
    expect(again.output.filename).not.toBe(first.output.filename);
    const [a, b] = [join(app.root, room, first.output.filename), join(app.root, room, again.output.filename)];
    expect(existsSync(a)).toBe(true);

    const [pa, pb] = [await probeOutput(a), await probeOutput(b)];
    expect(pa.video).toMatchObject({ codec: 'vp9', width: 1280, height: 720 });
    expect(pa.audio?.codec).toBe('opus');
    expect(pb.video).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
    expect(pb.audio?.codec).toBe('aac');
    expect(Math.abs(pa.durationMs - pb.durationMs)).toBeLessThan(100);

    // grid: the host's video in one tile, the guest (no video) a placeholder in the other;
    // host-only: the host's video over the whole frame, both halves alike
    const grid = await brightestHalves(a);
    const hostOnly = await brightestHalves(b);
    // (measured here: grid 126 / 40 with 40 for both at once, host-only 111 for both at once; dark is under 70)
    expect(Math.max(grid.left, grid.right)).toBeGreaterThan(90);
    expect(grid.both).toBeLessThan(70);
    expect(hostOnly.both).toBeGreaterThan(90);
  }, 240_000);
});
