/**
 * What real recordings throw at the composer: no video at all, a segment left
 * by a crash, corrupt and empty segments, ffmpeg failing or producing a wrong
 * file, an abort, and re-composing kept files by ids only.
 */
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComposeError, createComposer, type ComposeProgress } from '../../src/composer/index.js';
import { fitRect, gridCells, inset } from '../../src/composer/geometry.js';
import { colorDistance, hexRgb, probeOutput, probeRegion, regionMeans } from '../helpers/compose-analysis.js';
import { ffmpeg, FFMPEG, patchSidecar, writeFixture, type FixtureParticipant } from '../../tools/lib/compose-fixtures.js';
import { makeCrashLeft } from '../helpers/compose-webm.js';

const logger = pino({ level: 'silent' });
const small = { width: 320, height: 180, fps: 30 };
let root: string;
let n = 0;
const request = (meetingId: string, durationMs: number, extra: Record<string, unknown> = {}) => ({
  jobId: `job${++n}`, meetingId, recordingId: 'r1', durationMs, layout: 'grid' as const, format: 'webm' as const,
  createdAt: 1_700_000_000_000 + n, ...small, ...extra,
});

const host: FixtureParticipant = { participantId: 'host', name: 'Host', role: 'host', color: '0xc03030', toneHz: 440, segments: [{ offsetMs: 0, durationMs: 4000 }] };
const guest: FixtureParticipant = { participantId: 'guest', name: 'Guest', role: 'participant', color: '0x30c030', toneHz: 660, segments: [{ offsetMs: 500, durationMs: 3500 }] };

