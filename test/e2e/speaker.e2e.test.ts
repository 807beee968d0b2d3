import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regionMeans, type Rgb } from '../helpers/compose-analysis.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * README "Composition": the speaker layout puts the active speaker on the
 * stage, chosen from the audio levels. The chain end to end: the werift
 * senders stamp RFC 6464 levels on their audio (the host silent with video, the
 * guest speaking with audio only), the recorder writes them to the levels
 * sidecars, the composer picks the speaker from them; on the decoded output the
 * stage shows the guest (a placeholder: no video) and the host's video is in
 * the row below. The same recording composed host-led puts the host's video on
 * the stage: the difference is the levels, not the order of joining.
 */
describe('the speaker layout follows the recorded audio levels', () => {
  let app: TestApp;
  let people: Participant[] = [];
  const room = 'speaker-room';
  let recordingId = '';

  const finished = (jobId: string) =>
    poll(
      () => app.http.get(`/api/recording-compositions/${jobId}`).then((r) => r.json.job),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 250 },
    );
  const compose = async (layout: string) => {
    const r = await app.http.post('/api/recording-compositions', { meetingId: room, recordingId, layout, format: 'webm' });
    expect(r.status).toBe(202);
    const job = await finished(r.json.job.id);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    return join(app.root, room, job.output.filename);
  };
  const light = (c: Rgb) => (c.r + c.g + c.b) / 3;
  /** Per frame: how lit the middle of the stage is, and the brightest tile-sized part of the row below. */
  async function stageAndRow(file: string) {
    const row = [0, 1, 2, 3].map((i) => ({ x: i * 320 + 40, y: 570, w: 240, h: 120 }));
    const frames = await regionMeans(file, { width: 1280, height: 720 }, [{ x: 440, y: 80, w: 400, h: 240 }, ...row]);
    return frames.map((f) => ({ stage: light(f[0]!), row: Math.max(...f.slice(1).map(light)) }));
  }

  beforeAll(async () => {
    app = await startTestApp();
    people = [
      await Participant.join(app.url, room, { name: 'Host', media: { audioLevel: () => 127 } }),
      await Participant.join(app.url, room, { name: 'Guest', media: { video: false, audioLevel: () => 10 } }),
    ];
    const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'speaker', format: 'webm' });
    expect(started.status).toBe(201);
    recordingId = started.json.session.id;
    await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 10_000)));
    await sleep(3_000); // what is recorded: 3 s
    const stopped = await app.http.delete(`/api/recording-sessions/${recordingId}?compose=false`);
    expect(stopped.status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(people.map((p) => p.close()));
    await app?.cleanup();
  });

  it('puts the one who speaks on the stage', async () => {
    const speaker = await stageAndRow(await compose('speaker'));
    const hostLed = await stageAndRow(await compose('host-led'));
    // lit: the host's video (measured here about 125); the guest's placeholder and the background are about 40
    const lit = (v: number) => v > 90;
    // speaker: the guest, who speaks, holds the stage; the host's video only ever shows in the row
    expect(speaker.filter((f) => lit(f.stage))).toEqual([]);
    expect(speaker.filter((f) => lit(f.row)).length).toBeGreaterThanOrEqual(5);
    // host-led, same recording: the host's video is on the stage and never in the row
    expect(hostLed.filter((f) => lit(f.row))).toEqual([]);
    expect(hostLed.filter((f) => lit(f.stage)).length).toBeGreaterThanOrEqual(5);
  }, 240_000);
});
