import type { ComposeProgress } from './types.js';

export interface ProgressParser {
  /** Feed ffmpeg's `-progress pipe:1` output as it arrives. */
  push(chunk: string): void;
}

/**
 * Parses `-progress` blocks (`key=value` lines ending in `progress=continue|end`)
 * into ComposeProgress, emitting at most once per `minIntervalMs` and always
 * for the final block.
 */
export function createProgressParser(
  durationMs: number,
  emit: (p: ComposeProgress) => void,
  opts: { minIntervalMs?: number; now?: () => number } = {},
): ProgressParser {
  const minInterval = opts.minIntervalMs ?? 500;
  const now = opts.now ?? Date.now;
  let pending = '';
  let block = new Map<string, string>();
  let lastEmit = -Infinity;

  const finish = (state: string) => {
    const us = Number(block.get('out_time_us') ?? block.get('out_time_ms'));
    const outTimeMs = Number.isFinite(us) && us > 0 ? us / 1000 : 0;
    const speedRaw = block.get('speed')?.trim() ?? '';
    const speed = /^[\d.]+x$/.test(speedRaw) ? Number(speedRaw.slice(0, -1)) : null;
    const end = state === 'end';
    const percent = end ? 100 : Math.max(0, Math.min(100, (outTimeMs / durationMs) * 100));
    block = new Map();
    const t = now();
    if (!end && t - lastEmit < minInterval) return;
    lastEmit = t;
    emit({ percent, speed: speed !== null && Number.isFinite(speed) ? speed : null, outTimeMs });
  };

  return {
    push(chunk) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        const eq = line.indexOf('=');
        if (eq <= 0) continue;
        const key = line.slice(0, eq);
        const value = line.slice(eq + 1);
        if (key === 'progress') finish(value);
        else block.set(key, value);
      }
    },
  };
}