async function fixture(meetingId: string, participants: FixtureParticipant[]) {
  return writeFixture({ root, meetingId, recordingId: 'r1', participants, width: 160, height: 90 });
}
const composedIn = async (meetingId: string) => (await readdir(path.join(root, meetingId))).filter((f) => f.includes('-composed') || f.includes('.partial'));

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'compose-robust-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('recordings that are not ideal', () => {
  it('composes a recording without any video into a valid video with placeholders', async () => {
    await fixture('novideo', [
      { ...host, segments: [{ offsetMs: 0, durationMs: 4000, video: false }] },
      { ...guest, segments: [{ offsetMs: 500, durationMs: 3500, video: false }] },
    ]);
    const r = await createComposer({ root, logger }).compose(request('novideo', 4000));
    const info = await probeOutput(r.path);
    expect(info.video?.codec).toBe('vp9');
    expect(info.audio?.codec).toBe('opus');
    expect(Math.abs(info.durationMs - 4000)).toBeLessThanOrEqual(100);
    expect(r.inputs.map((i) => i.kind)).toEqual(['audio', 'audio']);
    expect(r.metadata.participants.map((p) => [p.participantId, p.hasVideo, p.hasAudio])).toEqual([
      ['host', false, true],
      ['guest', false, true],
    ]);
  });

  it('uses a segment left by a crash (unknown-size clusters, no cues, 24 h header, no sidecar duration)', async () => {
    const files = await fixture('crash', [host, guest]);
    const video = files.find((f) => f.participantId === 'guest' && f.kind === 'video')!;
    const dir = path.join(root, 'crash');
    await makeCrashLeft(path.join(dir, video.file), 0.5);
    await patchSidecar(dir, video.sidecar, { finalized: false, durationMs: null, endedAt: null }, (f) => readFile(f, 'utf8'));
    const r = await createComposer({ root, logger }).compose(request('crash', 4000));
    expect(r.skipped).toEqual([]);
    const used = r.inputs.find((i) => i.file === video.file)!;
    expect(used.durationMs).toBeGreaterThan(2000); // timed by its packets, the truncated tail excluded
    expect(used.durationMs).toBeLessThan(3500);
    // The guest is on screen from their offset.
    const tiles = gridCells(2, { x: 0, y: 0, w: small.width, h: small.height }).map((c) => fitRect(inset(c), 160, 90));
    const frames = await regionMeans(r.path, small, tiles.map(probeRegion));
    const at = (ms: number) => frames[Math.round((ms * small.fps) / 1000)]!;
    expect(colorDistance(at(1500)[1]!, hexRgb(guest.color))).toBeLessThan(60);
    expect(colorDistance(at(300)[1]!, hexRgb(guest.color))).toBeGreaterThan(100);
  });

  it('skips corrupt, empty, header-only and missing segments with a reason, and composes the rest', async () => {
    const files = await fixture('corrupt', [host, guest, { ...guest, participantId: 'third', name: 'Third', color: '0x3030c0', toneHz: 880 }]);
    const dir = path.join(root, 'corrupt');
    const gv = files.find((f) => f.participantId === 'guest' && f.kind === 'video')!;
    const ga = files.find((f) => f.participantId === 'guest' && f.kind === 'audio')!;
    const tv = files.find((f) => f.participantId === 'third' && f.kind === 'video')!;
    const ta = files.find((f) => f.participantId === 'third' && f.kind === 'audio')!;
    await writeFile(path.join(dir, gv.file), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251)));
    await writeFile(path.join(dir, ga.file), '');
    const whole = await readFile(path.join(dir, tv.file));
    await writeFile(path.join(dir, tv.file), whole.subarray(0, 300));
    await rm(path.join(dir, ta.file));

    const r = await createComposer({ root, logger }).compose(request('corrupt', 4000));
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.file, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual([gv.file, ga.file, tv.file, ta.file].sort());
    expect(reasons[gv.file]).toMatch(/unreadable/);
    expect(reasons[ga.file]).toBe('media file is empty');
    expect(reasons[tv.file]).toMatch(/unreadable|header-only|no video/);
    expect(reasons[ta.file]).toBe('media file missing');
    expect(r.inputs.map((i) => i.participantId)).toEqual(['host', 'host']);
    expect(r.metadata.skipped).toEqual(r.skipped);
    // Their sidecars still tell who was there.
    expect(r.metadata.participants.map((p) => p.participantId)).toEqual(['host', 'guest', 'third']);
  });
  it('follows a resolution and orientation change inside a segment (letterboxed in the same place)', async () => {
    const dir = path.join(root, 'rotate');
    await fixture('rotate', [host]);
    // 2 s landscape green, then 2 s portrait blue, in one VP8 stream.
    const part = (color: string, size: string, name: string) =>
      ffmpeg(['-f', 'lavfi', '-i', `color=c=${color}:s=${size}:r=30:d=2`, '-c:v', 'libvpx', '-g', '30', '-b:v', '300k', path.join(dir, name)]);
    await part('0x30c030', '320x180', 'a.webm');
    await part('0x3030c0', '180x320', 'b.webm');
    await writeFile(path.join(dir, 'list.txt'), 'file a.webm\nfile b.webm\n');
    const file = '1700000000000-r1-phone-video-v0.webm';
    await ffmpeg(['-f', 'concat', '-i', path.join(dir, 'list.txt'), '-c', 'copy', path.join(dir, file)]);
    await Promise.all(['a.webm', 'b.webm', 'list.txt'].map((f) => rm(path.join(dir, f))));
    const meta = {
      version: 1, meetingId: 'rotate', recordingId: 'r1', participantId: 'phone', participantName: 'Phone', role: 'participant', kind: 'video',
      trackId: 'v0', codec: 'vp8', file, segmentIndex: 0, offsetMs: 0, durationMs: 3967, startedAt: 1, endedAt: 3968, finalized: true,
      packets: 120, bytes: 1, levelsFile: null,
    };
    await writeFile(path.join(dir, file.replace('.webm', '.json')), JSON.stringify(meta));

    const r = await createComposer({ root, logger }).compose(request('rotate', 4000));
    const tile = inset(gridCells(2, { x: 0, y: 0, w: small.width, h: small.height })[1]!);
    const centre = { x: tile.x + tile.w / 2 - 4, y: tile.y + tile.h / 2 - 4, w: 8, h: 8 };
    const side = { x: tile.x + 4, y: tile.y + tile.h / 2 - 4, w: 8, h: 8 };
    const frames = await regionMeans(r.path, small, [centre, side]);
    const [c1, s1] = frames[30]!;
    const [c3, s3] = frames[90]!;
    expect(colorDistance(c1!, hexRgb('0x30c030'))).toBeLessThan(60);
    expect(colorDistance(s1!, hexRgb('0x30c030'))).toBeLessThan(60); // landscape fills the tile
    expect(colorDistance(c3!, hexRgb('0x3030c0'))).toBeLessThan(60);
    expect(colorDistance(s3!, hexRgb('0x262626'))).toBeLessThan(30); // portrait: tile background at the sides
  });
});

