import { z } from 'zod';
import type { Participant } from './participants.js';
import type { Format, Layout } from '../../events/catalog.js';
import type { SkippedInput, UsedInput } from './types.js';

/** Who someone was: as the field's metadata had it (userId, name, avatar), plus host-userInfo as sent. */
const identity = z.object({
  participantId: z.string(),
  name: z.string().nullable(),
  userId: z.string().optional(),
  avatar: z.string().optional(),
  userInfo: z.record(z.string(), z.unknown()).optional(),
});
const identityOf = (p: Participant) => ({
  participantId: p.participantId,
  name: p.name,
  ...(p.userId ? { userId: p.userId } : {}),
  ...(p.avatar ? { avatar: p.avatar } : {}),
  ...(p.userInfo ? { userInfo: p.userInfo } : {}),
});

export const composedMetadataSchema = z.object({
  version: z.literal(1),
  kind: z.literal('composed'),
  meetingId: z.string(),
  recordingId: z.string(),
  jobId: z.string(),
  file: z.string(),
  format: z.enum(['webm', 'mp4']),
  layout: z.enum(['grid', 'host-led', 'host-only', 'speaker']),
  width: z.number().int(),
  height: z.number().int(),
  fps: z.number(),
  namePlates: z.boolean(),
  videoCodec: z.string(),
  audioCodec: z.string(),
  durationMs: z.number(),
  /**
   * Where the recording's 0 is in this file (ms, under a frame): every time on the recording's
   * timeline (present, inputs) is this much later in the file. The frame grid is moved so the
   * frames of the longest camera segment fall on whole frames; files without it: 0.
   */
  leadInMs: z.number().default(0),
  sizeBytes: z.number().int(),
  createdAt: z.number().int(),
  host: identity.nullable(),
  participants: z.array(
    identity.extend({
      /** Every participantId that was this person (rejoins), the tile's first. */
      participantIds: z.array(z.string()),
      /** What their name plate said. */
      label: z.string(),
      role: z.enum(['host', 'participant']),
      /** When they were in the recording (ms on its timeline). */
      present: z.array(z.object({ start: z.number(), end: z.number() })),
      hasVideo: z.boolean(),
      hasAudio: z.boolean(),
    }),
  ),
  inputs: z.array(
    z.object({
      file: z.string(),
      participantId: z.string(),
      kind: z.enum(['audio', 'video']),
      segmentIndex: z.number().int(),
      offsetMs: z.number(),
      durationMs: z.number(),
    }),
  ),
  skipped: z.array(z.object({ file: z.string(), reason: z.string() })),
});
export type ComposedMetadata = z.infer<typeof composedMetadataSchema>;

export function buildMetadata(m: {
  meetingId: string;
  recordingId: string;
  jobId: string;
  file: string;
  format: Format;
  layout: Layout;
  width: number;
  height: number;
  fps: number;
  namePlates: boolean;
  durationMs: number;
  leadInMs: number;
  sizeBytes: number;
  createdAt: number;
  participants: readonly Participant[];
  inputs: readonly UsedInput[];
  skipped: readonly SkippedInput[];
}): ComposedMetadata {
  const host = m.participants.find((p) => p.role === 'host') ?? null;
  return {
    version: 1,
    kind: 'composed',
    meetingId: m.meetingId,
    recordingId: m.recordingId,
    jobId: m.jobId,
    file: m.file,
    format: m.format,
    layout: m.layout,
    width: m.width,
    height: m.height,
    fps: m.fps,
    namePlates: m.namePlates,
    videoCodec: m.format === 'webm' ? 'vp9' : 'h264',
    audioCodec: m.format === 'webm' ? 'opus' : 'aac',
    durationMs: Math.round(m.durationMs),
    leadInMs: Math.round(m.leadInMs * 1000) / 1000,
    sizeBytes: m.sizeBytes,
    createdAt: m.createdAt,
    host: host ? identityOf(host) : null,
    participants: m.participants.map((p) => ({
      ...identityOf(p),
      participantIds: p.participantIds,
      label: p.label,
      role: p.role,
      present: p.presence.map(({ start, end }) => ({ start: Math.round(start), end: Math.round(end) })),
      hasVideo: p.video.length > 0,
      hasAudio: p.audio.length > 0,
    })),
    inputs: [...m.inputs],
    skipped: [...m.skipped],
  };
}
