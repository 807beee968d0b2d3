import { describe, expect, it } from 'vitest';
import { composedFileName, COMPOSED_FILE, sidecarOf, trackFileNames, trackFileOf, trackFileStem, trackKindOf } from '../../../events/files.js';

describe('recordings folder names', () => {
  it('builds the protocol file stem from the segment identity', () => {
    expect(
      trackFileStem({ startedAt: 1700000000123.7, recordingId: 'rec-1', participantId: 'p/1', kind: 'video', trackId: '{abc}' }),
    ).toBe('1700000000123-rec-1-p_1-video-_abc_');
  });

  it('names a segment’s media, sidecar and levels from its stem, and a composed file', () => {
    expect(trackFileNames('1-r-p-audio-t')).toEqual({ media: '1-r-p-audio-t.webm', sidecar: '1-r-p-audio-t.json', levels: '1-r-p-audio-t.levels.json' });
    expect(composedFileName(1700000000000.9, 'rec-1', 'mp4')).toBe('1700000000000-rec-1-composed.mp4');
    expect(sidecarOf('1700000000000-rec-1-composed.mp4')).toBe('1700000000000-rec-1-composed.json');
    expect(sidecarOf('1-r-p-video-t.webm')).toBe('1-r-p-video-t.json');
    expect(COMPOSED_FILE.exec('17-rec-1-composed.webm')?.slice(1)).toEqual(['17', 'rec-1', 'webm']);
  });

  it('tells a recording’s track files apart from everything else in the folder', () => {
    expect(trackFileOf('1-rec1-h-video-t.webm', 'rec1')).toBe('media');
    expect(trackFileOf('1-rec1-h-video-t.json', 'rec1')).toBe('sidecar');
    expect(trackFileOf('1-rec1-h-audio-t.levels.json', 'rec1')).toBe('levels');
    expect(trackFileOf('1-rec1-h-video-t.webm', 'rec1', 'h')).toBe('media');
    expect(trackFileOf('1-rec1-h-video-t.webm', 'rec1', 'p')).toBeNull();
    expect(trackFileOf('1-rec2-h-video-t.webm', 'rec1')).toBeNull();
    // another recording whose participant happens to be called like this one
    expect(trackFileOf('1-other-rec1-video-t.webm', 'rec1')).toBeNull();
    expect(trackFileOf('1-rec1-composed.webm', 'rec1')).toBeNull();
    expect(trackFileOf('1-rec1-composed.json', 'rec1')).toBeNull();
    expect(trackFileOf('1-rec1-composed-audio-t.webm', 'rec1', 'composed')).toBe('media');
    expect(trackFileOf('1-rec1-h-video-t.json.tmp', 'rec1')).toBeNull();
    expect(trackFileOf('1-rec1-h-video-t.webm.remux-tmp', 'rec1')).toBeNull();
    expect(trackFileOf('.1-rec1-composed.webm.job.partial', 'rec1')).toBeNull();
  });

  it('matches ids the way the stem writes them (sanitised, cut at 64)', () => {
    const long = 'r'.repeat(100);
    const stem = trackFileStem({ startedAt: 5, recordingId: long, participantId: 'p', kind: 'audio', trackId: 't' });
    expect(trackFileOf(`${stem}.json`, long, 'p')).toBe('sidecar');
  });

  it('reads the kind from a track file name', () => {
    expect(trackKindOf('1-r-p-audio-t.webm')).toBe('audio');
    expect(trackKindOf('1-r-p-video-t.webm')).toBe('video');
    expect(trackKindOf('x.webm')).toBeNull();
  });
});
