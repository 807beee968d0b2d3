import { describe, expect, it } from 'vitest';
import { contentTypeOf, parseRange, SAFE_SEGMENT } from '../../../src/http/files.js';

describe('parseRange', () => {
  it('reads one bytes range', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=990-5000', 1000)).toEqual({ start: 990, end: 999 });
    expect(parseRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
  });
  it('is unsatisfiable past the end', () => {
    expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
  });
  it('ignores what it does not understand (whole file)', () => {
    for (const h of [undefined, '', 'bytes=', 'bytes=-', 'items=0-1', 'bytes=5-1', 'bytes=0-1,5-6', 'bytes=a-b']) expect(parseRange(h, 1000)).toBeNull();
  });
});

describe('names and types', () => {
  it('allows plain names only', () => {
    for (const ok of ['meeting-1', 'a.webm', '1700-rec-composed.mp4', 'A_b']) expect(SAFE_SEGMENT.test(ok)).toBe(true);
    for (const bad of ['', '.', '..', '.hidden', 'a/b', 'a%2Fb', 'a b', 'x'.repeat(256)]) expect(SAFE_SEGMENT.test(bad)).toBe(false);
  });
  it('types media by extension and track kind', () => {
    expect(contentTypeOf('1-r-p-audio-t.webm')).toBe('audio/webm');
    expect(contentTypeOf('17-a1b2-c3-d4-e5-audio-9b62-44c5.webm')).toBe('audio/webm');
    expect(contentTypeOf('1-r-p-video-t.webm')).toBe('video/webm');
    expect(contentTypeOf('1-r-composed.mp4')).toBe('video/mp4');
    expect(contentTypeOf('x.json')).toBe('application/json');
    expect(contentTypeOf('x.exe')).toBeUndefined();
  });
});
