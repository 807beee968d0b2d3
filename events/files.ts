import { ID_CHARS } from './ids.js';
import type { Format } from './catalog.js';

/**
 * The names in a meeting's folder of the recordings root (protocol.md
 * section 5, README "Recordings on disk"): the only place that builds them or
 * tells them apart. Pure strings: joining them under the root (and refusing
 * what would leave it) is src/recorder/paths.ts's `safeJoin`.
 *
 *   <timestamp>-<recordingId>-<participantId>-<kind>-<trackId>.webm          a track segment
 *   <timestamp>-<recordingId>-<participantId>-<kind>-<trackId>.json          its sidecar (SegmentMeta)
 *   <timestamp>-<recordingId>-<participantId>-audio-<trackId>.levels.json    its audio levels
 *   <timestamp>-<recordingId>-composed.<webm|mp4>  (+ .json)                 the composed video
 */

const MAX_SEGMENT = 128;
/** Each id inside a track file's stem is cut to this many characters. */
const STEM_ID_LENGTH = 64;
const NOT_ID_CHAR = new RegExp(`[^${ID_CHARS}]`, 'g');

/**
 * Reduces a client-supplied name to `[A-Za-z0-9._-]` (protocol.md section 5):
 * every other character becomes `_`, and the result is capped at 128
 * characters. Names made only of dots (`.`, `..`) or empty after cleaning
 * become `_`, so a sanitised segment can never mean "here" or "up".
 */
export function sanitizeSegment(raw: string, maxLength = MAX_SEGMENT): string {
  const cleaned = raw.replace(NOT_ID_CHAR, '_').slice(0, maxLength);
  if (cleaned === '' || /^\.+$/.test(cleaned)) return '_';
  return cleaned;
}

const stemId = (id: string) => sanitizeSegment(id, STEM_ID_LENGTH);

export interface TrackFileParts {
  /** The segment's first-packet wall clock, ms since epoch. */
  startedAt: number;
  recordingId: string;
  participantId: string;
  kind: 'audio' | 'video';
  trackId: string;
}

/** `<timestamp>-<recordingId>-<participantId>-<kind>-<trackId>`: the stem every file of one track segment shares. */
export function trackFileStem(p: TrackFileParts): string {
  return [String(Math.trunc(p.startedAt)), stemId(p.recordingId), stemId(p.participantId), p.kind, stemId(p.trackId)].join('-');
}

/** The three files of one track segment (levels: audio only). */
export function trackFileNames(stem: string): { media: string; sidecar: string; levels: string } {
  return { media: `${stem}.webm`, sidecar: `${stem}.json`, levels: `${stem}.levels.json` };
}

/** `<timestamp>-<recordingId>-composed.<webm|mp4>`; timestamp in ms since epoch. */
export function composedFileName(createdAt: number, recordingId: string, format: Format): string {
  return `${Math.trunc(createdAt)}-${recordingId}-composed.${format}`;
}

/** The sidecar (JSON) beside a media file: a track's SegmentMeta, a composed file's metadata. */
export function sidecarOf(mediaFile: string): string {
  return mediaFile.replace(/\.(webm|mp4)$/, '.json');
}

/** `<timestamp>-<recordingId>-composed.<webm|mp4>`: the recording id and the format. */
export const COMPOSED_FILE = /^(\d+)-(.+)-composed\.(webm|mp4)$/;

export type TrackFileRole = 'media' | 'sidecar' | 'levels';

/**
 * Which of a recording's track files `name` is (optionally: of one of its
 * participants), or null when it is none: another recording's, a composed
 * file, its metadata, or a temporary file.
 */
export function trackFileOf(name: string, recordingId: string, participantId?: string): TrackFileRole | null {
  const ts = /^\d+-/.exec(name);
  if (!ts) return null;
  const rest = name.slice(ts[0].length);
  const prefix = `${stemId(recordingId)}-${participantId === undefined ? '' : `${stemId(participantId)}-`}`;
  if (!rest.startsWith(prefix) || /^composed\.(webm|mp4|json)$/.test(rest.slice(prefix.length))) return null;
  if (name.endsWith('.levels.json')) return 'levels';
  if (name.endsWith('.json')) return 'sidecar';
  if (name.endsWith('.webm')) return 'media';
  return null;
}

/** The kind a track file's name carries, when it carries one. */
export function trackKindOf(name: string): 'audio' | 'video' | null {
  return /-audio-/.test(name) ? 'audio' : /-video-/.test(name) ? 'video' : null;
}