describe('failures', () => {
  let wrapperDir: string;
  /** An "ffmpeg" that runs the real one with extra arguments just before the output file. */
  async function wrapper(name: string, extra: string): Promise<string> {
    const file = path.join(wrapperDir, name);
    await writeFile(file, `#!/bin/bash\nexec ${FFMPEG} "\${@:1:$#-1}" ${extra} "\${@: -1}"\n`);
    await chmod(file, 0o755);
    return file;
  }

  beforeAll(async () => {
    wrapperDir = await mkdtemp(path.join(os.tmpdir(), 'compose-wrap-'));
    await fixture('fail', [host, guest]);
  });
  afterAll(() => rm(wrapperDir, { recursive: true, force: true }));

  it('a failed ffmpeg run throws ComposeError with the exit code and stderr, and leaves no file', async () => {
    const ffmpegPath = await wrapper('bad-arg', '-c:v no_such_encoder');
    const err = await createComposer({ root, logger, ffmpegPath, ffprobePath: '/usr/bin/ffprobe' })
      .compose(request('fail', 4000))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComposeError);
    const e = err as ComposeError;
    expect(e.code).toBe('ffmpeg-failed');
    expect(e.exitCode).not.toBe(0);
    expect(e.exitCode).not.toBeNull();
    expect(e.stderr.length).toBeGreaterThan(0);
    expect(e.stderr.length).toBeLessThanOrEqual(20);
    expect(e.stderr.join('\n')).toMatch(/no_such_encoder/);
    expect(e.message).toMatch(/ffmpeg exited with code/);
    expect(await composedIn('fail')).toEqual([]);
  });

  it('an output that is not what was asked for (too short) is rejected and removed', async () => {
    const ffmpegPath = await wrapper('short', '-t 1');
    const err = (await createComposer({ root, logger, ffmpegPath, ffprobePath: '/usr/bin/ffprobe' })
      .compose(request('fail', 4000))
      .catch((e: unknown) => e)) as ComposeError;
    expect(err.code).toBe('output-invalid');
    expect(err.message).toMatch(/lasts \d+ ms, expected 4000 ms/);
    expect(await composedIn('fail')).toEqual([]);
  });

  it('an abort stops ffmpeg and leaves no file', async () => {
    const abort = new AbortController();
    const seen: ComposeProgress[] = [];
    const started = Date.now();
    const err = (await createComposer({ root, logger })
      .compose(request('fail', 600_000, { width: 640, height: 360 }), {
        signal: abort.signal,
        onProgress: (p) => {
          seen.push(p);
          if (p.outTimeMs > 0) abort.abort();
        },
      })
      .catch((e: unknown) => e)) as ComposeError;
    expect(err.code).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(seen.length).toBeGreaterThan(0);
    expect(await composedIn('fail')).toEqual([]);
  });

  it('says how to install ffmpeg when there is none', async () => {
    const saved = { FFMPEG_PATH: process.env.FFMPEG_PATH };
    process.env.FFMPEG_PATH = path.join(wrapperDir, 'nope');
    try {
      const err = (await createComposer({ root, logger }).compose(request('fail', 4000)).catch((e: unknown) => e)) as ComposeError;
      expect(err.code).toBe('ffmpeg-missing');
      expect(err.message).toMatch(/apt-get install ffmpeg/);
    } finally {
      if (saved.FFMPEG_PATH === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved.FFMPEG_PATH;
    }
  });

  it('refuses ids that would leave the recordings root', async () => {
    const err = (await createComposer({ root, logger }).compose(request('..', 4000)).catch((e: unknown) => e)) as ComposeError;
    expect(err.code).toBe('invalid-request');
  });
});

describe('re-composing kept files', () => {
  it('composes again by ids with another layout and format, reports progress, then deletes inputs when asked', async () => {
    await fixture('again', [host, guest]);
    const dir = path.join(root, 'again');
    const before = (await readdir(dir)).sort();
    const first = await createComposer({ root, logger }).compose(request('again', 4000, { layout: 'host-led', format: 'webm' }));
    expect((await readdir(dir)).filter((f) => before.includes(f)).sort()).toEqual(before); // inputs kept by default

    const progress: ComposeProgress[] = [];
    const started = Date.now();
    const second = await createComposer({ root, logger, deleteInputsOnSuccess: true }).compose(
      request('again', 4000, { layout: 'speaker', format: 'mp4' }),
      { onProgress: (p) => progress.push(p) },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(second.file).toMatch(/^\d+-r1-composed\.mp4$/);
    expect(progress[progress.length - 1]!.percent).toBe(100);
    expect(progress.length).toBeLessThanOrEqual(2 * seconds + 3);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.percent).toBeGreaterThanOrEqual(progress[i - 1]!.percent);

    const after = (await readdir(dir)).sort();
    expect(after).toEqual([first.file, first.metadataFile, second.file, second.metadataFile].sort());
    const meta = JSON.parse(await readFile(path.join(dir, second.metadataFile), 'utf8'));
    expect(meta).toMatchObject({ recordingId: 'r1', layout: 'speaker', format: 'mp4', host: { participantId: 'host', name: 'Host' } });
    expect((await stat(second.path)).size).toBe(second.sizeBytes);

    const none = (await createComposer({ root, logger }).compose(request('again', 4000)).catch((e: unknown) => e)) as ComposeError;
    expect(none.code).toBe('no-inputs');
  });
});
