import type { AudioLevels } from '../../events/segment.js';
import type { Interval } from './intervals.js';

export interface SpeakerTrack {
  participantId: string;
  levels: AudioLevels;
}

export interface SpeakerOptions {
  durationMs: number;
  /** Shown until somebody speaks (the host). */
  fallback: string | null;
  /** When given, a speaker who is no longer present is replaced at once. */
  presence?: ReadonlyMap<string, readonly Interval[]>;
  /** Speech above this level (dBov) counts. */
  thresholdDb?: number;
  /** A challenger must be this much louder than a speaking current speaker. */
  marginDb?: number;
  /** …for this long before the stage switches. */
  switchAfterMs?: number;
  /** A speaker keeps the stage at least this long (no flicker). */
  minHoldMs?: number;
  /** Pauses between words up to this long do not count as silence. */
  hangoverMs?: number;
}

export interface SpeakerInterval extends Interval {
  participantId: string | null;
}

export const SPEAKER_DEFAULTS = {
  thresholdDb: -50,
  marginDb: 6,
  switchAfterMs: 500,
  minHoldMs: 2000,
  hangoverMs: 400,
} as const;

const SILENT = -127;

/**
 * Who holds the stage when, from the recorded audio levels: the loudest
 * speaker takes it once they have led for `switchAfterMs` and the current
 * speaker has had it for `minHoldMs`. Composition is offline, so a switch is
 * back-dated to when the new speaker started leading (the stage changes as they
 * start talking, not half a second later), and short pauses between words are
 * closed with knowledge of what follows. Silence keeps the current speaker.
 * Pure: the result covers [0, durationMs] with adjacent intervals.
 */
export function speakerTimeline(tracks: readonly SpeakerTrack[], options: SpeakerOptions): SpeakerInterval[] {
  const o = { ...SPEAKER_DEFAULTS, ...options };
  const step = Math.max(10, Math.min(...tracks.map((t) => t.levels.intervalMs), 100));
  const ids = [...new Set(tracks.map((t) => t.participantId))];
  const steps = Math.ceil(o.durationMs / step);
  const levels = new Map(ids.map((id) => [id, closeGaps(sample(tracks, id, step, steps), Math.round(o.hangoverMs / 2 / step))]));
  const present = (id: string | null, t: number): boolean => {
    if (id === null) return false;
    if (!o.presence) return true;
    return (o.presence.get(id) ?? []).some((i) => i.start <= t && t < i.end);
  };

  const out: SpeakerInterval[] = [];
  let current: string | null = o.fallback;
  let since = 0;
  // The hold protects a speaker who took the stage by speaking; a fallback placed there holds nothing.
  let earned = false;
  let challenger: string | null = null;
  let challengerSince = 0;
  const switchTo = (next: string | null, at: number, bySpeech: boolean) => {
    if (next === current) return;
    out.push({ participantId: current, start: since, end: at });
    current = next;
    since = at;
    earned = bySpeech;
    challenger = null;
  };

  for (let k = 0; k < steps; k++) {
    const t = k * step;
    const level = (id: string) => (present(id, t) ? levels.get(id)![k]! : SILENT);
    const speaking = ids.filter((id) => level(id) >= o.thresholdDb).sort((a, b) => level(b) - level(a));
    const loudest = speaking[0] ?? null;
    if (!earned && current !== null && speaking.includes(current)) earned = true; // the fallback spoke: it holds from when it was placed

    if (!present(current, t)) {
      const next = loudest ?? (present(o.fallback, t) ? o.fallback : (ids.find((id) => present(id, t)) ?? null));
      if (next !== null) {
        switchTo(next, t, next === loudest);
        continue;
      }
    }

    const currentLevel = current !== null && speaking.includes(current) ? level(current) : SILENT;
    const leads = loudest !== null && loudest !== current && level(loudest) >= currentLevel + o.marginDb;
    if (!leads) {
      challenger = null;
      continue;
    }
    if (challenger !== loudest) {
      challenger = loudest;
      challengerSince = t;
    }
    const holdEnds = earned ? since + o.minHoldMs : since;
    if (t + step - challengerSince >= o.switchAfterMs && t + step >= holdEnds) {
      switchTo(loudest, Math.max(challengerSince, holdEnds), true);
    }
  }
  out.push({ participantId: current, start: since, end: o.durationMs });
  return out.filter((i) => i.end > i.start);
}

/** A participant's loudest level per step (all their tracks), silence where none has a value. */
function sample(tracks: readonly SpeakerTrack[], id: string, step: number, steps: number): number[] {
  const out = new Array<number>(steps).fill(SILENT);
  for (const tr of tracks) {
    if (tr.participantId !== id) continue;
    const { offsetMs, intervalMs, levels } = tr.levels;
    for (let k = 0; k < steps; k++) {
      const i = Math.floor((k * step - offsetMs) / intervalMs);
      const v = i >= 0 && i < levels.length ? levels[i] : null;
      if (v !== null && v !== undefined && v > out[k]!) out[k] = v;
    }
  }
  return out;
}

/**
 * Morphological closing (max then min over ±r steps): fills the pauses between
 * words (gaps up to 2r steps) without making anyone's speech start earlier or
 * end later. Possible only because composition sees the whole recording.
 */
export function closeGaps(series: readonly number[], r: number): number[] {
  if (r <= 0) return [...series];
  const window = (xs: readonly number[], pick: (a: number, b: number) => number) =>
    xs.map((_, i) => {
      let v = xs[i]!;
      for (let j = Math.max(0, i - r); j <= Math.min(xs.length - 1, i + r); j++) v = pick(v, xs[j]!);
      return v;
    });
  return window(window(series, Math.max), Math.min);
}
