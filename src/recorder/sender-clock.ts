/**
 * Lip sync from RTCP Sender Reports, pure. Each report ties one RTP timestamp
 * of a track to the sender's wall clock (NTP); a sender's audio and video share
 * that clock, so placing every track by its reports puts them where the
 * sender captured them, which is what a receiving browser does.
 *
 * - a track's reports are points (mediaMs, senderMs): mediaMs is the report's
 *   RTP timestamp on the track's own media line (nominal clock rate, ms from
 *   the track's first packet, unwrapped), senderMs the sender's NTP time;
 * - the points of one track lie on one line; its slope is the sender's real
 *   clock rate (1 for an exact clock: a sound card 100 ppm fast gives 1.0001⁻¹);
 * - a sender's clock is mapped onto the server's once, by the smallest lag
 *   (arrival − sender time) seen on its packets, and that offset is kept.
 */

/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const U32 = 0x1_0000_0000;

/**
 * A report whose NTP fraction is this small is skipped. werift 0.25 writes the
 * fraction as the decimal digits of the seconds' fraction (an integer below
 * 10⁷, i.e. under 2.4 ms of 2³²): its reports say whole seconds, useless for lip
 * sync. A real clock lands below 2²⁴ (3.9 ms) in 1 of 256 reports, which are
 * merely skipped.
 */
export const COARSE_NTP_FRACTION = 2 ** 24;

/** 64-bit NTP timestamp → ms since the Unix epoch (era 0; valid until 2036). */
export function ntpToUnixMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n);
  const fraction = Number(ntp & 0xffff_ffffn);
  return (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction * 1000) / U32;
}

/** ms since the Unix epoch → 64-bit NTP timestamp (for senders in tests and tools). */
export function unixMsToNtp(ms: number): bigint {
  const total = ms / 1000 + NTP_UNIX_OFFSET_S;
  const seconds = Math.floor(total);
  const fraction = Math.min(U32 - 1, Math.round((total - seconds) * U32));
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}

export function isCoarseNtp(ntp: bigint): boolean {
  return Number(ntp & 0xffff_ffffn) < COARSE_NTP_FRACTION;
}

export interface ReportPoint {
  /** The report's RTP timestamp as nominal media ms on the track's line. */
  mediaMs: number;
  /** The sender's wall clock at it, ms since the Unix epoch. */
  senderMs: number;
}

/** senderMs = interceptMs + slope · mediaMs */
export interface ClockLine {
  slope: number;
  interceptMs: number;
}

export interface ReportLineOptions {
  /** A report this far (ms) off the line is rejected (plus maxDriftPpm of the time since the last accepted one). */
  toleranceMs?: number;
  /** Beyond this a rate is taken for garbage: the slope is held to 1 ± this (2 %: real clocks are within 0.1 %, tests exaggerate). */
  maxDriftPpm?: number;
  /** The slope is fitted only over at least this much media time; before, it is 1. */
  minFitSpanMs?: number;
  /** This many rejected reports in a row: the line is dropped and started again from the newest. */
  resetAfter?: number;
}

export type ReportVerdict = 'accepted' | 'rejected' | 'reset';

const DEFAULTS: Required<ReportLineOptions> = { toleranceMs: 20, maxDriftPpm: 20_000, minFitSpanMs: 5_000, resetAfter: 3 };

/**
 * The reports of one track and the line through them (least squares). A
 * report that contradicts the line is rejected; several in a row mean the
 * line was wrong (or the sender's clock jumped): it starts over.
 */
export function createReportLine(opts: ReportLineOptions = {}) {
  const o = { ...DEFAULTS, ...opts };
  let points: ReportPoint[] = [];
  let rejected = 0;
  let inARow = 0;
  let resets = 0;
  let line: ClockLine | null = null;

  const refit = () => {
    line = fitLine(points, o.minFitSpanMs, o.maxDriftPpm);
  };

  return {
    add(p: ReportPoint): ReportVerdict {
      if (!Number.isFinite(p.mediaMs) || !Number.isFinite(p.senderMs)) return 'rejected';
      if (line) {
        // Checked against the newest accepted report, stepped by the line's rate: a clock whose rate the
        // line has not learnt yet (slope 1 before minFitSpanMs) still passes, a jump does not.
        const last = points.at(-1)!;
        const step = p.mediaMs - last.mediaMs;
        const allowed = o.toleranceMs + (Math.abs(step) * o.maxDriftPpm) / 1e6;
        if (Math.abs(p.senderMs - (last.senderMs + line.slope * step)) > allowed) {
          rejected++;
          if (++inARow < o.resetAfter) return 'rejected';
          resets++;
          inARow = 0;
          points = [p];
          refit();
          return 'reset';
        }
      }
      inARow = 0;
      points.push(p);
      refit();
      return 'accepted';
    },
    get line(): ClockLine | null {
      return line;
    },
    points(): readonly ReportPoint[] {
      return points;
    },
    get rejected() {
      return rejected;
    },
    get resets() {
      return resets;
    },
  };
}
export type ReportLine = ReturnType<typeof createReportLine>;

