import path from 'node:path';

/** Raised when a path built from client-supplied parts would leave its root. */
export class PathEscapeError extends Error {
  constructor(
    readonly root: string,
    readonly attempted: string,
  ) {
    super(`path ${JSON.stringify(attempted)} resolves outside ${JSON.stringify(root)}`);
    this.name = 'PathEscapeError';
  }
}

const MAX_SEGMENT = 128;

/**
 * Reduces a client-supplied name to `[A-Za-z0-9._-]` (protocol.md section 5):
 * every other character becomes `_`, and the result is capped at 128
 * characters. Names made only of dots (`.`, `..`) or empty after cleaning
 * become `_`, so a sanitised segment can never mean "here" or "up".
 */
export function sanitizeSegment(raw: string, maxLength = MAX_SEGMENT): string {
  const cleaned = raw.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, maxLength);
  if (cleaned === '' || /^\.+$/.test(cleaned)) return '_';
  return cleaned;
}

/** A name that begins with `.`: "here", "up" or a hidden file or folder. Never a folder or file taken from a client. */
export const isDotName = (segment: string) => segment.startsWith('.');

/**
 * Joins segments under `root`, sanitising every segment, and throws a
 * PathEscapeError for a dot name (`.`, `..`, `.hidden`) or if the result does
 * not resolve strictly inside root.
 * Segments are single names: a `/` inside one is replaced, not followed.
 */
export function safeJoin(root: string, ...segments: string[]): string {
  if (segments.length === 0) throw new PathEscapeError(root, '');
  // `.`, `..` and hidden names (`.eventlog`) are refused, as the composer and the file routes refuse them.
  const dotted = segments.find(isDotName);
  if (dotted !== undefined) throw new PathEscapeError(root, dotted);
  const base = path.resolve(root);
  const joined = path.resolve(base, ...segments.map((s) => sanitizeSegment(s)));
  const rel = path.relative(base, joined);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new PathEscapeError(base, joined);
  }
  return joined;
}

export interface SegmentFileNameParts {
  startedAt: number;
  recordingId: string;
  participantId: string;
  kind: 'audio' | 'video';
  trackId: string;
}

/**
 * `<timestamp>-<recordingId>-<participantId>-<kind>-<trackId>` (no extension):
 * the stem shared by the .webm, its .json sidecar and the audio .levels.json.
 * The timestamp is the segment's first-packet wall clock in ms since epoch.
 */
export function segmentFileStem(p: SegmentFileNameParts): string {
  const stem = [
    String(Math.trunc(p.startedAt)),
    sanitizeSegment(p.recordingId, 64),
    sanitizeSegment(p.participantId, 64),
    p.kind,
    sanitizeSegment(p.trackId, 64),
  ].join('-');
  return stem;
}
