import path from 'node:path';
import { sanitizeSegment } from '../../events/files.js';

export { sanitizeSegment };

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
