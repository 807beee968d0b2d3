export { createComposer, checkOutput, DEFAULTS, DURATION_TOLERANCE_MS } from './composer.js';
export { ComposeError, type ComposeErrorCode } from './errors.js';
export { findFfmpeg, findFfprobe, FfmpegNotFoundError } from './find-ffmpeg.js';
export { composedMetadataSchema, type ComposedMetadata } from './metadata.js';
export { composedFileName } from '../../events/files.js';
export { speakerTimeline, SPEAKER_DEFAULTS, type SpeakerInterval, type SpeakerTrack } from './speaker.js';
/** The catalog's, re-exported for the composer's users. */
export { FORMATS, LAYOUTS, type Format, type Layout } from '../../events/catalog.js';
export {
  composeRequestSchema,
  type Composer,
  type ComposerOptions,
  type ComposeHooks,
  type ComposeProgress,
  type ComposeRequest,
  type ComposeResult,
  type SkippedInput,
  type UsedInput,
} from './types.js';
