import { describe, expect, it } from 'vitest';
import type { SegmentMeta } from '../../../events/segment.js';
import { audioCodecArgs, videoCodecArgs } from '../../../src/composer/live/session.js';
import { emptyIndex, parseInto, sliceRanges, type WebmIndex } from '../../../src/composer/live/webm-index.js';
import { extentOf, planWindow, windowAudioGraph, windowReady, windowSlices, type LiveSegment } from '../../../src/composer/live/window.js';

// --- a tiny EBML writer: enough WebM for the indexer ---
const vint = (n: number) => Buffer.from([0x08, 0, 0, 0, 0, 0, 0, 0].map((_, i) => (i === 0 ? 0x01 : 0)).map((b, i) => (i === 0 ? b : Math.floor(n / 256 ** (7 - i)) % 256)));
const unknown = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const el = (id: number[], body: Buffer) => Buffer.concat([Buffer.from(id), vint(body.length), body]);
const block = (rel: number, key: boolean) => el([0xa3], Buffer.from([0x81, (rel >> 8) & 0xff, rel & 0xff, key ? 0x80 : 0, 1, 2, 3]));
const cluster = (timeMs: number, blocks: [number, boolean][]) =>
  Buffer.concat([Buffer.from([0x1f, 0x43, 0xb6, 0x75]), unknown, el([0xe7], Buffer.from([(timeMs >> 8) & 0xff, timeMs & 0xff])), ...blocks.map(([r, k]) => block(r, k))]);
const header = Buffer.concat([el([0x1a, 0x45, 0xdf, 0xa3], Buffer.from([0x42, 0x82, 0x84, 0x77, 0x65, 0x62, 0x6d])), Buffer.from([0x18, 0x53, 0x80, 0x67]), unknown]);

function file(): Buffer {
  // A video track as werift writes it: a cluster per keyframe (every second), frames every 100 ms.
  const cs = [0, 1000, 2000, 3000].map((t) => cluster(t, Array.from({ length: 10 }, (_, i) => [i * 100, i === 0] as [number, boolean])));
  return Buffer.concat([header, ...cs]);
}

describe('the cluster index of a growing WebM', () => {
  it('indexes every cluster, its time and keyframe, and the newest whole block', () => {
    const idx = emptyIndex();
    parseInto(idx, file(), 0);
    expect(idx.headerEnd).toBe(header.length);
    expect(idx.clusters.map((c) => [c.timeMs, c.keyframe])).toEqual([[0, true], [1000, true], [2000, true], [3000, true]]);
    expect([idx.firstBlockMs, idx.lastBlockMs]).toEqual([0, 3900]);
  });

  it('read in pieces (the file growing, a block cut in the middle), it ends up the same, never counting a partial block', () => {
    const whole = file();
    const idx: WebmIndex = emptyIndex();
    const cut = whole.length - 5; // inside the last block
    parseInto(idx, whole.subarray(0, cut), 0);
    expect(idx.lastBlockMs).toBe(3800);
    const from = idx.resumeAt;
    parseInto(idx, whole.subarray(from), from);
    expect(idx.clusters.length).toBe(4);
    expect(idx.lastBlockMs).toBe(3900);
  });

  it('a slice starts on the keyframe cluster at or before the window and ends after it', () => {
    const idx = emptyIndex();
    parseInto(idx, file(), 0);
    const s = sliceRanges(idx, 1500, 2500)!;
    expect(s.startMs).toBe(1000);
    expect(s.ranges[0]).toEqual([0, header.length]);
    expect(s.ranges[1]![0]).toBe(idx.clusters[1]!.offset);
    expect(s.ranges[1]![1]).toBe(idx.clusters[3]!.offset);
  });
});

const meta = (o: Partial<SegmentMeta>): SegmentMeta => ({
  version: 1, meetingId: 'm', recordingId: 'r', participantId: 'p', participantName: 'P', role: 'participant', kind: 'video', trackId: 't',
  codec: 'vp8', file: 'f.webm', segmentIndex: 0, offsetMs: 0, durationMs: null, startedAt: 0, endedAt: null, finalized: false, packets: 0, bytes: 0,
  levelsFile: null, ...o,
});
const seg = (o: Partial<SegmentMeta>, lastBlockMs: number | null): LiveSegment => {
  const index = emptyIndex();
  if (lastBlockMs !== null) {
    index.firstBlockMs = 0;
    index.lastBlockMs = lastBlockMs;
  }
  return { meta: meta(o), path: `/x/${o.file ?? 'f.webm'}`, index };
};

