import type { PlacedSegment } from './participants.js';
import type { Format } from '../../events/catalog.js';

/**
 * Encoder settings per format, chosen by measurement (tools/bench-compose.ts):
 * at equal or better SSIM than the old VP9 `-deadline realtime -cpu-used 4`
 * they run about 3× faster on 2 cores.
 * - webm: VP9 realtime at the fastest speed, row multithreading, constant
 *   quality (crf without a bitrate cap: quiet meeting content gets few bits);
 * - mp4: x264 superfast, crf 23, moov at the front for progressive playback.
 * A keyframe every 5 s keeps seeking in the player quick.
 */
export function codecArgs(format: Format, opts: { fps: number; threads: number }): string[] {
  const gop = String(Math.round(opts.fps * 5));
  if (format === 'webm') {
    return [
      '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-tile-columns', '2',
      '-threads', String(opts.threads), '-crf', '27', '-b:v', '0', '-g', gop, '-pix_fmt', 'yuv420p',
      '-c:a', 'libopus', '-b:a', '96k', '-ar', '48000',
      '-f', 'webm',
    ];
  }
  return [
    '-c:v', 'libx264', '-preset', 'superfast', '-crf', '23', '-g', gop, '-pix_fmt', 'yuv420p',
    '-threads', String(opts.threads),
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000',
    '-movflags', '+faststart',
    '-f', 'mp4',
  ];
}

/**
 * One `-i` per segment, in index order. Video inputs keep the filtergraph
 * when their resolution changes mid-stream (`-reinit_filter 0`: WebRTC
 * adapts resolution; the tile's scale filter follows the new size instead of
 * ffmpeg rebuilding the whole graph and restarting its sources), and decode
 * with 2 threads each: ffmpeg's default (cores + 1 per decoder) cost 20 % more
 * CPU for 4 participants on 2 cores and was slower (measured).
 */
export function inputArgs(inputs: readonly Pick<PlacedSegment, 'index' | 'kind' | 'path'>[], decoderThreads = 2): string[] {
  const sorted = [...inputs].sort((a, b) => a.index - b.index);
  sorted.forEach((s, i) => {
    if (s.index !== i) throw new Error(`input indices must be 0…n-1, got ${s.index} at ${i}`);
  });
  return sorted.flatMap((s) => [
    ...(s.kind === 'video' ? ['-threads', String(decoderThreads), '-reinit_filter', '0'] : []),
    '-i',
    s.path,
  ]);
}

export interface FfmpegArgsSpec {
  inputs: readonly Pick<PlacedSegment, 'index' | 'kind' | 'path'>[];
  /** Inline graph, or a file holding it (long graphs exceed the argument size limit). */
  graph: { inline: string } | { scriptFile: string };
  format: Format;
  fps: number;
  threads: number;
  durationMs: number;
  output: string;
}

/** The complete ffmpeg argument list. Pure. */
export function ffmpegArgs(spec: FfmpegArgsSpec): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-y',
    ...inputArgs(spec.inputs),
    ...('inline' in spec.graph ? ['-filter_complex', spec.graph.inline] : ['-filter_complex_script', spec.graph.scriptFile]),
    '-map', '[vout]', '-map', '[aout]',
    '-map_metadata', '-1',
    ...codecArgs(spec.format, { fps: spec.fps, threads: spec.threads }),
    '-t', (spec.durationMs / 1000).toFixed(3),
    spec.output,
  ];
}

/** Linux caps one argument at 128 KiB; beyond this the graph goes to a file. */
export const MAX_INLINE_GRAPH = 100_000;
