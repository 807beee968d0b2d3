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
  /** A level stays valid this long, bridging the pauses between words. */
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
 * start talking, not half a second later). Silence keeps the current speaker.
 * Pure: the result covers [0, durationMs] with adjacent intervals.
 */
export function speakerTimeline(tracks: readonly SpeakerTrack[], options: SpeakerOptions): SpeakerInterval[] {
  const o = { ...SPEAKER_DEFAULTS, ...options };
  const step = Math.max(10, Math.min(...tracks.map((t) => t.levels.intervalMs), 100));
  const ids = [...new Set(tracks.map((t) => t.participantId))];
  const hangSteps = Math.max(0, Math.round(o.hangoverMs / step));

  const raw = (id: string, t: number): number => {
    let best = SILENT;
    for (const tr of tracks) {
      if (tr.participantId !== id) continue;
      const i = Math.floor((t - tr.levels.offsetMs) / tr.levels.intervalMs);
      const v = i >= 0 && i < tr.levels.levels.length ? tr.levels.levels[i] : null;
      if (v !== null && v !== undefined && v > best) best = v;
    }
    return best;
  };
  const present = (id: string | null, t: number): boolean => {
    if (id === null) return false;
    if (!o.presence) return true;
    return (o.presence.get(id) ?? []).some((i) => i.start <= t && t < i.end);
  };

  const out: SpeakerInterval[] = [];
  let current: string | null = o.fallback;
  let since = 0;
  let challenger: string | null = null;
  let challengerSince = 0;
  const history = new Map<string, number[]>(ids.map((id) => [id, []]));

  const switchTo = (next: string | null, at: number) => {
    if (next === current) return;
    out.push({ participantId: current, start: since, end: at });
    current = next;
    since = at;
    challenger = null;
  };

  for (let t = 0; t < o.durationMs; t += step) {
    const level = new Map<string, number>();
    for (const id of ids) {
      const h = history.get(id)!;
      h.push(raw(id, t));
      if (h.length > hangSteps + 1) h.shift();
      level.set(id, present(id, t) ? Math.max(...h) : SILENT);
    }
    const speaking = ids.filter((id) => level.get(id)! >= o.thresholdDb);
    const loudest = speaking.sort((a, b) => level.get(b)! - level.get(a)!)[0] ?? null;

    if (!present(current, t)) {
      const anyone = ids.find((id) => present(id, t)) ?? null;
      const next = loudest ?? (present(o.fallback, t) ? o.fallback : anyone);
      if (next !== null) {
        switchTo(next, t);
        continue;
      }
    }

    const currentLevel = current !== null && speaking.includes(current) ? level.get(current)! : SILENT;
    const leads = loudest !== null && loudest !== current && level.get(loudest)! >= currentLevel + o.marginDb;
    if (!leads) {
      challenger = null;
      continue;
    }
    if (challenger !== loudest) {
      challenger = loudest;
      challengerSince = t;
    }
    const ledFor = t + step - challengerSince;
    const holdEnds = since + o.minHoldMs;
    if (ledFor >= o.switchAfterMs && t + step >= holdEnds) {
      switchTo(loudest, Math.max(challengerSince, holdEnds));
    }
  }
  out.push({ participantId: current, start: since, end: o.durationMs });
  return out.filter((i) => i.end > i.start);
}
