import { describe, expect, it } from 'vitest';
import { createRtpClock } from '../../../src/recorder/rtp-stats.js';
import {
  createReportLine,
  createSenderClock,
  fitLine,
  isCoarseNtp,
  ntpToUnixMs,
  predict,
  thinPoints,
  unixMsToNtp,
} from '../../../src/recorder/sender-clock.js';

const U32 = 0x1_0000_0000;
const T0 = Date.UTC(2026, 11, 2, 2, 0, 0); // sender wall clock at its first packet

/**
 * A sender whose media clock ticks `ppm` fast against its own wall clock (NTP):
 * the RTP timestamp it stamps at sender time t (ms from T0), wrapped to 32 bits.
 */
const rtpAt = (base: number, clockRate: number, ppm: number) => (tMs: number) =>
  Math.round(base + (tMs * clockRate * (1 + ppm / 1e6)) / 1000) % U32;

/** Feeds a track's reports every second for `seconds`, as the recorder does (mediaMs on the packets' own line). */
function track(clockRate: number, base: number, ppm: number, seconds: number) {
  const stamp = rtpAt(base, clockRate, ppm);
  const clock = createRtpClock(clockRate);
  clock.toMs(stamp(0)); // first packet sets the base
  const line = createReportLine();
  for (let s = 1; s <= seconds; s++) {
    const ts = stamp(s * 1000);
    const mediaMs = clock.exactMs(ts)!;
    expect(line.add({ mediaMs, senderMs: ntpToUnixMs(unixMsToNtp(T0 + s * 1000)) })).toBe('accepted');
  }
  return { stamp, clock, line };
}

describe('NTP timestamps', () => {
  it('converts 64-bit NTP to Unix ms and back to within a microsecond', () => {
    for (const ms of [T0, T0 + 0.5, T0 + 999.999, Date.UTC(2036, 0, 1)]) {
      expect(Math.abs(ntpToUnixMs(unixMsToNtp(ms)) - ms)).toBeLessThan(0.001);
    }
    // 1 Jan 1970 is NTP second 2,208,988,800; half a second is fraction 2^31.
    expect(ntpToUnixMs((2_208_988_800n << 32n) | 0x8000_0000n)).toBe(500);
  });

  it("flags werift's whole-second NTP (the fraction's decimal digits as an integer), not a real clock's", () => {
    const seconds = 3_973_456_789n;
    expect(isCoarseNtp((seconds << 32n) | 123_456n)).toBe(true); // werift: ".123456" written as 123456
    expect(isCoarseNtp((seconds << 32n) | 9_999_999n)).toBe(true);
    expect(isCoarseNtp(unixMsToNtp(T0 + 123.456))).toBe(false);
  });
});

