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
import { COLORS } from '../../src/composer/filter-graph.js';
import { fitRect, gridCells, inset, rowCells, stageAndStrip, type Rect } from '../../src/composer/geometry.js';
import type { ComposeMember } from '../../src/composer/types.js';
import { colorDistance, hexRgb, isDark, probeRegion, regionMeans, type Rgb } from '../helpers/compose-analysis.js';
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
}, 180_000);
afterAll(() => rm(root, { recursive: true, force: true }));

async function composeOf(layout: Layout, regions: Rect[], opts: { namePlates?: boolean; recordingId?: string; members?: ComposeMember[]; durationMs?: number } = {}) {
  const r = await createComposer({ root, logger }).compose({
    jobId: `j${++n}`, meetingId: 'm', recordingId: opts.recordingId ?? 'r1', durationMs: opts.durationMs ?? DURATION, layout, format: 'mp4',
    width: W, height: H, fps: FPS, namePlates: opts.namePlates ?? true, createdAt: 1_700_000_000_000 + n,
    ...(opts.members ? { members: opts.members } : {}),
  });
  const frames = await regionMeans(r.path, { width: W, height: H }, regions);
  return { at: (ms: number) => frames[Math.round((ms * FPS) / 1000)]!, metadata: r.metadata };
}
const render = async (layout: Layout, regions: Rect[], namePlates = true) => (await composeOf(layout, regions, { namePlates })).at;

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

describe('grid places and rejoins (issue 16)', () => {
  // Short and video-only (the host's audio aside): cheap to encode, these checks read pictures.
  const SHORT = 4000;
  const only = (p: FixtureParticipant, participantId: string, offsetMs: number, durationMs: number, audio = false): FixtureParticipant => ({
    ...p, participantId, segments: [{ offsetMs, durationMs, audio }], speaksMs: [],
  });
  beforeAll(async () => {
    await Promise.all([
      writeFixture({ root, meetingId: 'm', recordingId: 'two', participants: [only(host, 'host', 0, SHORT, true), only(guest, 'guest', 0, SHORT)], width: 320, height: 180 }),
      // The guest leaves at 1.5 s and comes back at 2.5 s under a new participantId (a new socket), the same user.
      writeFixture({
        root, meetingId: 'm', recordingId: 'rejoin', width: 320, height: 180,
        participants: [only(host, 'host', 0, SHORT, true), { ...only(guest, 'guest-1', 0, 1500), name: null }, { ...only(guest, 'guest-2', 2500, 1500), name: null }],
      }),
    ]);
  }, 180_000);

  it('grid of two: two 16:9 pictures side by side, centred, on the bare canvas, name plates on the pictures', async () => {
    const cells = gridCells(2, { x: 0, y: 0, w: W, h: H });
    expect(cells).toEqual([{ x: 0, y: 90, w: 320, h: 180 }, { x: 320, y: 90, w: 320, h: 180 }]);
    // Above and below the pictures is canvas, not a tile's box (the old grid's tall halves were tile boxes there).
    const band = (y: number): Rect => ({ x: 20, y, w: W - 40, h: 40 });
    // The host's plate, bottom-left of its picture (the old grid put it in the letterbox below).
    const plate: Rect = { x: 10, y: 90 + 148, w: 40, h: 6 };
    const { at } = await composeOf('grid', [...cells.map((c) => probeRegion(fitRect(inset(c), 320, 180))), band(20), band(H - 60), plate], { recordingId: 'two', durationMs: SHORT });
    const canvas = hexRgb(COLORS.canvas);
    for (const t of [1000, 3000]) {
      const [left, right, top, bottom, hostPlate] = at(t);
      expect(is(left!, host), `left at ${t}: ${JSON.stringify(left)}`).toBe(true);
      expect(is(right!, guest), `right at ${t}: ${JSON.stringify(right)}`).toBe(true);
      for (const b of [top!, bottom!]) expect(colorDistance(b, canvas), `band at ${t}: ${JSON.stringify(b)}`).toBeLessThan(8);
      expect(is(hostPlate!, host), `plate at ${t}: ${JSON.stringify(hostPlate)}`).toBe(false);
    }
  });

  it('a rejoin with the same userId stays on its tile: the same place before and after, dark in between, no third tile', async () => {
    const members: ComposeMember[] = [
      { participantId: 'host', name: 'Host' },
      { participantId: 'guest-1', name: null, userId: 'u-guest' },
      { participantId: 'guest-2', name: 'Gwen', userId: 'u-guest', avatar: 'gwen.png' },
    ];
    const [hostCell, guestCell] = gridCells(2, { x: 0, y: 0, w: W, h: H }).map((c) => probeRegion(fitRect(inset(c), 320, 180)));
    const { at, metadata } = await composeOf('grid', [hostCell!, guestCell!], { recordingId: 'rejoin', members, durationMs: SHORT });
    for (const t of [500, 1200, 2900, 3600]) expect(is(at(t)[1]!, guest), `guest tile at ${t}: ${JSON.stringify(at(t)[1])}`).toBe(true);
    for (const t of [1800, 2200]) expect(isDark(at(t)[1]!), `guest tile in the gap at ${t}: ${JSON.stringify(at(t)[1])}`).toBe(true);
    for (const t of [500, 2000, 3600]) expect(is(at(t)[0]!, host)).toBe(true);
    expect(metadata.participants.map((p) => [p.participantIds, p.label, p.userId ?? null])).toEqual([
      [['host'], 'Host', null],
      [['guest-1', 'guest-2'], 'Gwen', 'u-guest'],
    ]);
    expect(metadata.participants[1]).toMatchObject({ name: 'Gwen', avatar: 'gwen.png', hasVideo: true });
    // present as the recorder measured the segments (first to last frame)
    const present = metadata.participants[1]!.present;
    expect(present).toHaveLength(2);
    expect(present[0]!.start).toBe(0);
    expect(present[1]!.start).toBe(2500);
    expect(present[0]!.end).toBeLessThan(present[1]!.start);
    expect(metadata.host).toEqual({ participantId: 'host', name: 'Host' });
  });

  it('without a userId a rejoin is somebody else: its own tile', async () => {
    const { metadata } = await composeOf('grid', [], { recordingId: 'rejoin', durationMs: SHORT });
    expect(metadata.participants.map((p) => p.participantIds)).toEqual([['host'], ['guest-1'], ['guest-2']]);
    expect(metadata.participants.map((p) => p.label)).toEqual(['Host', 'Participant 1', 'Participant 2']);
  });
});
