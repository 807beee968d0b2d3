import type { AudioLevels } from '../../events/segment.js';
import { SPEAKER_DEFAULTS } from '../composer/speaker.js';
import { unionOf, type Span, type Timeline } from './timeline.js';

/** Pauses between words up to this long are part of the speech around them. */
const BRIDGE_MS = SPEAKER_DEFAULTS.hangoverMs;

/**
 * When one audio segment has speech, from its levels file (RFC 6464 levels in
 * windows, the same the speaker layout reads): windows louder than the
 * speaker layout's threshold, short pauses bridged. ms from the recording's start.
 */
export function speechSpans(levels: AudioLevels, thresholdDb: number = SPEAKER_DEFAULTS.thresholdDb): Span[] {
  const out: Span[] = [];
  levels.levels.forEach((v, i) => {
    if (v === null || v < thresholdDb) return;
    const startMs = levels.offsetMs + i * levels.intervalMs;
    const last = out.at(-1);
    if (last && startMs - last.endMs <= BRIDGE_MS) last.endMs = startMs + levels.intervalMs;
    else out.push({ startMs, endMs: startMs + levels.intervalMs });
  });
  return out;
}

/** The timeline with each lane's speech filled in from its participants' levels. */
export function withSpeech(t: Timeline, levels: readonly { participantId: string; levels: AudioLevels }[]): Timeline {
  return {
    ...t,
    lanes: t.lanes.map((l) => ({ ...l, speech: unionOf(levels.filter((x) => x.participantId === l.participantId).flatMap((x) => speechSpans(x.levels))) })),
  };
}
