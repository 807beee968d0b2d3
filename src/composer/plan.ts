import type { AudioLevels, SegmentMeta } from '../../events/segment.js';
import { gridPhaseOf, shownVideo, type GraphSpec } from './filter-graph.js';
import { planScene } from './layout.js';
import { buildParticipants, hostOf, type PlacedSegment, type SegmentPresence } from './participants.js';
import { speakerTimeline, type SpeakerInterval } from './speaker.js';
import type { Assessment } from './probe.js';
import type { Layout } from '../../events/catalog.js';
import type { ComposeMember, SkippedInput, UsedInput } from './types.js';

export interface PlanSegment {
  meta: SegmentMeta;
  /** Path ffmpeg reads. */
  path: string;
  assessment: Extract<Assessment, { ok: true }>;
  levels: AudioLevels | null;
}

export interface PlanRequest {
  durationMs: number;
  layout: Layout;
  width: number;
  height: number;
  fps: number;
  namePlates: boolean;
  fontFile: string;
  /** Identities from the recording's log (see ComposeMember). */
  members?: readonly ComposeMember[];
}

export interface CompositionPlan {
  spec: GraphSpec;
  /** ffmpeg inputs, index order. */
  inputs: PlacedSegment[];
  used: UsedInput[];
  /** Segments that cannot be placed (in addition to the unreadable ones). */
  skipped: SkippedInput[];
  speakers: SpeakerInterval[];
}

/** Sender ms per media ms from the sidecar's Sender Reports; 1 for arrival-placed and older sidecars. */
export const mediaScaleOf = (m: SegmentMeta): number => (m.sync?.source === 'sender-reports' ? m.sync.scale : 1);

const toPresence = (m: SegmentMeta, durationMs: number | null): SegmentPresence => ({
  participantId: m.participantId,
  participantName: m.participantName,
  ...(m.userId ? { userId: m.userId } : {}),
  role: m.role,
  offsetMs: m.offsetMs,
  durationMs,
});

/**
 * From the usable segments (and what the sidecars of unusable ones still say
 * about who was there when) to the filtergraph spec and ffmpeg's inputs.
 * Pure: no files, no clock.
 */
export function planComposition(req: PlanRequest, segments: readonly PlanSegment[], unusable: readonly SegmentMeta[]): CompositionPlan {
  const skipped: SkippedInput[] = [];
  const placed: PlacedSegment[] = [];
  const levels: { participantId: string; levels: AudioLevels }[] = [];
  for (const s of segments) {
    if (s.meta.offsetMs >= req.durationMs) {
      skipped.push({ file: s.meta.file, reason: `starts at ${s.meta.offsetMs} ms, after the recording's end (${req.durationMs} ms)` });
      continue;
    }
    placed.push({
      index: -1,
      path: s.path,
      file: s.meta.file,
      participantId: s.meta.participantId,
      kind: s.meta.kind,
      segmentIndex: s.meta.segmentIndex,
      offsetMs: s.meta.offsetMs,
      // The sender's clock rate from its reports: the segment lasts that much longer or shorter on the timeline.
      durationMs: s.assessment.durationMs * mediaScaleOf(s.meta),
      timeScale: s.assessment.timeScale * mediaScaleOf(s.meta),
      ...(s.assessment.inputStartMs ? { inputStartMs: s.assessment.inputStartMs } : {}),
      ...(s.assessment.width ? { width: s.assessment.width } : {}),
      ...(s.assessment.height ? { height: s.assessment.height } : {}),
    });
    if (s.levels) levels.push({ participantId: s.meta.participantId, levels: s.levels });
  }

  const known = [
    ...placed.map((p) => {
      const meta = segments.find((s) => s.meta.file === p.file)!.meta;
      return toPresence(meta, p.durationMs);
    }),
    ...unusable.map((m) => toPresence(m, m.durationMs)),
  ];
  const participants = buildParticipants(known, placed, req.durationMs, req.members);
  // Speech is the tile's: a rejoin's levels count for the person's one tile.
  const tileOf = new Map(participants.flatMap((p) => p.participantIds.map((id) => [id, p.participantId] as const)));
  for (const l of levels) l.participantId = tileOf.get(l.participantId) ?? l.participantId;

  const speakers =
    req.layout === 'speaker'
      ? speakerTimeline(levels, {
          durationMs: req.durationMs,
          fallback: hostOf(participants)?.participantId ?? null,
          presence: new Map(participants.map((p) => [p.participantId, p.presence])),
        })
      : [];
  const scene = planScene(req.layout, participants, { width: req.width, height: req.height }, speakers);

  // Inputs: the video the scene shows, then all audio. Video not shown (host-only) is not even opened.
  const shown = new Set(shownVideo(participants, scene));
  const inputs: PlacedSegment[] = [];
  for (const p of participants) for (const v of p.video) if (shown.has(v)) inputs.push(v);
  for (const p of participants) for (const a of p.audio) inputs.push(a);
  inputs.forEach((s, i) => (s.index = i));

  return {
    spec: {
      width: req.width,
      height: req.height,
      fps: req.fps,
      durationMs: req.durationMs,
      namePlates: req.namePlates,
      fontFile: req.fontFile,
      participants,
      scene,
      gridPhaseMs: gridPhaseOf(inputs.filter((s) => s.kind === 'video'), req.fps),
    },
    inputs,
    used: inputs.map((s) => ({
      file: s.file,
      participantId: s.participantId,
      kind: s.kind,
      segmentIndex: s.segmentIndex,
      offsetMs: s.offsetMs,
      durationMs: s.durationMs,
    })),
    skipped,
    speakers,
  };
}
