/**
 * The frame grid's phase, measured on decoded output: the longest camera
 * segment starts between two output frames (20 ms into one at 30 fps), and
 * its picture must still show at its own time, not up to half a frame off,
 * while the file keeps whole frames (frame k at k/fps): a file with frames
 * between them made `ffmpeg -i composed.webm -f null -` (and any transcode
 * at 1/fps) report non-monotonic timestamps. Also near half a frame, where
 * that rounding is worst.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createComposer } from '../../src/composer/index.js';
import { gridCells, inset } from '../../src/composer/geometry.js';
import { decodeAudio, isWhite, onset, probeRegion, regionMeans, toneEnvelope } from '../helpers/compose-analysis.js';
import { BEEP_HZ, FFMPEG, FFPROBE, run, writeFixture, type FixtureParticipant } from '../../tools/lib/compose-fixtures.js';

const W = 320;
const H = 180;
const FPS = 30;
const FRAME = 1000 / FPS;
const DURATION = 6000;
const logger = pino({ level: 'warn' });
const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

/** The host's camera starts `offsetMs` into the recording (the longest segment); a guest from 0 for 3 s. */
async function compose(offsetMs: number, format: 'webm' | 'mp4') {
  const root = await mkdtemp(path.join(os.tmpdir(), 'grid-phase-'));
  roots.push(root);
  // flashes on the host's own frames: offset + 30 and + 120 frames
  const flashesMs = [offsetMs + 30 * FRAME, offsetMs + 120 * FRAME].map((t) => Math.round(t * 1000) / 1000);
  const host: FixtureParticipant = {
    participantId: 'host', name: 'Host', role: 'host', color: '0xc03030', toneHz: 440,
    segments: [{ offsetMs, durationMs: DURATION - 100 }], flashesMs,
  };
  const guest: FixtureParticipant = {
    participantId: 'guest', name: 'Guest', role: 'participant', color: '0x30c030', toneHz: 660,
    segments: [{ offsetMs: 0, durationMs: 3000 }],
  };
  await writeFixture({ root, meetingId: 'm1', recordingId: 'r1', participants: [host, guest], width: 160, height: 90, fps: FPS });
  const result = await createComposer({ root, logger }).compose({
    jobId: `j-${format}`, meetingId: 'm1', recordingId: 'r1', durationMs: DURATION, layout: 'grid', format,
    width: W, height: H, fps: FPS, createdAt: 1_700_000_100_000,
  });
  return { result, flashesMs, host };
}

async function framePtsMs(file: string): Promise<number[]> {
  const r = await run(FFPROBE, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]);
  return r.stdout.toString().split('\n').map((l) => l.trim().replace(/,$/, '')).filter(Boolean).map((l) => parseFloat(l) * 1000).sort((a, b) => a - b);
}

describe.each(['webm', 'mp4'] as const)('a %s whose longest camera starts 20 ms into a frame', (format) => {
  it('shows that camera’s flashes at their own time (≤ 1 ms) with their beeps, on whole frames, and decodes without a timestamp error', async () => {
    const { result, flashesMs } = await compose(20, format);
    const lead = result.metadata.leadInMs;
    // The grid at phase 20 ms is moved on by the rest of the frame: the recording's 0 is at 13.333 ms in the file.
    expect(lead).toBeCloseTo(FRAME - 20, 2);

    const pts = await framePtsMs(result.path);
    const offGrid = pts.filter((t) => Math.abs(t - Math.round(t / FRAME) * FRAME) > 0.6);
    expect(offGrid, `frames between grid frames: ${offGrid.slice(0, 5).join(', ')}`).toEqual([]);
    expect(pts[0]).toBeLessThanOrEqual(0.6);
    const decoded = await run(FFMPEG, ['-v', 'error', '-nostdin', '-i', result.path, '-f', 'null', '-']);
    expect(decoded.stderr.trim()).toBe('');
    expect(decoded.code).toBe(0);

    const tile = probeRegion(inset(gridCells(2, { x: 0, y: 0, w: W, h: H })[0]!));
    const frames = await regionMeans(result.path, { width: W, height: H }, [tile]);
    const beep = toneEnvelope(await decodeAudio(result.path), BEEP_HZ);
    const frameTime = (i: number) => pts[0]! + i * FRAME;
    for (const f of flashesMs) {
      const i = frames.findIndex((fr, k) => frameTime(k) >= f - 300 && isWhite(fr[0]!));
      const tv = frameTime(i);
      const ta = onset(beep, 0.15, f - 300)!;
      console.log(`${format}: flash at ${f} (+ lead-in ${lead.toFixed(3)}): picture ${tv.toFixed(1)}, beep ${ta.toFixed(1)}`);
      expect(Math.abs(tv - (f + lead)), `picture at ${tv.toFixed(1)}, expected ${(f + lead).toFixed(1)}`).toBeLessThanOrEqual(1);
      expect(Math.abs(ta - (f + lead)), `beep at ${ta.toFixed(1)}, expected ${(f + lead).toFixed(1)}`).toBeLessThanOrEqual(2);
    }
    // The whole recording, and the lead-in on top.
    expect(Math.abs(result.durationMs - (DURATION + lead))).toBeLessThanOrEqual(40);
  }, 120_000);
});

describe('phases near half a frame, where rounding a frame time goes either way', () => {
  // 50 ms is exactly half a frame in (1½ frames); the fixture's file names take whole milliseconds.
  it.each([16, 17, 50])('host from %i ms: whole frames, and a clean decode', async (offsetMs) => {
    const { result } = await compose(offsetMs, 'webm');
    expect(result.metadata.inputs.some((i) => i.participantId === 'host' && i.kind === 'video')).toBe(true);
    console.log(`host from ${offsetMs} ms: lead-in ${result.metadata.leadInMs} ms`);
    const pts = await framePtsMs(result.path);
    expect(pts.filter((t) => Math.abs(t - Math.round(t / FRAME) * FRAME) > 0.6)).toEqual([]);
    const decoded = await run(FFMPEG, ['-v', 'error', '-nostdin', '-i', result.path, '-f', 'null', '-']);
    expect(decoded.stderr.trim()).toBe('');
  }, 120_000);
});