describe('a track’s report line', () => {
  it('maps a 90 kHz clock across the 32-bit wrap without a jump', () => {
    // Wraps after about 1.2 s of media.
    const { stamp, clock, line } = track(90_000, U32 - 100_000, 0, 30);
    const later = stamp(45_000); // 45 s of media, long after the wrap
    expect(later).toBeLessThan(U32 / 2);
    expect(Math.abs(predict(line.line!, clock.exactMs(later)!) - (T0 + 45_000))).toBeLessThan(0.05);
  });

  it('maps a 48 kHz clock that runs 100 ppm fast: the slope is its rate, extrapolated half an hour within a millisecond', () => {
    const { stamp, clock, line } = track(48_000, 4_000_000_000, 100, 60);
    expect(line.line!.slope).toBeCloseTo(1 / 1.0001, 7);
    const half = stamp(30 * 60_000);
    const err = predict(line.line!, clock.exactMs(half)!) - (T0 + 30 * 60_000);
    expect(Math.abs(err)).toBeLessThan(1);
    // Nominal-rate placement would be 180 ms late by then; the reports are what removes it.
    expect(clock.exactMs(half)! - 30 * 60_000).toBeGreaterThan(179);
  });

  it('holds the slope at 1 until the reports span 5 s (a rate from two close reports is mostly jitter)', () => {
    const l = createReportLine();
    l.add({ mediaMs: 0, senderMs: T0 });
    l.add({ mediaMs: 1000, senderMs: T0 + 1003 });
    expect(l.line!.slope).toBe(1);
    expect(l.line!.interceptMs).toBeCloseTo(T0 + 1.5, 6);
  });

  it('keeps the slope at 1 when the reports’ jitter explains it (three reports over 10 s, ±4 ms)', () => {
    const pts = [
      { mediaMs: 0, senderMs: T0 },
      { mediaMs: 5000, senderMs: T0 + 5004 },
      { mediaMs: 10_000, senderMs: T0 + 10_008 },
    ];
    expect(fitLine(pts)!.slope).toBe(1);
    // The same 800 ppm over 100 reports in 100 s is a real rate.
    const many = Array.from({ length: 100 }, (_, i) => ({ mediaMs: i * 1000, senderMs: T0 + i * 1000 * 1.0008 }));
    expect(fitLine(many)!.slope).toBeCloseTo(1.0008, 7);
  });

  it('rejects a report off the line, and after three in a row starts again from the newest', () => {
    const l = createReportLine();
    for (let s = 0; s < 5; s++) l.add({ mediaMs: s * 1000, senderMs: T0 + s * 1000 });
    expect(l.add({ mediaMs: 5000, senderMs: T0 + 5000 + 400 })).toBe('rejected');
    expect(l.add({ mediaMs: 6000, senderMs: T0 + 6000 })).toBe('accepted'); // a single bad one changes nothing
    expect(predict(l.line!, 7000)).toBeCloseTo(T0 + 7000, 6);
    // The sender's clock jumped by 2 s: three contradicting reports, then the new clock holds.
    expect(l.add({ mediaMs: 7000, senderMs: T0 + 9000 })).toBe('rejected');
    expect(l.add({ mediaMs: 8000, senderMs: T0 + 10_000 })).toBe('rejected');
    expect(l.add({ mediaMs: 9000, senderMs: T0 + 11_000 })).toBe('reset');
    expect(l.add({ mediaMs: 10_000, senderMs: T0 + 12_000 })).toBe('accepted');
    expect(predict(l.line!, 11_000)).toBeCloseTo(T0 + 13_000, 6);
    expect(l.rejected).toBe(4);
    expect(l.resets).toBe(1);
  });

  it('fits through jittery reports: ±5 ms of report noise leaves the line within 2 ms over 30 minutes', () => {
    let seed = 7;
    const noise = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31 - 0.5) * 10;
    const points = Array.from({ length: 1800 }, (_, s) => ({ mediaMs: s * 1000 * 1.0001, senderMs: T0 + s * 1000 + noise() }));
    const l = fitLine(points)!;
    expect(Math.abs(predict(l, 1800 * 1000 * 1.0001) - (T0 + 1_800_000))).toBeLessThan(2);
  });

  it('thins reports to a bounded list that keeps the first and the last', () => {
    const pts = Array.from({ length: 1000 }, (_, i) => i);
    const t = thinPoints(pts, 64);
    expect(t).toHaveLength(64);
    expect(t[0]).toBe(0);
    expect(t.at(-1)).toBe(999);
    expect(thinPoints([1, 2, 3], 64)).toEqual([1, 2, 3]);
  });
});

describe('a sender’s clock against the server’s', () => {
  it('is fixed by the first estimate and kept', () => {
    const c = createSenderClock();
    expect(c.offsetMs).toBeNull();
    expect(c.fix(-3_600_000 + 42)).toBe(-3_600_000 + 42);
    expect(c.fix(-3_600_000 + 80)).toBe(-3_600_000 + 42);
    expect(createSenderClock(5).fix(9)).toBe(5);
  });

  it('puts audio and video of one sender in sync whatever their RTP bases and arrival delays', () => {
    // Sender clock 1 h behind the server; video arrives 40 ms after capture, audio 15 ms.
    const serverOf = (senderMs: number) => senderMs + 3_600_000;
    const clock = createSenderClock();
    const tracks = [
      { rate: 90_000, base: 1_234_567, delay: 40 },
      { rate: 48_000, base: U32 - 48_000, delay: 15 },
    ].map(({ rate, base, delay }) => {
      const stamp = rtpAt(base, rate, 0);
      const rtp = createRtpClock(rate);
      let minLag = Infinity;
      for (let t = 0; t <= 2000; t += 20) {
        const ts = stamp(t);
        rtp.toMs(ts);
        minLag = Math.min(minLag, serverOf(T0 + t) + delay - rtp.exactMs(ts)!);
      }
      const line = createReportLine();
      line.add({ mediaMs: rtp.exactMs(stamp(1000))!, senderMs: T0 + 1000 });
      clock.fix(minLag - line.line!.interceptMs);
      return { stamp, rtp, line };
    });
    // The same capture instant (sender time T0 + 1.5 s) lands at the same server time on both tracks.
    const at = tracks.map((t) => predict(t.line.line!, t.rtp.exactMs(t.stamp(1500))!) + clock.offsetMs!);
    expect(Math.abs(at[0]! - at[1]!)).toBeLessThan(0.05);
    // …which is the capture instant on the server's clock plus the first track's delay (the offset is fixed once).
    expect(at[0]! - serverOf(T0 + 1500)).toBeCloseTo(40, 3);
  });
});
