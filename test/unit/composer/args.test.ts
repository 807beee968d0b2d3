import { describe, expect, it } from 'vitest';
import { codecArgs, ffmpegArgs, inputArgs } from '../../../src/composer/args.js';

const valueOf = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('codec arguments', () => {
  it('webm: VP9 realtime with row threads and constant quality, Opus', () => {
    const a = codecArgs('webm', { fps: 30, threads: 2 });
    expect(valueOf(a, '-c:v')).toBe('libvpx-vp9');
    expect(valueOf(a, '-deadline')).toBe('realtime');
    expect(valueOf(a, '-cpu-used')).toBe('8');
    expect(valueOf(a, '-row-mt')).toBe('1');
    expect(valueOf(a, '-b:v')).toBe('0');
    expect(valueOf(a, '-crf')).toBe('27');
    expect(valueOf(a, '-c:a')).toBe('libopus');
    expect(valueOf(a, '-pix_fmt')).toBe('yuv420p');
    expect(valueOf(a, '-f')).toBe('webm');
    expect(a).not.toContain('-movflags');
  });

  it('mp4: H.264 + AAC with the moov atom first', () => {
    const a = codecArgs('mp4', { fps: 25, threads: 4 });
    expect(valueOf(a, '-c:v')).toBe('libx264');
    expect(valueOf(a, '-preset')).toBe('superfast');
    expect(valueOf(a, '-c:a')).toBe('aac');
    expect(valueOf(a, '-movflags')).toBe('+faststart');
    expect(valueOf(a, '-g')).toBe('125');
    expect(valueOf(a, '-threads')).toBe('4');
    expect(valueOf(a, '-f')).toBe('mp4');
  });
});

describe('input arguments', () => {
  it('one -i per input in index order; video keeps the graph on resolution changes, 2 decoder threads', () => {
    expect(
      inputArgs([
        { index: 1, kind: 'audio', path: '/r/a.webm' },
        { index: 0, kind: 'video', path: '/r/v.webm' },
      ]),
    ).toEqual(['-threads', '2', '-reinit_filter', '0', '-i', '/r/v.webm', '-i', '/r/a.webm']);
  });

  it('refuses gaps in the indices', () => {
    expect(() => inputArgs([{ index: 1, kind: 'audio', path: 'a' }])).toThrow(/0…n-1/);
  });
});

describe('ffmpeg arguments', () => {
  const base = {
    inputs: [{ index: 0, kind: 'audio' as const, path: '/r/a.webm' }],
    format: 'mp4' as const,
    fps: 30,
    threads: 2,
    durationMs: 12_345,
    output: '/r/.x.partial',
  };

  it('reports progress on stdout, maps the graph outputs, cuts at the duration, writes the output last', () => {
    const a = ffmpegArgs({ ...base, graph: { inline: '[0:a]anull[aout]' } });
    expect(a.slice(0, 8)).toEqual(['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-y']);
    expect(valueOf(a, '-filter_complex')).toBe('[0:a]anull[aout]');
    expect(a.join(' ')).toContain('-map [vout] -map [aout]');
    expect(valueOf(a, '-t')).toBe('12.345');
    expect(a[a.length - 1]).toBe('/r/.x.partial');
    expect(a.indexOf('-i')).toBeLessThan(a.indexOf('-filter_complex'));
  });

  it('leaves the encoder on whole frames (its default clock, 1/fps) in both formats', () => {
    for (const format of ['webm', 'mp4'] as const) expect(ffmpegArgs({ ...base, format, fps: 30, graph: { inline: 'x' } })).not.toContain('-enc_time_base:v');
  });

  it('reads a long graph from a file', () => {
    const a = ffmpegArgs({ ...base, graph: { scriptFile: '/tmp/g.txt' } });
    expect(valueOf(a, '-filter_complex_script')).toBe('/tmp/g.txt');
    expect(a).not.toContain('-filter_complex');
  });
});