export const predict = (l: ClockLine, mediaMs: number) => l.interceptMs + l.slope * mediaMs;

/** The least jitter assumed of a sender's reports when judging whether their rate is real. */
const REPORT_JITTER_MS = 2;

/** Least-squares line; slope 1 (only the mean offset) while the points span less than minSpanMs. */
export function fitLine(points: readonly ReportPoint[], minSpanMs = DEFAULTS.minFitSpanMs, maxDriftPpm = DEFAULTS.maxDriftPpm): ClockLine | null {
  if (points.length === 0) return null;
  const n = points.length;
  // Centred sums: epoch-sized senderMs would lose precision in raw products.
  const mx = points.reduce((s, p) => s + p.mediaMs, 0) / n;
  const my = points.reduce((s, p) => s + (p.senderMs - p.mediaMs), 0) / n;
  let span = 0;
  for (const p of points) span = Math.max(span, Math.abs(p.mediaMs - points[0]!.mediaMs));
  let slope = 1;
  if (n >= 2 && span >= minSpanMs) {
    let sxx = 0;
    let sxy = 0;
    for (const p of points) {
      const dx = p.mediaMs - mx;
      sxx += dx * dx;
      sxy += dx * (p.senderMs - p.mediaMs - my);
    }
    // Fitted on senderMs − mediaMs (the residual from an exact clock), then 1 added back.
    const b = sxx > 0 ? sxy / sxx : 0;
    // Used only when it stands out from the reports' jitter (3 standard errors; the jitter taken as at
    // least REPORT_JITTER_MS): three of Chrome's audio reports over 10 s gave 1,100 ppm of pure noise,
    // which moved its beeps 8 ms in 13 s.
    let rss = 0;
    for (const p of points) {
      const r = p.senderMs - p.mediaMs - my - b * (p.mediaMs - mx);
      rss += r * r;
    }
    const sigma = Math.max(REPORT_JITTER_MS, n > 2 ? Math.sqrt(rss / (n - 2)) : 0);
    const max = maxDriftPpm / 1e6;
    if (Math.abs(b) > (3 * sigma) / Math.sqrt(sxx)) slope = 1 + Math.max(-max, Math.min(max, b));
  }
  // The line passes through the centroid: my + mx = intercept + slope·mx.
  return { slope, interceptMs: my + mx - slope * mx };
}

/** At most `max` points, first and last kept, evenly spaced between (a 4-hour track has ~15,000 reports). */
export function thinPoints<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max) return [...points];
  if (max < 2) return points.slice(-max);
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.round((i * (points.length - 1)) / (max - 1))]!);
  return out;
}

/**
 * One sender's clock against the server's: server ms = sender ms + offsetMs.
 * Fixed once, at the first estimate (the smallest arrival lag a track saw when
 * its first report came), and kept for every track and segment of the sender,
 * so its audio and video move together and later jitter moves nothing.
 */
export interface SenderClock {
  readonly offsetMs: number | null;
  /** Returns the offset in force: the candidate if none was fixed yet. */
  fix(candidateMs: number): number;
}

export function createSenderClock(initialOffsetMs: number | null = null): SenderClock {
  let offsetMs = initialOffsetMs;
  return {
    get offsetMs() {
      return offsetMs;
    },
    fix(candidateMs) {
      if (offsetMs === null && Number.isFinite(candidateMs)) offsetMs = candidateMs;
      return offsetMs ?? candidateMs;
    },
  };
}

/** Nominal media ms of an unwrapped RTP timestamp, from a base (unrounded). */
export const rtpToMediaMs = (extTs: number, baseExt: number, clockRate: number) => ((extTs - baseExt) * 1000) / clockRate;
