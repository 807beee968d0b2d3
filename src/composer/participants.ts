import { union, type Interval } from './intervals.js';
import type { UsedInput } from './types.js';

/**
 * A track segment that made it into the composition, with its timing settled:
 * offsetMs is where its first frame lands on the recording's timeline,
 * durationMs its length there, first to last frame (the sidecar's, else measured).
 */
export interface PlacedSegment extends UsedInput {
  /** ffmpeg input index. */
  index: number;
  /** Path ffmpeg reads (the kept file). */
  path: string;
  /**
   * Factor applied to the file's timestamps (relative to its first frame) so
   * its last frame lands at offsetMs + durationMs: for video the correction of
   * the file's own timestamps against the sidecar's, times (audio and video)
   * the sender's clock rate from its Sender Reports. 1 when they agree.
   */
  timeScale: number;
  width?: number;
  height?: number;
}

export interface Participant {
  participantId: string;
  name: string | null;
  role: 'host' | 'participant';
  /** First moment on the timeline any of their tracks started. */
  firstMs: number;
  /** When they were in the recording: union of all their segments, used or not. */
  presence: Interval[];
  video: PlacedSegment[];
  audio: PlacedSegment[];
}

/** What is known of a segment from its sidecar, even when its media is unusable. */
export interface SegmentPresence {
  participantId: string;
  participantName: string | null;
  role: 'host' | 'participant';
  offsetMs: number;
  durationMs: number | null;
}

/**
 * Participants in display order: the host first, then by first appearance,
 * then by id (a stable order: a participant keeps their place for the whole
 * recording, rejoins included).
 */
export function buildParticipants(
  known: readonly SegmentPresence[],
  placed: readonly PlacedSegment[],
  recordingMs: number,
): Participant[] {
  const byId = new Map<string, Participant>();
  for (const k of known) {
    let p = byId.get(k.participantId);
    if (!p) {
      p = { participantId: k.participantId, name: null, role: k.role, firstMs: Infinity, presence: [], video: [], audio: [] };
      byId.set(k.participantId, p);
    }
    p.name ??= k.participantName && k.participantName.trim() !== '' ? k.participantName : null;
    if (k.role === 'host') p.role = 'host';
    p.firstMs = Math.min(p.firstMs, k.offsetMs);
    if (k.durationMs !== null) p.presence.push({ start: k.offsetMs, end: Math.min(recordingMs, k.offsetMs + k.durationMs) });
  }
  for (const s of placed) {
    const p = byId.get(s.participantId);
    if (!p) continue;
    (s.kind === 'video' ? p.video : p.audio).push(s);
    p.presence.push({ start: s.offsetMs, end: Math.min(recordingMs, s.offsetMs + s.durationMs) });
  }
  const list = [...byId.values()];
  for (const p of list) {
    p.presence = union(p.presence);
    p.video.sort((a, b) => a.offsetMs - b.offsetMs);
    p.audio.sort((a, b) => a.offsetMs - b.offsetMs);
  }
  const hosts = list.filter((p) => p.role === 'host').sort((a, b) => a.firstMs - b.firstMs);
  // One host on screen: a later "host" (e.g. after a reconnect under a new id) is shown as a participant.
  for (const extra of hosts.slice(1)) extra.role = 'participant';
  return list.sort(
    (a, b) =>
      Number(b.role === 'host') - Number(a.role === 'host') ||
      a.firstMs - b.firstMs ||
      a.participantId.localeCompare(b.participantId),
  );
}

export function displayName(p: Pick<Participant, 'name' | 'participantId'>): string {
  return p.name ?? p.participantId;
}

/** The host, or when nobody had the role the first participant. */
export function hostOf(participants: readonly Participant[]): Participant | null {
  return participants.find((p) => p.role === 'host') ?? participants[0] ?? null;
}
