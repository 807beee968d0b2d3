import { describe, expect, it } from 'vitest';
import type { AudioLevels, SegmentMeta } from '../../../events/segment.js';
import { ffmpegArgs } from '../../../src/composer/args.js';
import { audioMix, audioTiming, buildFilterGraph, centredOverlay, fitInto, gridPhaseOf, leadInOf, videoTiming } from '../../../src/composer/filter-graph.js';
import { gridCells, inset, stageAndStrip } from '../../../src/composer/geometry.js';
import { planComposition, type PlanRequest, type PlanSegment } from '../../../src/composer/plan.js';
import { FORMATS, LAYOUTS, type Layout } from '../../../events/catalog.js';

function seg(
  participantId: string,
  kind: 'audio' | 'video',
  offsetMs: number,
  durationMs: number,
  o: { role?: 'host' | 'participant'; name?: string | null; segmentIndex?: number; timeScale?: number; levels?: AudioLevels } = {},
): PlanSegment {
  const file = `${1000 + offsetMs}-r1-${participantId}-${kind}-${o.segmentIndex ?? 0}.webm`;
  const meta: SegmentMeta = {
    version: 1, meetingId: 'm1', recordingId: 'r1', participantId, participantName: o.name === undefined ? participantId.toUpperCase() : o.name,
    role: o.role ?? 'participant', kind, trackId: `t${o.segmentIndex ?? 0}`, codec: kind === 'video' ? 'vp8' : 'opus', file,
    segmentIndex: o.segmentIndex ?? 0, offsetMs, durationMs, startedAt: 1000 + offsetMs, endedAt: 1000 + offsetMs + durationMs,
    finalized: true, packets: 1, bytes: 1, levelsFile: null,
  };
  return {
    meta,
    path: `/rec/m1/${file}`,
    assessment: { ok: true, durationMs, timeScale: o.timeScale ?? 1, ...(kind === 'video' ? { width: 640, height: 360 } : {}) },
    levels: o.levels ?? null,
  };
}

const req = (layout: Layout, extra: Partial<PlanRequest> = {}): PlanRequest => ({
  durationMs: 12_000, layout, width: 1280, height: 720, fps: 30, namePlates: true, fontFile: '/f.ttf', ...extra,
});

/** host + a (joins at 3 s) + b (leaves at 6 s, rejoins at 9 s) + c (audio only). */
const meeting = (): PlanSegment[] => [
  seg('host', 'video', 0, 12_000, { role: 'host' }),
  seg('host', 'audio', 0, 12_000, { role: 'host' }),
  seg('a', 'video', 3000, 9000),
  seg('a', 'audio', 3000, 9000),
  seg('b', 'video', 0, 6000),
  seg('b', 'audio', 0, 6000),
  seg('b', 'video', 9000, 3000, { segmentIndex: 1, timeScale: 0.97 }),
  seg('b', 'audio', 9000, 3000, { segmentIndex: 1 }),
  seg('c', 'audio', 1000, 8000),
];

/**
 * Structural check of a filtergraph: every link label is produced once and
 * consumed once, every stream specifier names an existing input once, and
 * [vout]/[aout] are the only unconsumed outputs.
 */
