export { createComposer, checkOutput, DEFAULTS, DURATION_TOLERANCE_MS } from './composer.js';
export { ComposeError, type ComposeErrorCode } from './errors.js';
export { findFfmpeg, findFfprobe, FfmpegNotFoundError } from './find-ffmpeg.js';
export { composedMetadataSchema, type ComposedMetadata } from './metadata.js';
export { composedFileName } from '../../events/files.js';
export { speakerTimeline, SPEAKER_DEFAULTS, type SpeakerInterval, type SpeakerTrack } from './speaker.js';
export {
  LAYOUTS,
  FORMATS,
  composeRequestSchema,
  type Composer,
  type ComposerOptions,
  type ComposeHooks,
  type ComposeProgress,
  type ComposeRequest,
  type ComposeResult,
  type Format,
  type Layout,
  type SkippedInput,
  type UsedInput,
} from './types.js';
