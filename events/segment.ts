import { z } from 'zod';
import { idSchema } from './ids.js';

/**
 * How a segment was placed on the recording's timeline (absent in sidecars
 * written before lip sync: those are placed by arrival, scale 1).
 * - `sender-reports`: by the track's RTCP Sender Reports. Each report is a
 *   point (mediaMs: its RTP timestamp in this file's media time, nominal clock
 *   rate, 0 = the file's first frame; senderMs: the sender's NTP clock, ms since
 *   the epoch). The line through them gives the sender's time of every frame;
 *   `senderToServerMs` (fixed once per sender) puts that on the server's clock,
 *   and offsetMs is the file's first frame there.
 * - `arrival`: no usable report (none yet, or they contradicted each other):
 *   offsetMs is the first packet's arrival.
 * `scale` is the line's slope: ms on the sender's clock per ms of the file's
 * media time (1 for an exact media clock; a sound card 100 ppm fast gives
 * 0.9999). The composer stretches the segment by it.
 */
export const segmentSyncSchema = z.object({
  source: z.enum(['sender-reports', 'arrival']),
  scale: z.number().min(0.98).max(1.02),
  senderToServerMs: z.number().nullable(),
  /**
   * Audio: ms each report's senderMs was moved earlier before it was kept. libwebrtc (Chrome,
   * Firefox, Safari) stamps an audio Sender Report with the time its frame was sent, which is
   * one frame (a packet's length, 20 ms) after that frame's first sample was captured; video
   * reports carry the capture time. Absent in sidecars written before the correction.
   */
  captureLeadMs: z.number().min(0).max(120).optional(),
  reports: z.array(z.object({ mediaMs: z.number(), senderMs: z.number() })).max(256),
  rejectedReports: z.number().int().nonnegative(),
});
export type SegmentSync = z.infer<typeof segmentSyncSchema>;

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
  /**
   * Who sent it across rejoins (the token's `sub` or host-userInfo's userId,
   * as known when the peer opened): a participant back under a new
   * participantId keeps one tile even when composed from sidecars alone.
   * Absent when unknown, and in older sidecars.
   */
  userId: z.string().min(1).max(200).optional(),
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
  /** Placement on the timeline (see segmentSyncSchema); absent in older sidecars. */
  sync: segmentSyncSchema.optional(),
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
