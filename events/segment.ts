import { z } from 'zod';
import { idSchema } from './ids.js';

/**
 * Sidecar JSON written beside every per-track segment file
 * (`recordings/<meetingId>/<timestamp>-<recordingId>-<participantId>-<kind>-<trackId>.webm`
 * + `.json`). Written when the segment starts (finalized: false) and rewritten
 * when it is finalized, so a crash leaves a usable description behind.
 */
export const segmentMetaSchema = z.object({
  version: z.literal(1),
  meetingId: idSchema,
  recordingId: idSchema,
  participantId: idSchema,
  participantName: z.string().max(200).nullable(),
  role: z.enum(['host', 'participant']),
  kind: z.enum(['audio', 'video']),
  trackId: idSchema,
  codec: z.string().max(64), // e.g. "opus", "vp8", "vp9", "h264"
  /** Basename of the media file, in the same folder. */
  file: z.string().max(255),
  /** 0, 1, 2 … per (participant, kind): a renegotiation or rejoin starts a new segment. */
  segmentIndex: z.number().int().nonnegative(),
  /** Milliseconds from the recording's start to the first media written to this segment. */
  offsetMs: z.number().nonnegative(),
  /** Media duration measured from RTP timestamps, set when finalized. */
  durationMs: z.number().nonnegative().nullable(),
  /** Wall-clock start of the first media (ms since epoch). */
  startedAt: z.number().int().nonnegative(),
  endedAt: z.number().int().nonnegative().nullable(),
  finalized: z.boolean(),
  packets: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** Audio only: basename of the audio-level file (see audioLevelsSchema). */
  levelsFile: z.string().max(255).nullable(),
  /**
   * true: finalized by a drain (SIGTERM) without the usual ffprobe check and
   * stream-copy remux. The file is werift's own ending (cues, duration,
   * clusters of unknown size): ffmpeg reads it as it is, and
   * `ffmpeg -i f -c copy` tidies it. Absent otherwise.
   */
  needsRemux: z.boolean().optional(),
});
export type SegmentMeta = z.infer<typeof segmentMetaSchema>;

/**
 * Speech activity of one audio segment, from the RFC 6464 audio-level header
 * extension: one value per `intervalMs` window starting at the segment's
 * offset, the loudest level seen in the window in dBov (-127 silence … 0 max),
 * or null when no packet arrived in the window.
 */
export const audioLevelsSchema = z.object({
  version: z.literal(1),
  intervalMs: z.number().int().positive(),
  offsetMs: z.number().nonnegative(),
  levels: z.array(z.number().min(-127).max(0).nullable()),
});
export type AudioLevels = z.infer<typeof audioLevelsSchema>;
