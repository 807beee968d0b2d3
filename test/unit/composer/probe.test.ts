import { describe, expect, it } from 'vitest';
import { checkOutput } from '../../../src/composer/composer.js';
import { assessSegment, packetScanArgs, parsePacketTimes, parseProbe, type ProbeInfo } from '../../../src/composer/probe.js';

const video: ProbeInfo = { formatName: 'matroska,webm', formatDurationMs: 10_033, streams: [{ codecType: 'video', codecName: 'vp8', width: 640, height: 360 }] };
const packets = (firstMs: number, lastMs: number, count = 300) => ({ count, firstMs, lastMs });

describe('ffprobe parsing', () => {
  it('reads format and streams', () => {
    const json = JSON.stringify({
      programs: [],
      streams: [{ index: 0, codec_name: 'vp8', codec_type: 'video', width: 320, height: 240 }, { index: 1, codec_type: 'data' }],
      format: { format_name: 'matroska,webm', duration: '86400.000000', start_time: '-0.006500' },
    });
    expect(parseProbe(json)).toEqual({
      formatName: 'matroska,webm',
      formatDurationMs: 86_400_000,
      formatStartMs: -6.5,
      streams: [{ codecType: 'video', codecName: 'vp8', width: 320, height: 240 }, { codecType: 'data', codecName: null }],
    });
  });

  it('reads packet times, ignoring N/A and blank lines', () => {
    expect(parsePacketTimes('0.000000\n0.033000,\nN/A\n\n9.967000\n')).toEqual({ count: 4, firstMs: 0, lastMs: 9967 });
    expect(parsePacketTimes('')).toEqual({ count: 0, firstMs: null, lastMs: null });
  });

  it('scans only the first stream of the kind', () => {
    expect(packetScanArgs('/x.webm', 'audio')).toContain('a:0');
    expect(packetScanArgs('/x.webm', 'video')).toContain('v:0');
  });
});

describe('assessSegment', () => {
  it('skips a file without a stream of its kind', () => {
    expect(assessSegment({ kind: 'audio', durationMs: 1000 }, video, packets(0, 1000))).toEqual({ ok: false, reason: 'no audio stream in the file' });
  });

  it('skips a header-only file (no packets: no keyframe ever arrived)', () => {
    expect(assessSegment({ kind: 'video', durationMs: null }, video, { count: 0, firstMs: null, lastMs: null })).toEqual({
      ok: false,
      reason: 'no video packets (header-only file)',
    });
  });

  it('maps drifting video timestamps onto the sidecar duration', () => {
    const a = assessSegment({ kind: 'video', durationMs: 10_000 }, video, packets(0, 10_300));
    expect(a).toMatchObject({ ok: true, durationMs: 10_000, width: 640, height: 360 });
    // The sidecar's 10 s include the last frame (one mean step of 10,300 / 299 ms in the file).
    expect((a as { timeScale: number }).timeScale).toBeCloseTo((10_000 - 10_300 / 299) / 10_300, 9);
  });

  it('leaves exact timestamps alone: the sidecar duration includes the last frame, the packet span does not', () => {
    // 13 s at 30 fps: 390 frames, first at 0, last at 12,966.7; the sidecar says 13,000 (to the end of the last).
    const a = assessSegment({ kind: 'video', durationMs: 13_000 }, video, { count: 390, firstMs: 0, lastMs: 12_966.667 });
    expect(Math.abs((a as { timeScale: number }).timeScale - 1)).toBeLessThan(1e-6);
  });

  it('times a crash-left segment (no sidecar duration, 24 h header) by its packets', () => {
    const crashed = { ...video, formatDurationMs: 86_400_000 };
    expect(assessSegment({ kind: 'video', durationMs: null }, crashed, packets(0, 8967))).toMatchObject({ ok: true, durationMs: 8967, timeScale: 1 });
  });

  it('does not stretch when file and sidecar disagree wildly, but keeps the sidecar duration', () => {
    expect(assessSegment({ kind: 'video', durationMs: 5000 }, video, packets(0, 10_000))).toMatchObject({ ok: true, durationMs: 5000, timeScale: 1 });
  });

  it('never rescales audio (its timestamps are exact)', () => {
    const audio: ProbeInfo = { formatName: 'webm', formatDurationMs: 5000, streams: [{ codecType: 'audio', codecName: 'opus' }] };
    expect(assessSegment({ kind: 'audio', durationMs: 4980 }, audio, packets(-7, 4973))).toMatchObject({ ok: true, durationMs: 4980, timeScale: 1 });
  });
});

describe('checkOutput', () => {
  const out = (v: string, a: string | null, durationMs: number): ProbeInfo => ({
    formatName: 'x',
    formatDurationMs: durationMs,
    streams: [{ codecType: 'video', codecName: v }, ...(a ? [{ codecType: 'audio', codecName: a }] : [])],
  });
  it('accepts the right codecs and duration within 0.1 s', () => {
    expect(checkOutput(out('vp9', 'opus', 12_008), 'webm', 12_000)).toBeNull();
    expect(checkOutput(out('h264', 'aac', 11_950), 'mp4', 12_000)).toBeNull();
  });
  it('rejects a wrong duration, codec or a missing stream', () => {
    expect(checkOutput(out('vp9', 'opus', 11_000), 'webm', 12_000)).toMatch(/lasts 11000 ms, expected 12000/);
    expect(checkOutput(out('vp8', 'opus', 12_000), 'webm', 12_000)).toMatch(/vp9/);
    expect(checkOutput(out('h264', null, 12_000), 'mp4', 12_000)).toMatch(/aac/);
  });
});