function checkGraph(graph: string, inputs: number) {
  const produced = new Map<string, number>();
  const consumed = new Map<string, number>();
  const streams: string[] = [];
  for (const chain of graph.split(';')) {
    const c = chain.trim();
    const head = /^((?:\[[^\]]+\])*)/.exec(c)![1]!;
    const tail = /((?:\[[^\]]+\])*)$/.exec(c)![1]!;
    for (const [, l] of head.matchAll(/\[([^\]]+)\]/g)) {
      if (/^\d+:[av]$/.test(l!)) streams.push(l!);
      else consumed.set(l!, (consumed.get(l!) ?? 0) + 1);
    }
    for (const [, l] of tail.matchAll(/\[([^\]]+)\]/g)) produced.set(l!, (produced.get(l!) ?? 0) + 1);
  }
  for (const [l, n] of produced) {
    expect(n, `label ${l} produced ${n}×`).toBe(1);
    if (l === 'vout' || l === 'aout') expect(consumed.has(l)).toBe(false);
    else expect(consumed.get(l), `label ${l} consumed`).toBe(1);
  }
  for (const l of consumed.keys()) expect(produced.has(l), `label ${l} never produced`).toBe(true);
  expect(produced.has('vout') && produced.has('aout')).toBe(true);
  expect(new Set(streams).size).toBe(streams.length);
  expect(streams.map((s) => Number(s.split(':')[0])).sort((x, y) => x - y)).toEqual(Array.from({ length: inputs }, (_, i) => i));
}

describe.each(LAYOUTS)('%s layout', (layout) => {
  it.each(FORMATS)('builds a consistent graph and argument list (%s)', (format) => {
    const plan = planComposition(req(layout), meeting(), []);
    const graph = buildFilterGraph(plan.spec);
    checkGraph(graph, plan.inputs.length);
    const args = ffmpegArgs({ inputs: plan.inputs, graph: { inline: graph }, format, fps: 30, threads: 2, durationMs: 12_000, output: '/o' });
    expect(args.filter((a) => a === '-i')).toHaveLength(plan.inputs.length);
    expect(args).toContain(format === 'webm' ? 'libvpx-vp9' : 'libx264');
  });

  it('mixes every voice, whoever is on screen', () => {
    const plan = planComposition(req(layout), meeting(), []);
    expect(buildFilterGraph(plan.spec)).toContain('amix=inputs=5:duration=longest:normalize=0');
  });
});

describe('grid', () => {
  const plan = planComposition(req('grid'), meeting(), []);
  const graph = buildFilterGraph(plan.spec);
  const cells = gridCells(4, { x: 0, y: 0, w: 1280, h: 720 }).map((c) => inset(c));

  it('orders participants host first, then by arrival', () => {
    expect(plan.spec.participants.map((p) => p.participantId)).toEqual(['host', 'b', 'c', 'a']);
  });

  it('places each video at its offset, scaled into its tile', () => {
    expect(graph).toContain(`setpts='(PTS-STARTPTS)*1+(2.983333)/TB',trim=end=11.984333`); // half a frame early: nearest grid frame
    expect(graph).toContain(`[v3u0]${fitInto(cells[3]!, 'bilinear')},setsar=1[v3u0s]`);
    expect(graph).toContain(`[v3u0s]${centredOverlay(cells[3]!)}[`);
  });

  it('keeps a rejoining participant in the same place, with the drift correction', () => {
    expect(graph).toContain(`setpts='(PTS-STARTPTS)*0.97+(8.983333)/TB',trim=end=11.984333`);
    expect(graph.split(centredOverlay(cells[1]!)).length - 1).toBe(2);
  });

  it('shows an audio-only participant as a placeholder while present, without a plate', () => {
    expect(graph).toContain(`text=C:fontsize=`);
    expect(graph).toMatch(/text=C:[^,;]*enable='gte\(t,1\)\*lt\(t,9\)'/);
    expect(graph).not.toMatch(/text=C:[^,;]*box=1/);
  });

  it('shows name plates only while a video runs', () => {
    expect(graph).toMatch(/text=B:[^,;]*box=1[^,;]*enable='gte\(t,0\)\*lt\(t,6\)\+gte\(t,9\)\*lt\(t,12\)'/);
  });

  it('places audio sample-exactly with adelay', () => {
    expect(graph).toContain('adelay=delays=144000S:all=1'); // a at 3 s
    expect(graph).toContain('adelay=delays=48000S:all=1'); // c at 1 s
  });

  it('can leave the name plates out', () => {
    const g = buildFilterGraph(planComposition(req('grid', { namePlates: false }), meeting(), []).spec);
    expect(g).not.toContain('box=1');
    expect(g).toContain('text=C:'); // the audio-only placeholder keeps its name
  });

  it('tiles 16 participants', () => {
    const many = Array.from({ length: 16 }, (_, i) => seg(`p${i}`, 'video', i * 100, 5000));
    const p = planComposition(req('grid'), many, []);
    expect(p.spec.scene.slots).toHaveLength(16);
    checkGraph(buildFilterGraph(p.spec), 16);
  });
});

