import { describe, expect, it } from 'vitest';
import { createProgressParser } from '../../../src/composer/progress.js';
import type { ComposeProgress } from '../../../src/composer/types.js';

const block = (outUs: string, speed: string, state = 'continue') =>
  `frame=10\nfps=30.0\nout_time_us=${outUs}\nout_time_ms=${outUs}\nout_time=00:00:01.000000\nspeed=${speed}\nprogress=${state}\n`;

describe('progress parser', () => {
  it('computes percent from out_time_us against the duration, and the speed', () => {
    const seen: ComposeProgress[] = [];
    const p = createProgressParser(10_000, (x) => seen.push(x), { now: () => 0 });
    p.push(block('2500000', '4.5x'));
    expect(seen).toEqual([{ percent: 25, speed: 4.5, outTimeMs: 2500 }]);
  });

  it('handles blocks split anywhere and N/A values', () => {
    const seen: ComposeProgress[] = [];
    const p = createProgressParser(10_000, (x) => seen.push(x), { now: () => 0 });
    const text = block('N/A', 'N/A');
    for (const ch of text) p.push(ch);
    expect(seen).toEqual([{ percent: 0, speed: null, outTimeMs: 0 }]);
  });

  it('emits at most every minIntervalMs, and always the end', () => {
    let now = 0;
    const seen: ComposeProgress[] = [];
    const p = createProgressParser(10_000, (x) => seen.push(x), { now: () => now, minIntervalMs: 500 });
    for (let i = 1; i <= 20; i++) {
      now += 100;
      p.push(block(String(i * 400_000), '4x'));
    }
    expect(seen).toHaveLength(4); // at 100, 600, 1100, 1600 ms
    p.push(block('9990000', '4x', 'end'));
    expect(seen[seen.length - 1]).toEqual({ percent: 100, speed: 4, outTimeMs: 9990 });
  });

  it('clamps to 0…100', () => {
    const seen: ComposeProgress[] = [];
    const p = createProgressParser(1000, (x) => seen.push(x), { now: () => 0, minIntervalMs: 0 });
    p.push(block('-5000', '1x'));
    p.push(block('2000000', '1x'));
    expect(seen.map((s) => s.percent)).toEqual([0, 100]);
  });
});
