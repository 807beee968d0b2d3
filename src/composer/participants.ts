import { memberDisplayName, plateName } from '../../events/names.js';
import { union, type Interval } from './intervals.js';
import type { ComposeMember, UsedInput } from './types.js';

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
  /** The participant (tile) it belongs to: its own participantId, or the first one of a rejoining user. */
  owner?: string;
  /**
   * Factor applied to the file's timestamps (relative to its first frame) so
   * its last frame lands at offsetMs + durationMs: for video the correction of
   * the file's own timestamps against the sidecar's, times (audio and video)
   * the sender's clock rate from its Sender Reports. 1 when they agree.
   */
  timeScale: number;
  /** Audio: the file's container start (ProbeInfo.formatStartMs) when not 0; audioTiming undoes ffmpeg's move by it. */
  inputStartMs?: number;
  width?: number;
  height?: number;
}

export interface Participant {
  /** The tile's id: the first participantId this person had in the recording. */
  participantId: string;
  /** Every participantId that is this person (a rejoin gets a new one), first first. */
  participantIds: string[];
  /** Who they are across rejoins (token sub or host-userInfo), when known. */
  userId?: string;
  avatar?: string;
  /** host-userInfo as they sent it. */
  userInfo?: Record<string, unknown>;
  name: string | null;
  /** Their name plate: the name, else "Host" / "Participant N" (never an id). */
  label: string;
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
  /** The sidecar's userId (absent in older sidecars and when unknown). */
  userId?: string;
  role: 'host' | 'participant';
  offsetMs: number;
  durationMs: number | null;
}

/**
 * Participants in display order: the host first, then by first appearance,
 * then by id (a stable order: a participant keeps their place for the whole
 * recording). Segments are grouped by who sent them: the user id the
 * recording's log knows for a participantId (token `sub` or host-userInfo),
 * else the one its sidecars carry, else the participantId; so someone who leaves and comes back under a new
 * participantId keeps one tile and one timeline. `members` (from the log)
 * name them; a sidecar's name is the fallback.
 */
export function buildParticipants(
  known: readonly SegmentPresence[],
  placed: readonly PlacedSegment[],
  recordingMs: number,
  members: readonly ComposeMember[] = [],
): Participant[] {
  const memberOf = new Map(members.map((m) => [m.participantId, m]));
  // Without the log's members (a composition from the sidecars alone), the sidecars' userId still groups a rejoin.
  const sidecarUserId = new Map<string, string>();
  for (const k of known) if (k.userId && !sidecarUserId.has(k.participantId)) sidecarUserId.set(k.participantId, k.userId);
  const userIdOf = (participantId: string) => memberOf.get(participantId)?.userId ?? sidecarUserId.get(participantId);
  const keyOf = (participantId: string) => {
    const userId = userIdOf(participantId);
    return userId ? `user:${userId}` : `id:${participantId}`;
  };
  // The tile id of a group: its earliest participantId on the timeline.
  const byKey = new Map<string, Participant>();
  const sidecarName = new Map<string, string | null>();
  for (const k of [...known].sort((a, b) => a.offsetMs - b.offsetMs || a.participantId.localeCompare(b.participantId))) {
    const key = keyOf(k.participantId);
    let p = byKey.get(key);
    if (!p) {
      p = { participantId: k.participantId, participantIds: [], name: null, label: '', role: k.role, firstMs: Infinity, presence: [], video: [], audio: [] };
      byKey.set(key, p);
    }
    if (!p.participantIds.includes(k.participantId)) p.participantIds.push(k.participantId);
    if (!sidecarName.get(key)) sidecarName.set(key, k.participantName);
    if (k.role === 'host') p.role = 'host';
    p.firstMs = Math.min(p.firstMs, k.offsetMs);
    if (k.durationMs !== null) p.presence.push({ start: k.offsetMs, end: Math.min(recordingMs, k.offsetMs + k.durationMs) });
  }
  for (const s of placed) {
    const p = byKey.get(keyOf(s.participantId));
    if (!p) continue;
    s.owner = p.participantId;
    (s.kind === 'video' ? p.video : p.audio).push(s);
    p.presence.push({ start: s.offsetMs, end: Math.min(recordingMs, s.offsetMs + s.durationMs) });
  }
  const list = [...byKey.entries()].map(([key, p]): Participant => {
    // The latest identity the log has for any of their ids wins (a rejoin may have sent a newer host-userInfo).
    const latest = [...p.participantIds].reverse().map((id) => memberOf.get(id)).filter((m) => m !== undefined);
    const pick = <K extends 'name' | 'userId' | 'avatar' | 'userInfo'>(k: K) => latest.find((m) => m[k] !== undefined && m[k] !== null)?.[k];
    p.name = memberDisplayName({ connect: pick('name') ?? sidecarName.get(key) });
    const userId = pick('userId') ?? p.participantIds.map((id) => sidecarUserId.get(id)).find((u) => u !== undefined);
    const avatar = pick('avatar');
    const userInfo = pick('userInfo');
    return Object.assign(p, userId ? { userId } : {}, avatar ? { avatar } : {}, userInfo ? { userInfo } : {});
  });
  for (const p of list) {
    p.presence = union(p.presence);
    p.video.sort((a, b) => a.offsetMs - b.offsetMs);
    p.audio.sort((a, b) => a.offsetMs - b.offsetMs);
  }
  const hosts = list.filter((p) => p.role === 'host').sort((a, b) => a.firstMs - b.firstMs);
  // One host on screen: a later "host" (e.g. after a reconnect under a new id) is shown as a participant.
  for (const extra of hosts.slice(1)) extra.role = 'participant';
  list.sort(
    (a, b) =>
      Number(b.role === 'host') - Number(a.role === 'host') ||
      a.firstMs - b.firstMs ||
      a.participantId.localeCompare(b.participantId),
  );
  let ordinal = 0;
  for (const p of list) p.label = plateName({ connect: p.name }, { role: p.role, ordinal: p.role === 'host' ? 0 : ++ordinal });
  return list;
}

/** What a tile shows as the person's name: never an id. */
export function displayName(p: Pick<Participant, 'label'>): string {
  return p.label;
}

/** The host, or when nobody had the role the first participant. */
export function hostOf(participants: readonly Participant[]): Participant | null {
  return participants.find((p) => p.role === 'host') ?? participants[0] ?? null;
}