describe('host-led and host-only', () => {
  it('host-led puts the host on the stage and the others in a row', () => {
    const plan = planComposition(req('host-led'), meeting(), []);
    const [stage, ...row] = plan.spec.scene.slots;
    expect(stage!.participantId).toBe('host');
    expect(stage!.rect.h).toBeGreaterThan(500);
    expect(row.map((s) => s.participantId)).toEqual(['b', 'c', 'a']);
    expect(row.every((s) => s.rect.y >= 540)).toBe(true);
  });

  it('host-only decodes only the host video, full frame', () => {
    const plan = planComposition(req('host-only'), meeting(), []);
    expect(plan.inputs.filter((i) => i.kind === 'video').map((i) => i.participantId)).toEqual(['host']);
    expect(plan.spec.scene.slots).toEqual([{ participantId: 'host', rect: { x: 0, y: 0, w: 1280, h: 720 }, when: null, stage: true }]);
  });

  it('without a host role, the first to arrive leads', () => {
    const plan = planComposition(req('host-led'), [seg('late', 'video', 2000, 5000), seg('early', 'video', 0, 5000)], []);
    expect(plan.spec.scene.slots[0]!.participantId).toBe('early');
  });
});

describe('speaker', () => {
  const levels = (offsetMs: number, speech: [number, number][]): AudioLevels => ({
    version: 1, intervalMs: 100, offsetMs,
    levels: Array.from({ length: 120 - offsetMs / 100 }, (_, i) => (speech.some(([a, b]) => a <= offsetMs + i * 100 && offsetMs + i * 100 < b) ? -20 : -127)),
  });
  const segments = [
    seg('host', 'video', 0, 12_000, { role: 'host' }),
    seg('host', 'audio', 0, 12_000, { role: 'host', levels: levels(0, [[0, 4000]]) }),
    seg('a', 'video', 0, 12_000),
    seg('a', 'audio', 0, 12_000, { levels: levels(0, [[4000, 12_000]]) }),
  ];
  const plan = planComposition(req('speaker'), segments, []);
  const graph = buildFilterGraph(plan.spec);

  it('follows the active speaker from the audio levels', () => {
    expect(plan.speakers.map((s) => [s.participantId, s.start, s.end])).toEqual([['host', 0, 4000], ['a', 4000, 12_000]]);
  });

  it('puts the speaker on the stage only while they speak, everybody in the row', () => {
    const stage = inset(stageAndStrip(1280, 720).stage);
    expect(graph).toContain(`${centredOverlay(stage)}:enable='gte(t,0)*lt(t,4)'`);
    expect(graph).toContain(`${centredOverlay(stage)}:enable='gte(t,4)*lt(t,12)'`);
    // Scaled to stage size only around their turn (one frame of lead).
    expect(graph).toContain(`select='gte(t,3.9667)*lt(t,12)'`);
    expect(plan.spec.scene.slots.filter((s) => !s.stage)).toHaveLength(2);
    checkGraph(graph, plan.inputs.length);
  });
});

