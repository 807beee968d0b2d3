/**
 * Each layout on real ffmpeg: who is where, measured on the decoded output.
 * Host (red) speaks 0–3 s, guest (green) 3–8 s; a third (blue) is silent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComposer, type Layout } from '../../src/composer/index.js';
import { fitRect, inset, rowCells, stageAndStrip, type Rect } from '../../src/composer/geometry.js';
import { colorDistance, hexRgb, probeRegion, regionMeans, type Rgb } from '../helpers/compose-analysis.js';
import { writeFixture, type FixtureParticipant } from '../../tools/lib/compose-fixtures.js';

const W = 640;
const H = 360;
const FPS = 30;
const DURATION = 8000;
const host: FixtureParticipant = {
  participantId: 'host', name: 'Host', role: 'host', color: '0xc03030', toneHz: 440,
  segments: [{ offsetMs: 0, durationMs: DURATION }], speaksMs: [{ start: 0, end: 3000 }],
};
const guest: FixtureParticipant = {
  participantId: 'guest', name: 'Guest', role: 'participant', color: '0x30c030', toneHz: 660,
  segments: [{ offsetMs: 0, durationMs: DURATION }], speaksMs: [{ start: 3000, end: DURATION }],
};
const third: FixtureParticipant = {
  participantId: 'third', name: 'Third', role: 'participant', color: '0x3030c0', toneHz: 880,
  segments: [{ offsetMs: 200, durationMs: DURATION - 200 }], speaksMs: [],
};

let root: string;
let n = 0;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'compose-layouts-'));
  await writeFixture({ root, meetingId: 'm', recordingId: 'r1', participants: [host, guest, third], width: 320, height: 180 });
}, 60_000);
afterAll(() => rm(root, { recursive: true, force: true }));

async function render(layout: Layout, regions: Rect[], namePlates = true) {
  const r = await createComposer({ root, logger }).compose({
    jobId: `j${++n}`, meetingId: 'm', recordingId: 'r1', durationMs: DURATION, layout, format: 'mp4',
    width: W, height: H, fps: FPS, namePlates, createdAt: 1_700_000_000_000 + n,
  });
  const frames = await regionMeans(r.path, { width: W, height: H }, regions);
  return (ms: number) => frames[Math.round((ms * FPS) / 1000)]!;
}

const is = (c: Rgb, p: FixtureParticipant) => colorDistance(c, hexRgb(p.color)) < 60;
const { stage, strip } = stageAndStrip(W, H);
const stageVideo = fitRect(inset(stage), 320, 180);

describe('layouts', () => {
  it('speaker: the stage follows who speaks, the row shows everybody throughout', async () => {
    const row = rowCells(3, strip).map((c) => fitRect(inset(c), 320, 180));
    const at = await render('speaker', [probeRegion(stageVideo), ...row.map(probeRegion)]);
    expect(is(at(1500)[0]!, host)).toBe(true);
    expect(is(at(2900)[0]!, host)).toBe(true);
    expect(is(at(3100)[0]!, guest)).toBe(true); // back-dated to when the guest started
    expect(is(at(7500)[0]!, guest)).toBe(true);
    for (const t of [1000, 5000]) {
      expect(is(at(t)[1]!, host)).toBe(true);
      expect(is(at(t)[2]!, guest)).toBe(true);
      expect(is(at(t)[3]!, third)).toBe(true);
    }
  });

  it('host-led: the host on the stage, the others in a row below', async () => {
    const row = rowCells(2, strip).map((c) => fitRect(inset(c), 320, 180));
    const at = await render('host-led', [probeRegion(stageVideo), ...row.map(probeRegion)]);
    for (const t of [1000, 5000]) {
      expect(is(at(t)[0]!, host)).toBe(true);
      expect(is(at(t)[1]!, guest)).toBe(true);
      expect(is(at(t)[2]!, third)).toBe(true);
    }
  });

  it('host-only: only the host, full frame', async () => {
    const quarters = [0, 1, 2, 3].map((i) => probeRegion({ x: (i % 2) * (W / 2), y: Math.floor(i / 2) * (H / 2), w: W / 2, h: H / 2 }));
    const at = await render('host-only', quarters);
    for (const q of at(5000).slice(0, 2)) expect(is(q, host)).toBe(true);
  });

  it('name plates can be turned off', async () => {
    // The plate area of the host tile in a 2×2 grid: bottom-left.
    const plate: Rect = { x: 10, y: 148, w: 40, h: 6 }; // above the fixture's dark bottom strip
    const withPlates = await render('grid', [plate]);
    const without = await render('grid', [plate], false);
    expect(is(without(2000)[0]!, host)).toBe(true);
    expect(is(withPlates(2000)[0]!, host)).toBe(false);
  });
});
