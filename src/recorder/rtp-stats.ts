/**
 * Small pure helpers over RTP header fields: wrap-around handling for
 * timestamps and sequence numbers, and a receive counter that estimates loss
 * from sequence gaps (RFC 3550 A.3 style, duplicates not subtracted).
 */

const U32 = 0x1_0000_0000;
const U16 = 0x1_0000;

/** Maps 32-bit RTP timestamps onto an extended number line: each value lands nearest the newest one seen (tolerates reordering). */
export function createTimestampUnwrapper(): (ts: number) => number {
  let newest: number | null = null;
  return (ts) => {
    if (newest === null) {
      newest = ts;
      return ts;
    }
    const ext = ts + U32 * Math.round((newest - ts) / U32);
    if (ext > newest) newest = ext;
    return ext;
  };
}

/**
 * RTP timestamp → integer milliseconds from the first timestamp seen;
 * `exactMs` the same unrounded (for Sender Reports, which carry the same clock:
 * it is null until the first packet set the base).
 */
export function createRtpClock(clockRate: number): { toMs(ts: number): number; exactMs(ts: number): number | null; readonly started: boolean } {
  const unwrap = createTimestampUnwrapper();
  let base: number | null = null;
  return {
    toMs(ts) {
      const ext = unwrap(ts);
      if (base === null) base = ext;
      return Math.round(((ext - base) * 1000) / clockRate);
    },
    exactMs(ts) {
      if (base === null) return null;
      return ((unwrap(ts) - base) * 1000) / clockRate;
    },
    get started() {
      return base !== null;
    },
  };
}

export interface ReceiveCounters {
  packets: number;
  bytes: number;
  /** Highest extended sequence number minus the first one, plus one. */
  expected: number;
  /** expected - packets, never negative: packets never received, after NACK recovery. */
  lost: number;
}

export function createReceiveCounter(): { add(seq: number, bytes: number): void; snapshot(): ReceiveCounters } {
  let base: number | null = null;
  let newest = 0;
  let packets = 0;
  let bytes = 0;
  return {
    add(seq, size) {
      packets++;
      bytes += size;
      if (base === null) {
        base = seq;
        newest = seq;
        return;
      }
      const ext = seq + U16 * Math.round((newest - seq) / U16);
      if (ext > newest) newest = ext;
    },
    snapshot() {
      const expected = base === null ? 0 : newest - base + 1;
      return { packets, bytes, expected, lost: Math.max(0, expected - packets) };
    },
  };
}