describe('edge cases', () => {
  it('a recording without video is still a video: canvas, placeholders and the mix', () => {
    const plan = planComposition(req('grid'), [seg('host', 'audio', 0, 12_000, { role: 'host' }), seg('a', 'audio', 500, 5000)], []);
    const graph = buildFilterGraph(plan.spec);
    expect(graph).not.toContain('overlay');
    expect(graph).toContain('text=HOST');
    checkGraph(graph, 2);
  });

  it('a recording without audio gets silence of the full duration', () => {
    const plan = planComposition(req('grid'), [seg('host', 'video', 0, 12_000, { role: 'host' })], []);
    expect(buildFilterGraph(plan.spec)).toContain('anullsrc=r=48000:cl=stereo,atrim=end=12[aout]');
  });

  it('skips a segment that starts after the recording ended', () => {
    const plan = planComposition(req('grid'), [seg('host', 'video', 0, 12_000, { role: 'host' }), seg('a', 'video', 12_500, 1000)], []);
    expect(plan.skipped).toEqual([{ file: '13500-r1-a-video-0.webm', reason: "starts at 12500 ms, after the recording's end (12000 ms)" }]);
    expect(plan.inputs).toHaveLength(1);
  });

  it('shows a participant whose only segment was unreadable as a placeholder', () => {
    const broken = seg('a', 'video', 2000, 5000).meta;
    const plan = planComposition(req('grid'), [seg('host', 'video', 0, 12_000, { role: 'host' })], [broken]);
    expect(plan.spec.participants.map((p) => p.participantId)).toEqual(['host', 'a']);
    expect(buildFilterGraph(plan.spec)).toMatch(/text=A:[^,;]*enable='gte\(t,2\)\*lt\(t,7\)'/);
  });

  it('uses a canvas clock fine enough for millisecond segment times', () => {
    expect(buildFilterGraph(planComposition(req('grid'), meeting(), []).spec)).toContain('settb=1/30000');
  });
});

describe('placement filters', () => {
  it('fit the video into its place keeping its aspect, centred per frame (resolution changes)', () => {
    const r = { x: 10, y: 20, w: 320, h: 180 };
    expect(fitInto(r, 'bilinear')).toBe('scale=320:180:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bilinear');
    expect(centredOverlay(r)).toBe(`overlay=x='10+trunc((320-overlay_w)/4)*2':y='20+trunc((180-overlay_h)/4)*2':eval=frame:eof_action=pass`);
  });
});

