import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { poll, sleep } from '../helpers/wait.js';
import { LOG_MODES, logModeEnv } from './log-modes.js';

/**
 * README / protocol 3: the composed file is served with `Range` support, so a
 * player can start and seek without the whole file. Against a real composed
 * MP4 (werift participants, the recorder, ffmpeg with +faststart): the ranges
 * put back together are the file on disk, the first range holds the index a
 * player needs (`moov` before `mdat`), and what is served decodes.
 */
describe.each(LOG_MODES)('Range requests against a real composed file (%s log)', (mode) => {
  let app: TestApp;
  let release = async () => {};
  let people: Participant[] = [];
  let scratch = '';
  let onDisk: Buffer;
  let streamPath = '';
  let recordedMs = 0;

  beforeAll(async () => {
    scratch = await tempDir('mr-range-');
    const logMode = await logModeEnv(mode);
    release = logMode.release;
    app = await startTestApp(logMode.env);
    expect(app.log.kind).toBe(mode);
    const room = 'range-room';
    people = [await Participant.join(app.url, room, { name: 'Host' }), await Participant.join(app.url, room, { name: 'Guest' })];
    const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'mp4' });
    expect(started.status).toBe(201);
    await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 10_000)));
    await sleep(2_500); // what is recorded: 2.5 s of both
    const stopped = await app.http.delete(`/api/recording-sessions/${started.json.session.id}`);
    expect(stopped.status).toBe(200);
    recordedMs = Date.parse(stopped.json.session.stoppedAt) - Date.parse(stopped.json.session.startedAt);
    const jobId = stopped.json.compositionJob.id;
    const job = await poll(
      () => app.http.get(`/api/recording-compositions/${jobId}`).then((r) => r.json.job),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 250 },
    );
    expect(job.status, JSON.stringify(job)).toBe('completed');
    onDisk = await readFile(join(app.root, room, job.output.filename));
    streamPath = new URL(job.output.streamUrl, app.url).pathname;
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(people.map((p) => p.close()));
    await app?.cleanup();
    await release();
    if (scratch) await removeDir(scratch);
  });

  it('serves the whole file, saying it takes ranges', async () => {
    const whole = await app.http.get(streamPath);
    expect(whole.status).toBe(200);
    expect(whole.headers['content-type']).toBe('video/mp4');
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expect(whole.body.equals(onDisk)).toBe(true);
  });

  it('hands out ranges that put back together are the file, and the first one holds the index', async () => {
    const size = onDisk.length;
    const parts: Buffer[] = [];
    const step = Math.ceil(size / 5);
    for (let from = 0; from < size; from += step) {
      const last = from + step >= size;
      const r = await app.http.get(streamPath, { range: last ? `bytes=${from}-` : `bytes=${from}-${from + step - 1}` });
      expect(r.status).toBe(206);
      const to = last ? size - 1 : from + step - 1;
      expect(r.headers['content-range']).toBe(`bytes ${from}-${to}/${size}`);
      expect(Number(r.headers['content-length'])).toBe(to - from + 1);
      parts.push(r.body);
    }
    const joined = Buffer.concat(parts);
    expect(joined.equals(onDisk)).toBe(true);

    // +faststart: a player's first small range already has the moov box, ahead of the media
    const head = (await app.http.get(streamPath, { range: 'bytes=0-65535' })).body;
    const moov = head.indexOf('moov');
    expect(moov).toBeGreaterThan(0);
    const mdat = onDisk.indexOf('mdat');
    expect(moov).toBeLessThan(mdat);

    // what was served decodes, and lasts what was recorded
    const file = join(scratch, 'served.mp4');
    await writeFile(file, joined);
    const probed = await probeFile(file);
    expect(probed.decodeErrors).toBe('');
    expect(Math.abs(probed.durationMs! - recordedMs)).toBeLessThan(500);
  });

  it('serves a suffix range, and refuses one past the end', async () => {
    const size = onDisk.length;
    const tail = await app.http.get(streamPath, { range: 'bytes=-1000' });
    expect(tail.status).toBe(206);
    expect(tail.headers['content-range']).toBe(`bytes ${size - 1000}-${size - 1}/${size}`);
    expect(tail.body.equals(onDisk.subarray(size - 1000))).toBe(true);
    const beyond = await app.http.get(streamPath, { range: `bytes=${size}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${size}`);
  });
});
