import type { AudioLevels } from '../../events/segment.js';

/**
 * Collects RFC 6464 levels into fixed windows of media time: per window the
 * loudest level seen, in dBov (-127 silence … 0 max), null when no packet
 * carried a level in that window.
 */
export interface LevelAccumulator {
  /** `mediaMs`: the packet's media time from the segment's first packet; `level`: the extension's 0..127 (= -dBov). */
  add(mediaMs: number, level: number): void;
  readonly count: number;
  /** Windows allocated so far (never more than the bound). */
  readonly capacity: number;
  /** Windows from `fromMs` (media time of the file's first frame) to `toMs` inclusive, at most the bound. */
  build(offsetMs: number, fromMs: number, toMs: number): AudioLevels;
}

/**
 * Media time a level window may lie at: a day, the longest MAX_RECORDING_SECONDS
 * allows. RTP timestamps come from the client: a crafted jump lands beyond it
 * and is ignored instead of growing the windows (and the sidecar) with it.
 */
export const MAX_LEVELS_MEDIA_MS = 24 * 3600 * 1000;

const NONE = 1; // above 0 dBov: "no value"

export function createLevelAccumulator(intervalMs: number, maxMediaMs = MAX_LEVELS_MEDIA_MS): LevelAccumulator {
  const maxWindows = Math.floor(maxMediaMs / intervalMs) + 1;
  // dBov fits a byte: 432,000 windows (a day at 200 ms) are 432 KB.
  let windows = new Int8Array(Math.min(256, maxWindows)).fill(NONE);
  let count = 0;
  return {
    add(mediaMs, level) {
      if (!Number.isFinite(mediaMs) || mediaMs < 0) return;
      const i = Math.floor(mediaMs / intervalMs);
      if (i >= maxWindows) return;
      if (i >= windows.length) {
        const grown = new Int8Array(Math.min(maxWindows, Math.max(i + 1, windows.length * 2))).fill(NONE);
        grown.set(windows);
        windows = grown;
      }
      const clamped = Math.max(0, Math.min(127, Math.round(level)));
      const dbov = clamped === 0 ? 0 : -clamped;
      const cur = windows[i]!;
      windows[i] = cur === NONE ? dbov : Math.max(cur, dbov);
      count++;
    },
    get count() {
      return count;
    },
    get capacity() {
      return windows.length;
    },
    build(offsetMs, fromMs, toMs) {
      const first = Math.max(0, Math.round(fromMs / intervalMs));
      const wanted = toMs >= fromMs ? Math.floor((toMs - fromMs) / intervalMs) + 1 : 0;
      const n = Math.max(0, Math.min(wanted, maxWindows - first));
      const levels: (number | null)[] = [];
      for (let k = 0; k < n; k++) {
        const v = windows[first + k];
        levels.push(v === undefined || v === NONE ? null : v);
      }
      return { version: 1, intervalMs, offsetMs, levels };
    },
  };
}
