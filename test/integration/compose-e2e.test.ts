/**
 * What the README promises of a composed recording, through the full app:
 * two werift participants with known pictures (the host red and silent, the
 * guest green and speaking, by the RFC 6464 levels its sender stamps) are
 * recorded for a few seconds, and the stop composes them. Every check reads
 * the decoded output or the served bytes; each `it` needs only the recording
 * made in beforeAll, never another test's composition.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioLevelsSchema, segmentMetaSchema } from '../../events/segment.js';
import { fitRect, gridCells, inset, rowCells, stageAndStrip, type Rect } from '../../src/composer/geometry.js';
import type { TestApp } from '../helpers/app.js';
import { startModeApp } from '../helpers/app-modes.js';
import { colorDistance, hexRgb, probeOutput, probeRegion, type Rgb } from '../helpers/compose-analysis.js';
import { composeAgain, regionMeansAt, waitForJob } from '../helpers/compositions.js';
import { colourFfmpeg } from '../helpers/ffmpeg-wrapper.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { eventually } from '../helpers/wait.js';

const W = 1280; // the composition's default canvas
const H = 720;
const SRC = { w: 640, h: 360 }; // what the synthetic senders send
const RED = '0xc03030';
const GREEN = '0x30c030';
const room = 'compose-e2e';
/** Media each sender puts on the wire before the stop (its RTP span). */
const RECORDED_MS = 3_000;

let app: TestApp;
let wrappers = '';
let host: Participant;
let guest: Participant;
let recordingId = '';
let durationMs = 0;
/** The composition the stop started (grid, webm). */
let first: any;

const is = (c: Rgb | undefined, color: string) => c !== undefined && colorDistance(c, hexRgb(color)) < 60;
/** Probe patches (upper right of each picture) of the given tiles at the output's size. */
const pictures = (tiles: Rect[]) => tiles.map((t) => probeRegion(fitRect(inset(t), SRC.w, SRC.h)));
/** Times (ms of the recording) when both participants' video was recorded, away from its edges: first, middle, last. */
let bothOnScreen: number[] = [];
/** The guest's audio segment on the recording's timeline. */
let guestSpeaks = { start: 0, end: 0 };
async function framesOf(file: string, regions: Rect[], times: number[]) {
  const info = await probeOutput(file);
  const frames = await regionMeansAt(file, info.video!, regions, times);
  return (t: number) => frames.get(t) ?? [];
}
const composedPath = (job: any) => join(app.root, room, job.output.filename);

beforeAll(async () => {
  app = await startModeApp('embedded');
  wrappers = await tempDir('mr-compose-e2e-bin-');
  const [red, green] = await Promise.all([colourFfmpeg(wrappers, RED), colourFfmpeg(wrappers, GREEN)]);
  host = await Participant.join(app.url, room, { name: 'Host', media: { ffmpegPath: red, audioLevel: () => 127 } });
  guest = await Participant.join(app.url, room, { name: 'Guest', media: { ffmpegPath: green, audioLevel: () => 10 } });
  expect(host.role).toBe('host');
  const started = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
  expect(started.status).toBe(201);
  recordingId = started.json.session.id;
  // A few seconds of media from each, however slowly a loaded machine lets the senders' ffmpeg run.
  const sent = (p: Participant) => Math.min(p.current?.sender.stats.video?.spanMs ?? 0, p.current?.sender.stats.audio?.spanMs ?? 0);
  await eventually(() => [host, guest].every((p) => sent(p) >= RECORDED_MS), 60_000, 100);
  const stopped = await app.http.delete(`/api/recording-sessions/${recordingId}`);
  expect(stopped.status).toBe(200);
  const session = stopped.json.session;
  durationMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
  const seg = (p: Participant, kind: string) => {
    const s = session.segments.find((x: any) => x.participantId === p.participantId && x.kind === kind);
    expect(s, `${kind} segment of ${p.participantId}`).toBeTruthy();
    return { start: s.offsetMs as number, end: (s.offsetMs + s.durationMs) as number };
  };
  const [hv, gv] = [seg(host, 'video'), seg(guest, 'video')];
  const lo = Math.max(hv.start, gv.start) + 500;
  const hi = Math.min(hv.end, gv.end) - 500;
  expect(hi - lo, `both on screen from ${lo} to ${hi} ms`).toBeGreaterThan(1_000);
  bothOnScreen = [lo, Math.round((lo + hi) / 2), hi];
  guestSpeaks = seg(guest, 'audio');
  first = await waitForJob(app.http, stopped.json.compositionJob.id, 90_000);
  expect(first.status, JSON.stringify(first)).toBe('completed');
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([host, guest].map((p) => p?.close()));
  await app?.cleanup();
  if (wrappers) await removeDir(wrappers);
});