describe('timing filters', () => {
  const base = { index: 3, path: '/x', file: 'x', participantId: 'p', segmentIndex: 0, timeScale: 1 };
  it('video: rebased, scaled, moved to the offset, cut after the last frame', () => {
    expect(videoTiming({ ...base, kind: 'video', offsetMs: 1234.5, durationMs: 1000, timeScale: 1.0123 })).toBe(
      `setpts='(PTS-STARTPTS)*1.0123+(1.2345)/TB',trim=end=2.2355`,
    );
  });
  it('video at a frame rate: half an output frame earlier, so each frame lands on the grid frame nearest its time', () => {
    expect(videoTiming({ ...base, kind: 'video', offsetMs: 1000, durationMs: 1000, timeScale: 1 }, 25)).toBe(
      `setpts='(PTS-STARTPTS)*1+(0.98)/TB',trim=end=1.981`,
    );
    // A segment at the very start: its first frame is still shown from frame 0.
    expect(videoTiming({ ...base, kind: 'video', offsetMs: 0, durationMs: 500, timeScale: 1 }, 25)).toBe(
      `setpts='(PTS-STARTPTS)*1+(-0.02)/TB',trim=end=0.481`,
    );
  });
  it('audio from a sender whose sound card runs 100 ppm fast: cut at its media length, stretched to its clock, then placed', () => {
    const f = audioTiming({ ...base, kind: 'audio', offsetMs: 0, durationMs: 60_000 * 0.9999, timeScale: 0.9999 });
    expect(f).toBe(
      'aresample=48000:async=1:first_pts=0,atrim=end=60.02,aresample=192000,asetrate=192019,aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,adelay=delays=0S:all=1',
    );
  });
  it('audio: gaps filled, cut, delayed by whole samples', () => {
    const f = audioTiming({ ...base, kind: 'audio', offsetMs: 1000.5, durationMs: 2000 });
    expect(f).toBe(
      'aresample=48000:async=1:first_pts=0,atrim=end=2.02,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,adelay=delays=48024S:all=1',
    );
  });
  it('audio on its file clock: the first packet is the offset (a recorded track decodes from 6.5 ms, after the Opus pre-skip, and is not moved to 0)', () => {
    // ffmpeg moves an input by minus its container start; an ffmpeg-made Opus WebM starts at -6.5 ms.
    expect(audioTiming({ ...base, kind: 'audio', offsetMs: 0, durationMs: 1000, inputStartMs: -6.5 })).toMatch(/^asetpts=PTS-0\.0065\/TB,aresample=48000:async=1:first_pts=0,/);
    expect(audioTiming({ ...base, kind: 'audio', offsetMs: 0, durationMs: 1000, inputStartMs: 40 })).toMatch(/^asetpts=PTS\+0\.04\/TB,aresample/);
    expect(audioTiming({ ...base, kind: 'audio', offsetMs: 0, durationMs: 1000 })).not.toContain('asetpts');
  });
  it('the mixed audio moved later by the muxer correction, after it is cut to length', () => {
    expect(audioMix(['a0'], 2000, 6.5)).toMatch(/atrim=end=2,asetpts=PTS\+0\.0065\/TB\[aout\]$/);
    expect(audioMix([], 2000, 6.5)).toBe('anullsrc=r=48000:cl=stereo,atrim=end=2,asetpts=PTS+0.0065/TB[aout]');
    expect(audioMix(['a0'], 2000)).not.toContain('asetpts');
    // with a lead-in: its silence first, then the correction; without audio the silence is longer
    expect(audioMix(['a0'], 2000, 6.5, 10)).toMatch(/atrim=end=2,adelay=delays=480S:all=1,asetpts=PTS\+0\.0065\/TB\[aout\]$/);
    expect(audioMix([], 2000, 0, 10)).toBe('anullsrc=r=48000:cl=stereo,atrim=end=2.01[aout]');
  });
  it('mix: unity gain, fixed-gain limiter, exact length', () => {
    expect(audioMix(['a0', 'a1'], 5000)).toBe(
      '[a0][a1]amix=inputs=2:duration=longest:normalize=0:dropout_transition=0,alimiter=limit=0.89:attack=5:release=100:level=0:latency=1,apad=whole_dur=5,atrim=end=5[aout]',
    );
  });
});

describe('placement by Sender Reports', () => {
  const synced = (s: PlanSegment, scale: number): PlanSegment => ({
    ...s,
    meta: { ...s.meta, sync: { source: 'sender-reports', scale, senderToServerMs: 12.5, reports: [{ mediaMs: 0, senderMs: 1e12 }], rejectedReports: 0 } },
  });
  it('stretches a segment by its sender’s clock rate: audio and video alike, on the timeline and in the filters', () => {
    const plan = planComposition(req('grid'), [synced(seg('h', 'video', 40, 10_000, { role: 'host' }), 0.9999), synced(seg('h', 'audio', 20, 10_000, { role: 'host' }), 0.9999)], []);
    const [video, audio] = plan.inputs;
    expect(video).toMatchObject({ kind: 'video', offsetMs: 40, timeScale: 0.9999 });
    expect(video!.durationMs).toBeCloseTo(9999, 6);
    expect(audio).toMatchObject({ kind: 'audio', offsetMs: 20, timeScale: 0.9999 });
    const graph = buildFilterGraph(plan.spec);
    expect(graph).toContain(`[0:v]setpts='(PTS-STARTPTS)*0.9999+(0.023333)/TB'`);
    expect(graph).toContain('atrim=end=10.02,aresample=192000,asetrate=192019,aresample=48000');
  });
  it('places an older sidecar (no sync) and an arrival-placed one as before: scale 1', () => {
    const arrival = { ...seg('h', 'audio', 20, 10_000), meta: { ...seg('h', 'audio', 20, 10_000).meta, sync: { source: 'arrival' as const, scale: 1, senderToServerMs: null, reports: [], rejectedReports: 0 } } };
    const plan = planComposition(req('grid'), [seg('h', 'video', 0, 10_000), arrival], []);
    expect(plan.inputs.map((i) => i.timeScale)).toEqual([1, 1]);
    expect(buildFilterGraph(plan.spec)).not.toContain('asetrate');
  });
});

