import type { Logger } from 'pino';
import { z } from 'zod';
import { formatSchema, layoutSchema } from '../../events/catalog.js';
import { idSchema } from '../../events/ids.js';
import type { ComposedMetadata } from './metadata.js';

/**
 * Who a participantId is, as the recording's log knows it (token, host-userInfo,
 * connect): names the tiles and groups a rejoin (same userId) onto one tile.
 */
export const composeMemberSchema = z.object({
  participantId: idSchema,
  name: z.string().max(200).nullable().optional(),
  userId: z.string().min(1).max(200).optional(),
  avatar: z.string().max(2048).optional(),
  userInfo: z.record(z.string(), z.unknown()).optional(),
});
export type ComposeMember = z.infer<typeof composeMemberSchema>;

/** Parsed at compose() entry: its ids become paths. */
export const composeRequestSchema = z.object({
  jobId: idSchema,
  meetingId: idSchema,
  recordingId: idSchema,
  /** The recording's duration, start to stop: the output's duration. */
  durationMs: z.number().positive().max(24 * 3600 * 1000),
  layout: layoutSchema,
  format: formatSchema,
  width: z.number().int().min(160).max(3840).optional(),
  height: z.number().int().min(90).max(2160).optional(),
  fps: z.number().int().min(1).max(60).optional(),
  /** Name plates on video tiles; default true. */
  namePlates: z.boolean().optional(),
  /** ms since epoch; the `<timestamp>` of the output name. */
  createdAt: z.number().int().nonnegative(),
  /** Identities from the recording's log; without them the sidecars' names are used and each participantId is its own tile. */
  members: z.array(composeMemberSchema).max(10_000).optional(),
});
export type ComposeRequest = z.infer<typeof composeRequestSchema>;

export interface ComposeProgress {
  /** 0 … 100, from ffmpeg's out_time against the requested duration. */
  percent: number;
  /** ffmpeg's speed (× realtime), null until it reports one. */
  speed: number | null;
  outTimeMs: number;
}

export interface ComposeHooks {
  /** At most about twice a second, plus once at the end. */
  onProgress?(p: ComposeProgress): void;
  signal?: AbortSignal;
}

export interface SkippedInput {
  file: string;
  reason: string;
}

/** One segment as it went into the composition. */
export interface UsedInput {
  file: string;
  participantId: string;
  kind: 'audio' | 'video';
  segmentIndex: number;
  offsetMs: number;
  durationMs: number;
}

export interface ComposeResult {
  /** Basename of the composed file, in `<root>/<meetingId>/`. */
  file: string;
  path: string;
  /** Measured on the written file (ffprobe). */
  durationMs: number;
  sizeBytes: number;
  inputs: UsedInput[];
  skipped: SkippedInput[];
  /** Basename of the metadata JSON written beside the file. */
  metadataFile: string;
  metadata: ComposedMetadata;
}

export interface Composer {
  compose(req: ComposeRequest, hooks?: ComposeHooks): Promise<ComposeResult>;
}

export interface ComposerOptions {
  /** Recordings root (`recordings/` or RECORDING_DIR). */
  root: string;
  /** Default: FFMPEG_PATH, then PATH. */
  ffmpegPath?: string;
  /** Default: FFPROBE_PATH, beside ffmpeg, then PATH. */
  ffprobePath?: string;
  logger: Logger;
  /** Delete the used track files (+ sidecars) after a successful composition. Default false. */
  deleteInputsOnSuccess?: boolean;
  /** TrueType font for names; default DejaVu Sans. */
  fontFile?: string;
}