describe('the composition a stop starts', () => {
  it('is the recording’s layout and format: grid, VP9 + Opus, 1280×720, as long as the recording; host left, guest right', async () => {
    expect(first.output.filename).toMatch(new RegExp(`-${recordingId}-composed\\.webm$`));
    const info = await probeOutput(composedPath(first));
    expect(info.video).toMatchObject({ codec: 'vp9', width: W, height: H });
    expect(info.audio?.codec).toBe('opus');
    expect(Math.abs(info.durationMs - durationMs), `${info.durationMs} ms vs recording ${durationMs} ms`).toBeLessThan(200);
    const at = await framesOf(composedPath(first), pictures(gridCells(2, { x: 0, y: 0, w: W, h: H })), bothOnScreen);
    for (const t of bothOnScreen) {
      const [left, right] = at(t);
      expect(is(left, RED), `host tile at ${t} ms: ${JSON.stringify(left)}`).toBe(true);
      expect(is(right, GREEN), `guest tile at ${t} ms: ${JSON.stringify(right)}`).toBe(true);
    }
  });
});

describe('re-composing through POST /api/recording-compositions', () => {
  it('with another layout and format: host-led mp4 is H.264 + AAC, the host on the stage and the guest in the row', async () => {
    const job = await composeAgain(app.http, { meetingId: room, recordingId, layout: 'host-led', format: 'mp4' }, 100_000);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job).toMatchObject({ layout: 'host-led', format: 'mp4', recordingId, meetingId: room });
    expect(job.output.filename).toMatch(/-composed\.mp4$/);
    const info = await probeOutput(composedPath(job));
    expect(info.video).toMatchObject({ codec: 'h264', width: W, height: H });
    expect(info.audio?.codec).toBe('aac');
    expect(Math.abs(info.durationMs - durationMs)).toBeLessThan(200);
    const { stage, strip } = stageAndStrip(W, H);
    const at = await framesOf(composedPath(job), pictures([stage, ...rowCells(1, strip)]), bothOnScreen);
    for (const t of bothOnScreen) {
      const [onStage, inRow] = at(t);
      expect(is(onStage, RED), `stage at ${t} ms: ${JSON.stringify(onStage)}`).toBe(true);
      expect(is(inRow, GREEN), `row at ${t} ms: ${JSON.stringify(inRow)}`).toBe(true);
    }
  }, 120_000);
});

describe('the speaker layout, from the levels the recorder measured', () => {
  it('the recorder wrote the guest’s levels as speech and the host’s as silence', async () => {
    const dir = join(app.root, room);
    const levelsOf = async (p: Participant) => {
      for (const f of await readdir(dir)) {
        if (!f.endsWith('.json') || f.endsWith('.levels.json')) continue;
        const m = segmentMetaSchema.safeParse(JSON.parse(await readFile(join(dir, f), 'utf8')));
        if (m.success && m.data.participantId === p.participantId && m.data.kind === 'audio' && m.data.recordingId === recordingId) {
          expect(m.data.levelsFile, `${f} names its levels file`).toBeTruthy();
          return audioLevelsSchema.parse(JSON.parse(await readFile(join(dir, m.data.levelsFile!), 'utf8'))).levels;
        }
      }
      throw new Error(`no audio segment of ${p.participantId}`);
    };
    const heard = (levels: (number | null)[]) => levels.filter((l): l is number => l !== null);
    const g = heard(await levelsOf(guest));
    const h = heard(await levelsOf(host));
    expect(g.length).toBeGreaterThanOrEqual(RECORDED_MS / 200 - 2); // 200 ms windows
    expect(h.length).toBeGreaterThanOrEqual(RECORDED_MS / 200 - 2);
    expect(g.every((l) => l === -10), `guest levels ${g}`).toBe(true);
    expect(h.every((l) => l === -127), `host levels ${h}`).toBe(true);
  });

  it('puts the speaking guest on the stage (not the host, the fallback) and everybody in the row', async () => {
    const job = await composeAgain(app.http, { meetingId: room, recordingId, layout: 'speaker', format: 'mp4' }, 100_000);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job.layout).toBe('speaker');
    const { stage, strip } = stageAndStrip(W, H);
    // The guest speaks from its first packet: while both are on screen and the guest's audio runs, the stage is theirs.
    const times = bothOnScreen.filter((t) => t >= guestSpeaks.start + 300 && t <= guestSpeaks.end);
    expect(times.length).toBeGreaterThan(1);
    const at = await framesOf(composedPath(job), pictures([stage, ...rowCells(2, strip)]), times);
    for (const t of times) {
      const [onStage, hostInRow, guestInRow] = at(t);
      expect(is(onStage, GREEN), `stage at ${t} ms: ${JSON.stringify(onStage)}`).toBe(true);
      expect(is(hostInRow, RED), `row (host) at ${t} ms: ${JSON.stringify(hostInRow)}`).toBe(true);
      expect(is(guestInRow, GREEN), `row (guest) at ${t} ms: ${JSON.stringify(guestInRow)}`).toBe(true);
    }
  }, 120_000);
});