describe('the output frame grid’s phase', () => {
  it('puts the longest video segment’s frames on grid frames; other segments keep the nearest-frame rule', () => {
    // 30 fps: a frame every 33.333 ms; the longest segment starts 12.5 ms into a frame
    expect(gridPhaseOf([{ offsetMs: 1012.5, durationMs: 9000 }, { offsetMs: 3005, durationMs: 2000 }], 30)).toBeCloseTo(12.5, 3);
    expect(gridPhaseOf([{ offsetMs: 1000, durationMs: 9000 }], 30)).toBe(0); // 30 frames in: on the grid
    expect(gridPhaseOf([{ offsetMs: 1020, durationMs: 9000 }], 30)).toBeCloseTo(20, 3);
    expect(gridPhaseOf([{ offsetMs: 2000, durationMs: 5000 }], 25)).toBe(0); // on the grid already
    expect(gridPhaseOf([], 30)).toBe(0);
    // On the graph's clock (1/30000 s, 1/30 ms): 1016.6 ms is 30498 ticks, 498 into a frame.
    expect(gridPhaseOf([{ offsetMs: 1016.6, durationMs: 9000 }], 30)).toBe(16.6);
    expect(gridPhaseOf([{ offsetMs: 50, durationMs: 9000 }], 30)).toBeCloseTo(1000 / 60, 9); // exactly half a frame
    // the phase is always inside one frame
    for (const off of [0, 1, 16.6, 33.3, 33.334, 99.99, 123_456.789]) {
      const p = gridPhaseOf([{ offsetMs: off, durationMs: 1 }], 30);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(1000 / 30);
    }
  });

  it('starts the canvas a frame early at the phase and moves picture and sound on by the rest of the frame (whole frames in the file); a phase of 0 leaves the graph as it was', () => {
    const segs = [seg('host', 'video', 1012.5, 9000, { role: 'host' }), seg('host', 'audio', 1000, 9000, { role: 'host' })];
    const plan = planComposition(req('grid'), segs, []);
    expect(plan.spec.gridPhaseMs).toBeCloseTo(12.5, 3);
    expect(leadInOf(plan.spec)).toBeCloseTo(1000 / 30 - 12.5, 9);
    const graph = buildFilterGraph(plan.spec);
    // 12.5 ms is 375 ticks of 1/30000 s: canvas frames at k·1000 − 625 ticks, then + 625 after the overlays.
    expect(graph.split(';')[0]).toContain('settb=1/30000,setpts=PTS-625,trim=end=12');
    expect(graph).toMatch(/setpts=PTS\+625\[vout\]/);
    // 20.833 ms of silence in front: 1000 samples at 48 kHz
    expect(graph).toMatch(/atrim=end=12,adelay=delays=1000S:all=1\[aout\]$/);
    const zeroSpec = { ...plan.spec, gridPhaseMs: 0 };
    expect(leadInOf(zeroSpec)).toBe(0);
    const zero = buildFilterGraph(zeroSpec);
    expect(zero.split(';')[0]).toContain('settb=1/30000,trim=end=12');
    expect(zero).not.toContain('setpts=PTS+');
    expect(zero).toMatch(/apad=whole_dur=12,atrim=end=12\[aout\]$/);
  });
});
