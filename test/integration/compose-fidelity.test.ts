/**
 * Fidelity of the composition, measured on decoded output: known inputs (a
 * colour and a tone per participant, white flashes with simultaneous beeps at
 * known times) with a late join, a leave-and-rejoin, an audio-only
 * participant and a segment whose WebM timestamps drift by 3 %.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComposer, type ComposeResult } from '../../src/composer/index.js';
import { gridCells, inset } from '../../src/composer/geometry.js';
import {
  colorDistance, decodeAudio, hexRgb, isDark, isWhite, maxAmp, meanAmp, onset, probeOutput, probeRegion, regionMeans, toneEnvelope,
} from '../helpers/compose-analysis.js';
import { BEEP_HZ, writeFixture, type FixtureParticipant } from '../../tools/lib/compose-fixtures.js';
import { composeLive } from '../helpers/compose-live.js';

const W = 640;
const H = 360;
const FPS = 30;
const FRAME = 1000 / FPS;
const DURATION = 12_000;

const host: FixtureParticipant = {
  participantId: 'host', name: 'Hanna Host', role: 'host', color: '0xc03030', toneHz: 440,
  segments: [{ offsetMs: 0, durationMs: 12_000 }], flashesMs: [1000, 7000],
};
const alice: FixtureParticipant = {
  participantId: 'alice', name: 'Alice', role: 'participant', color: '0x30c030', toneHz: 660,
  segments: [{ offsetMs: 3000, durationMs: 9000 }], flashesMs: [4500, 10_000],
};
// Leaves at +6 s, rejoins at +9.04 s; the second segment's WebM timestamps run 3 % slow (werift NTP mode).
const bob: FixtureParticipant = {
  participantId: 'bob', name: null, role: 'participant', color: '0x3030c0', toneHz: 880,
  segments: [{ offsetMs: 0, durationMs: 6000 }, { offsetMs: 9040, durationMs: 2960, videoTimestampScale: 1.03 }],
  flashesMs: [2000, 11_540],
};
const carol: FixtureParticipant = {
  participantId: 'carol', name: 'Carol', role: 'participant', color: '0x808080', toneHz: 330,
  segments: [{ offsetMs: 1000, durationMs: 8000, video: false }],
};
// Display order: host, then by first appearance.
const order = [host, bob, carol, alice];
const tiles = gridCells(order.length, { x: 0, y: 0, w: W, h: H }).map((c) => inset(c));
const regions = tiles.map(probeRegion);

let root: string;
const logger = pino({ level: 'warn' });

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'compose-fidelity-'));
  await writeFixture({ root, meetingId: 'm1', recordingId: 'r1', participants: order, width: 320, height: 180, fps: FPS });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

// The post-stop composer, and the live one (src/composer/live) in 3 s windows: Alice's join at 3 s starts a window, so every
// check below holds for both (before it the live layout has 3 places, with the same first row).
describe.each([
  ['webm', 'post-stop'],
  ['mp4', 'post-stop'],
  ['webm', 'live'],
  ['mp4', 'live'],
] as const)('composed %s, %s', (format, path_) => {
  let result: ComposeResult;
  let frames: ReturnType<typeof regionMeans> extends Promise<infer T> ? T : never;
  let audio: Float32Array;
  let startMs = 0;
  // Measured values, printed at the end (the figures behind the assertions).
  const measured: string[] = [];
  afterAll(() => {
    console.log(`fidelity (${format}):\n  ${measured.join('\n  ')}`);
  });

  beforeAll(async () => {
    const req = {
      jobId: `j-${format}-${path_}`, meetingId: 'm1', recordingId: 'r1', durationMs: DURATION, layout: 'grid', format,
      width: W, height: H, fps: FPS, createdAt: 1_700_000_100_000 + (format === 'mp4' ? 1 : 0) + (path_ === 'live' ? 2 : 0),
    } as const;
    result = path_ === 'live' ? await composeLive(root, req, 3_000) : await createComposer({ root, logger }).compose(req);
    const info = await probeOutput(result.path);
    startMs = info.video?.startMs ?? 0;
    frames = await regionMeans(result.path, { width: W, height: H }, regions);
    audio = await decodeAudio(result.path);
  }, 120_000);

  const frameTime = (i: number) => startMs + i * FRAME;
  const tileOf = (p: FixtureParticipant) => order.indexOf(p);
  const looksLike = (p: FixtureParticipant, i: number) => colorDistance(frames[i]![tileOf(p)]!, hexRgb(p.color)) < 60;

  it('lasts the recording exactly, with the right codecs', async () => {
    const info = await probeOutput(result.path);
    measured.push(`duration ${info.durationMs.toFixed(1)} ms (container), ${(frames.length * FRAME).toFixed(1)} ms video, ${(audio.length / 48).toFixed(1)} ms audio; expected ${DURATION}`);
    expect(Math.abs(info.durationMs - DURATION)).toBeLessThanOrEqual(100);
    expect(Math.abs(frames.length * FRAME - DURATION)).toBeLessThanOrEqual(100);
    expect(info.video?.codec).toBe(format === 'webm' ? 'vp9' : 'h264');
    expect(info.audio?.codec).toBe(format === 'webm' ? 'opus' : 'aac');
    expect(Math.abs((audio.length / 48) - DURATION)).toBeLessThanOrEqual(100);
    expect(result.skipped).toEqual([]);
    expect(result.inputs).toHaveLength(9);
  });

  it('shows each video segment from its offset (on the nearest frame)', () => {
    for (const [p, offsetMs] of [[host, 0], [alice, 3000], [bob, 0], [bob, 9040]] as const) {
      const first = frames.findIndex((_, i) => frameTime(i) >= offsetMs - 500 && looksLike(p, i));
      const t = frameTime(first);
      expect(first, `${p.participantId} never appears after ${offsetMs}`).toBeGreaterThanOrEqual(0);
      measured.push(`${p.participantId} picture from ${t.toFixed(1)} ms, offset ${offsetMs} (+${(t - offsetMs).toFixed(1)})`);
      // On the output frame nearest its time (frames are placed half a frame early): within ±½ frame.
      expect(t - offsetMs, `${p.participantId} at ${offsetMs}: first frame ${t.toFixed(1)}`).toBeGreaterThanOrEqual(-FRAME / 2 - 1);
      expect(t - offsetMs).toBeLessThanOrEqual(FRAME / 2 + 1);
      // Nothing of them just before.
      if (offsetMs > 0) expect(looksLike(p, first - 1)).toBe(false);
    }
  });

  it('starts each voice at its offset (within one frame)', () => {
    for (const [p, offsetMs] of [[alice, 3000], [carol, 1000], [bob, 9040]] as const) {
      const env = toneEnvelope(audio, p.toneHz);
      const t = onset(env, 0.075, offsetMs - 500)!;
      measured.push(`${p.participantId} voice from ${t.toFixed(1)} ms, offset ${offsetMs} (${(t - offsetMs).toFixed(1)})`);
      expect(Math.abs(t - offsetMs), `${p.participantId} voice at ${t.toFixed(1)}, expected ${offsetMs}`).toBeLessThanOrEqual(FRAME);
    }
  });

  it('keeps a flash and its beep together (≤ 40 ms) and on time, also in the drifting segment', () => {
    const beep = toneEnvelope(audio, BEEP_HZ);
    for (const p of [host, alice, bob]) {
      for (const f of p.flashesMs!) {
        const i = frames.findIndex((_, k) => frameTime(k) >= f - 300 && isWhite(frames[k]![tileOf(p)]!));
        const tv = frameTime(i);
        const ta = onset(beep, 0.15, f - 300)!;
        measured.push(`${p.participantId} flash at ${f}: picture ${tv.toFixed(1)}, beep ${ta.toFixed(1)}, picture − beep ${(tv - ta).toFixed(1)} ms`);
        expect(Math.abs(tv - ta), `${p.participantId} flash at ${f}: video ${tv.toFixed(1)}, audio ${ta.toFixed(1)}`).toBeLessThanOrEqual(40);
        // Sound is placed to the sample (2 ms: the envelope's hop), and the host's frames (from 0, on the grid)
        // show at their own time: a muxer that moves either (webm's Opus codec delay, 6.5 ms) fails here.
        expect(Math.abs(ta - f)).toBeLessThanOrEqual(2);
        if (p === host) expect(Math.abs(tv - f), `${p.participantId} flash at ${f}: picture ${tv.toFixed(1)}`).toBeLessThanOrEqual(1);
        expect(tv - f).toBeGreaterThanOrEqual(-FRAME / 2 - 1);
        expect(tv - f).toBeLessThanOrEqual(FRAME / 2 + 1);
      }
    }
  });

  it('leaves a dark tile and silence while a participant is away, and keeps their place', () => {
    const away = frames.map((_, i) => i).filter((i) => frameTime(i) > 6000 + FRAME && frameTime(i) < 9040 - FRAME);
    expect(away.length).toBeGreaterThan(80);
    for (const i of away) expect(isDark(frames[i]![tileOf(bob)]!), `bob's tile at ${frameTime(i).toFixed(0)}`).toBe(true);
    const env = toneEnvelope(audio, bob.toneHz, { windowMs: 100, hopMs: 10 });
    measured.push(`bob away 6–9.04 s: ${away.length} dark frames, his tone peak ${maxAmp(env, 6100, 8990).toFixed(4)} (present ${meanAmp(env, 3000, 5900).toFixed(3)})`);
    expect(maxAmp(env, 6100, 8990)).toBeLessThan(0.01);
    expect(meanAmp(env, 3000, 5900)).toBeGreaterThan(0.1);
    expect(meanAmp(env, 9200, 11_900)).toBeGreaterThan(0.1);
    // Last frame of the first segment at 6000, gone after.
    const last = frames.findLastIndex((_, i) => frameTime(i) < 9000 && looksLike(bob, i));
    expect(Math.abs(frameTime(last) - 6000)).toBeLessThanOrEqual(FRAME + 1);
  });

  it('gives the audio-only participant a placeholder tile and never a picture', () => {
    for (let i = 0; i < frames.length; i++) expect(isDark(frames[i]![tileOf(carol)]!)).toBe(true);
    const env = toneEnvelope(audio, carol.toneHz, { windowMs: 100, hopMs: 10 });
    expect(meanAmp(env, 1200, 8800)).toBeGreaterThan(0.1);
    expect(maxAmp(env, 9100, 11_900)).toBeLessThan(0.01);
  });

  it('mixes at unity gain: a voice keeps its level when others join or leave (no pumping)', () => {
    const env = toneEnvelope(audio, host.toneHz, { windowMs: 100, hopMs: 10 });
    const alone = meanAmp(env, 200, 900); // host + bob
    const crowded = meanAmp(env, 3300, 4300); // host, bob, carol, alice
    const later = meanAmp(env, 7600, 8800); // bob away
    measured.push(`host tone level with 2 / 4 / 3 voices: ${alone.toFixed(4)} / ${crowded.toFixed(4)} / ${later.toFixed(4)}`);
    expect(alone).toBeGreaterThan(0.13);
    expect(alone).toBeLessThan(0.17);
    expect(Math.abs(crowded / alone - 1)).toBeLessThan(0.03);
    expect(Math.abs(later / alone - 1)).toBeLessThan(0.03);
  });

  it('writes the metadata beside the file and nothing half-written', async () => {
    expect(result.metadata.participants.map((p) => [p.participantId, p.name])).toEqual([
      ['host', 'Hanna Host'], ['bob', null], ['carol', 'Carol'], ['alice', 'Alice'],
    ]);
    expect(result.metadata.host).toEqual({ participantId: 'host', name: 'Hanna Host' });
    expect(result.metadata.participants.find((p) => p.participantId === 'bob')!.present).toEqual([
      // The fixture's last frame of the first segment is at 6000 and lasts a frame, as the recorder measures it.
      { start: 0, end: 6033 }, { start: 9040, end: 12_000 },
    ]);
    const names = await readdir(path.join(root, 'm1'));
    expect(names).toContain(result.file);
    expect(names).toContain(result.metadataFile);
    expect(names.filter((n) => n.includes('partial'))).toEqual([]);
  });
});