describe('Range requests against a composed file', () => {
  let bytes: Buffer;
  let streamUrl = '';
  let downloadUrl = '';
  beforeAll(async () => {
    bytes = await readFile(composedPath(first));
    ({ streamUrl, downloadUrl } = first.output);
    expect(bytes.length).toBeGreaterThan(10_000);
  });
  const range = (url: string, r: string) => app.http.get(url, { range: r });

  it('without Range: 200, the whole file, accept-ranges bytes', async () => {
    const res = await app.http.get(streamUrl);
    expect(res.status).toBe(200);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['content-type']).toBe('video/webm');
    expect(Number(res.headers['content-length'])).toBe(bytes.length);
    expect(res.body.equals(bytes)).toBe(true);
  });

  it('a closed range: 206 with its content-range and exactly those bytes', async () => {
    for (const [start, end] of [
      [0, 0],
      [0, 99],
      [1000, 4999],
      [bytes.length - 10, bytes.length - 1],
    ] as const) {
      const res = await range(streamUrl, `bytes=${start}-${end}`);
      expect(res.status).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${bytes.length}`);
      expect(Number(res.headers['content-length'])).toBe(end - start + 1);
      expect(res.body.equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end}`).toBe(true);
    }
  });

  it('an open range runs to the end; an end past the file is cut at its last byte', async () => {
    const start = Math.floor(bytes.length / 2);
    const open = await range(streamUrl, `bytes=${start}-`);
    expect(open.status).toBe(206);
    expect(open.headers['content-range']).toBe(`bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    expect(open.body.equals(bytes.subarray(start))).toBe(true);
    const past = await range(streamUrl, `bytes=${start}-${bytes.length + 5000}`);
    expect(past.status).toBe(206);
    expect(past.headers['content-range']).toBe(`bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    expect(past.body.equals(bytes.subarray(start))).toBe(true);
  });

  it('a suffix range is the last n bytes (the whole file when n is larger)', async () => {
    const last = await range(streamUrl, 'bytes=-500');
    expect(last.status).toBe(206);
    expect(last.headers['content-range']).toBe(`bytes ${bytes.length - 500}-${bytes.length - 1}/${bytes.length}`);
    expect(last.body.equals(bytes.subarray(bytes.length - 500))).toBe(true);
    const all = await range(streamUrl, `bytes=-${bytes.length + 1}`);
    expect(all.status).toBe(206);
    expect(all.headers['content-range']).toBe(`bytes 0-${bytes.length - 1}/${bytes.length}`);
    expect(all.body.equals(bytes)).toBe(true);
  });

  it('a range starting at or past the end, or an empty suffix: 416 with bytes */size', async () => {
    for (const r of [`bytes=${bytes.length}-`, `bytes=${bytes.length + 100}-${bytes.length + 200}`, 'bytes=-0']) {
      const res = await range(streamUrl, r);
      expect(res.status, r).toBe(416);
      expect(res.headers['content-range'], r).toBe(`bytes */${bytes.length}`);
    }
  });

  it('the download route honours Range the same way, as an attachment', async () => {
    const res = await range(downloadUrl, 'bytes=100-199');
    expect(res.status).toBe(206);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${first.output.filename}"`);
    expect(res.headers['content-range']).toBe(`bytes 100-199/${bytes.length}`);
    expect(res.body.equals(bytes.subarray(100, 200))).toBe(true);
  });
});
