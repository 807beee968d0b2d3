import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PathEscapeError, safeJoin, sanitizeSegment } from '../../../src/recorder/paths.js';

describe('sanitizeSegment', () => {
  it('keeps [A-Za-z0-9._-] and replaces everything else', () => {
    expect(sanitizeSegment('room-1_A.b')).toBe('room-1_A.b');
    expect(sanitizeSegment('a/b\\c d')).toBe('a_b_c_d');
    expect(sanitizeSegment('{8f3e-ü}')).toBe('_8f3e-__');
    expect(sanitizeSegment('nul\u0000byte')).toBe('nul_byte');
  });

  it('never yields "", "." or ".."', () => {
    expect(sanitizeSegment('')).toBe('_');
    expect(sanitizeSegment('.')).toBe('_');
    expect(sanitizeSegment('..')).toBe('_');
    expect(sanitizeSegment('...')).toBe('_');
    expect(sanitizeSegment('..a')).toBe('..a');
  });

  it('caps the length', () => {
    expect(sanitizeSegment('x'.repeat(500))).toHaveLength(128);
    expect(sanitizeSegment('x'.repeat(500), 64)).toHaveLength(64);
  });
});

describe('safeJoin', () => {
  const root = path.resolve('/srv/recordings');

  it('joins sanitised segments under the root', () => {
    expect(safeJoin(root, 'meeting-1', 'a.webm')).toBe(path.join(root, 'meeting-1', 'a.webm'));
    expect(safeJoin('/srv/recordings/', 'm')).toBe(path.join(root, 'm'));
  });

  it('cannot be walked out of the root', () => {
    expect(() => safeJoin(root, '../../etc/passwd')).toThrow(PathEscapeError);
    expect(safeJoin(root, '/etc/passwd')).toBe(path.join(root, '_etc_passwd'));
    expect(safeJoin(root, 'a/../../x')).toBe(path.join(root, 'a_.._.._x'));
    expect(() => safeJoin(root, '..', 'x')).toThrow(PathEscapeError);
  });

  it('refuses dot names (`.`, `..`, hidden folders such as .eventlog), as the composer does', () => {
    for (const name of ['.', '..', '...', '.eventlog', '.hidden']) {
      expect(() => safeJoin(root, name), name).toThrow(PathEscapeError);
      expect(() => safeJoin(root, 'meeting-1', name), name).toThrow(PathEscapeError);
    }
    expect(safeJoin(root, 'a.b', 'c..d')).toBe(path.join(root, 'a.b', 'c..d'));
  });

  it('throws PathEscapeError when the result would be the root itself or nothing', () => {
    expect(() => safeJoin(root)).toThrow(PathEscapeError);
  });
});