describe('when a window is ready', () => {
  it('once every growing track reaches its end; finished and later tracks do not hold it back', () => {
    const growing = seg({ offsetMs: 1000 }, 8_900);
    expect(extentOf(growing)).toEqual({ start: 1000, end: 9_934 });
    expect(windowReady([growing], 10_000)).toBe(false);
    expect(windowReady([seg({ offsetMs: 1000 }, 9_000)], 10_000)).toBe(true);
    expect(windowReady([seg({ offsetMs: 0, finalized: true, durationMs: 3000 }, null), seg({ offsetMs: 12_000 }, null)], 10_000)).toBe(true);
    expect(windowReady([seg({ offsetMs: 5_000 }, null)], 10_000)).toBe(false); // started, nothing on disk yet
  });

  it('a window needs the segments that overlap it, from their own time', () => {
    const a = seg({ offsetMs: 2000, file: 'a.webm' }, 30_000);
    const b = seg({ offsetMs: 0, finalized: true, durationMs: 5000, file: 'b.webm' }, null);
    const s = windowSlices([a, b], 10_000, 20_000);
    expect(s.map((x) => [x.segment.meta.file, x.fromMs])).toEqual([['a.webm', 8000]]);
  });
});

describe('the window plan', () => {
  it('moves a segment that began earlier to a negative offset, gives everybody seen so far a place, and cuts audio sample-exactly', () => {
    const host = seg({ participantId: 'h', role: 'host', offsetMs: 0, file: 'h.webm' }, 30_000);
    const late = seg({ participantId: 'l', offsetMs: 12_000, file: 'l.webm' }, 18_000);
    const left = seg({ participantId: 'x', offsetMs: 0, finalized: true, durationMs: 4_000, file: 'x.webm' }, null);
    const slices = [host, late].map((s) => ({ spec: windowSlices([s], 10_000, 20_000)[0]!, path: s.path, startMs: s === host ? 9_000 : 0 }));
    const w = planWindow({ startMs: 10_000, endMs: 20_000, layout: 'grid', width: 1280, height: 720, fps: 30, namePlates: true, fontFile: '/f.ttf' }, slices, [host, late, left]);
    expect(w.plan.spec.participants.map((p) => p.participantId)).toEqual(['h', 'x', 'l']);
    expect(w.plan.spec.scene.slots.length).toBe(3);
    // placed half an output frame early (1/60 s at 30 fps), so each frame lands on its nearest output frame
    expect(w.graph).toContain("setpts='(PTS-STARTPTS)*1+(-1.016667)/TB'");
    expect(w.graph).toContain("+(1.983333)/TB'");
    expect(w.graph).toContain('[vout]');
    expect(w.graph).toContain('[aout]');
    expect(w.graph).not.toContain(':a]asetpts=PTS-STARTPTS,aresample=48000:async=1:first_pts=0,atrim=end='); // the post-stop audio chains are replaced
  });

  it('audio: a slice from before the window is cut at its start, a later one delayed, both in whole samples, the mix exactly the window long', () => {
    const g = windowAudioGraph([{ index: 0, offsetMs: -1500, durationMs: 20_000 }, { index: 1, offsetMs: 250, durationMs: 1000 }], 10_000);
    expect(g).toContain('atrim=start_sample=72000');
    expect(g).toContain('adelay=delays=12000S:all=1');
    expect(g).toMatch(/atrim=end_sample=480000\[aout\]$/);
  });

  it('uses the post-stop encoder settings, split into video and audio', () => {
    const v = videoCodecArgs('webm', { fps: 30, threads: 2 });
    expect(v).toContain('libvpx-vp9');
    expect(v).not.toContain('-c:a');
    expect(audioCodecArgs('webm', { fps: 30, threads: 2 })).toEqual(['-c:a', 'libopus', '-b:a', '96k', '-ar', '48000']);
    expect(audioCodecArgs('mp4', { fps: 30, threads: 2 })).toEqual(['-c:a', 'aac', '-b:a', '128k', '-ar', '48000']);
  });
});
