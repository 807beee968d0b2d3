import { describe, expect, it } from 'vitest';
import { createLevelAccumulator, MAX_LEVELS_MEDIA_MS } from '../../../src/recorder/audio-levels.js';

describe('level windows under crafted RTP timestamps', () => {
  it('ignores a level beyond the bound: the windows and the built sidecar stay bounded', () => {
    const a = createLevelAccumulator(200);
    a.add(0, 20);
    // A jump of 2^31 ticks at 48 kHz, again and again: 12.4 h each.
    for (let k = 1; k <= 100; k++) a.add((k * 2 ** 31 * 1000) / 48000, 20);
    const maxWindows = MAX_LEVELS_MEDIA_MS / 200 + 1;
    expect(a.capacity).toBeLessThanOrEqual(maxWindows);
    const built = a.build(0, 0, (100 * 2 ** 31 * 1000) / 48000);
    expect(built.levels.length).toBe(maxWindows);
    expect(built.levels[0]).toBe(-20);
  });

  it('a jump within the bound grows to that window only', () => {
    const a = createLevelAccumulator(200, 10_000);
    a.add(9_999, 30); // window 49
    a.add(10_100, 30); // window 50: the last one of 10 s
    a.add(10_200, 30); // beyond
    a.add(1e12, 30);
    expect(a.capacity).toBe(51);
    expect(a.build(0, 0, 1e12).levels).toHaveLength(51);
    expect(a.count).toBe(2);
  });
});
