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

/**
 * Joins segments under `root`, sanitising every segment, and throws a
 * PathEscapeError if the result does not resolve strictly inside root.
 * Segments are single names: a `/` inside one is replaced, not followed.
 */
export function safeJoin(root: string, ...segments: string[]): string {
  if (segments.length === 0) throw new PathEscapeError(root, '');
  const base = path.resolve(root);
  const joined = path.resolve(base, ...segments.map((s) => sanitizeSegment(s)));
  const rel = path.relative(base, joined);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new PathEscapeError(base, joined);
  }
  return joined;
}
