import { describe, expect, it } from 'vitest';
import { closeGaps, speakerTimeline, type SpeakerInterval, type SpeakerTrack } from '../../../src/composer/speaker.js';

/** An audio track whose levels are `db` inside the speech windows (recording time) and silence elsewhere. */
function track(participantId: string, speech: [number, number, number?][], o: { offsetMs?: number; durationMs?: number; intervalMs?: number } = {}): SpeakerTrack {
  const offsetMs = o.offsetMs ?? 0;
  const intervalMs = o.intervalMs ?? 100;
  const n = Math.floor((o.durationMs ?? 20_000) / intervalMs);
  const levels = Array.from({ length: n }, (_, i) => {
    const t = offsetMs + i * intervalMs;
    const w = speech.find(([a, b]) => a <= t && t < b);
    return w ? (w[2] ?? -20) : -127;
  });
  return { participantId, levels: { version: 1, intervalMs, offsetMs, levels } };
}

const who = (timeline: SpeakerInterval[]) => timeline.map((i) => [i.participantId, i.start, i.end]);

function expectContiguous(timeline: SpeakerInterval[], durationMs: number) {
  expect(timeline[0]!.start).toBe(0);
  expect(timeline[timeline.length - 1]!.end).toBe(durationMs);
  for (let i = 1; i < timeline.length; i++) {
    expect(timeline[i]!.start).toBe(timeline[i - 1]!.end);
    expect(timeline[i]!.participantId).not.toBe(timeline[i - 1]!.participantId);
  }
}

describe('speakerTimeline', () => {
  it('shows the fallback (host) when nobody speaks', () => {
    const t = speakerTimeline([track('host', []), track('a', [])], { durationMs: 10_000, fallback: 'host' });
    expect(who(t)).toEqual([['host', 0, 10_000]]);
  });

  it('switches when the other speaker takes over, back-dated to when they started', () => {
    const t = speakerTimeline([track('host', [[0, 5000]]), track('a', [[5000, 10_000]])], { durationMs: 10_000, fallback: 'host' });
    expect(who(t)).toEqual([['host', 0, 5000], ['a', 5000, 10_000]]);
  });

  it('ignores a short interjection (shorter than switchAfterMs)', () => {
    const t = speakerTimeline([track('host', [[0, 10_000]]), track('b', [[4000, 4300, -5]])], { durationMs: 10_000, fallback: 'host' });
    expect(who(t)).toEqual([['host', 0, 10_000]]);
  });

  it('keeps a speaker on stage for the minimum hold time', () => {
    const t = speakerTimeline([track('host', [[0, 300]]), track('a', [[500, 10_000]])], { durationMs: 10_000, fallback: 'host', minHoldMs: 2000 });
    expect(who(t)).toEqual([['host', 0, 2000], ['a', 2000, 10_000]]);
  });

  it('a fallback who never spoke holds nothing: the first speaker takes the stage as they start', () => {
    const t = speakerTimeline([track('host', []), track('a', [[500, 10_000]])], { durationMs: 10_000, fallback: 'host', minHoldMs: 2000 });
    expect(who(t)).toEqual([['host', 0, 500], ['a', 500, 10_000]]);
  });

  it('does not flicker when two people alternate quickly', () => {
    const a: [number, number][] = [];
    const b: [number, number][] = [];
    for (let s = 0; s < 30_000; s += 1400) {
      a.push([s, s + 700]);
      b.push([s + 700, s + 1400]);
    }
    const durationMs = 30_000;
    const t = speakerTimeline([track('a', a, { durationMs }), track('b', b, { durationMs })], { durationMs, fallback: 'a', minHoldMs: 2000 });
    expectContiguous(t, durationMs);
    for (const i of t.slice(0, -1)) expect(i.end - i.start).toBeGreaterThanOrEqual(2000);
    expect(t.length).toBeLessThanOrEqual(16);
  });

  it('needs a clear margin to take the stage from someone still talking', () => {
    const close = speakerTimeline([track('host', [[0, 10_000, -20]]), track('b', [[2000, 10_000, -17]])], { durationMs: 10_000, fallback: 'host' });
    expect(who(close)).toEqual([['host', 0, 10_000]]);
    const louder = speakerTimeline([track('host', [[0, 10_000, -30]]), track('b', [[3000, 10_000, -15]])], { durationMs: 10_000, fallback: 'host' });
    expect(who(louder)).toEqual([['host', 0, 3000], ['b', 3000, 10_000]]);
  });

  it('keeps the last speaker through silence', () => {
    const t = speakerTimeline([track('host', []), track('a', [[2000, 4000]])], { durationMs: 10_000, fallback: 'host' });
    expect(who(t)).toEqual([['host', 0, 2000], ['a', 2000, 10_000]]);
  });

  it('bridges the pauses between words', () => {
    const words: [number, number][] = [];
    for (let s = 3000; s < 8000; s += 500) words.push([s, s + 300]); // 200 ms gaps
    const t = speakerTimeline([track('host', [[0, 3000]]), track('a', words)], { durationMs: 10_000, fallback: 'host' });
    expect(who(t)).toEqual([['host', 0, 3000], ['a', 3000, 10_000]]);
  });

  it('replaces a speaker who left at once, even within the hold time', () => {
    const presence = new Map([
      ['host', [{ start: 0, end: 10_000 }]],
      ['a', [{ start: 0, end: 3000 }]],
    ]);
    const t = speakerTimeline([track('host', []), track('a', [[0, 3000]])], { durationMs: 10_000, fallback: 'a', presence, minHoldMs: 5000 });
    expect(who(t)).toEqual([['a', 0, 3000], ['host', 3000, 10_000]]);
  });

  it('closes short gaps only', () => {
    expect(closeGaps([-20, -127, -127, -20, -127, -127, -127, -127, -127, -20], 1)).toEqual([-20, -20, -20, -20, -127, -127, -127, -127, -127, -20]);
  });

  it('reads levels at their offsets and intervals', () => {
    const t = speakerTimeline(
      [track('host', [[0, 2000]], { intervalMs: 50 }), track('late', [[6000, 9000]], { offsetMs: 5000, durationMs: 5000, intervalMs: 100 })],
      { durationMs: 10_000, fallback: 'host' },
    );
    expect(who(t)).toEqual([['host', 0, 6000], ['late', 6000, 10_000]]);
  });

  it('always covers the whole recording with adjacent intervals', () => {
    const t = speakerTimeline(
      [track('a', [[0, 1000], [5000, 7000]]), track('b', [[1200, 4000], [7100, 9000]]), track('c', [[3000, 3500, -3]])],
      { durationMs: 9500, fallback: 'a' },
    );
    expectContiguous(t, 9500);
  });
});
