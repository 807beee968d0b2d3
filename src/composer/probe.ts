import type { SegmentMeta } from '../../events/segment.js';
import { runProcess } from '../process/run.js';

export interface StreamInfo {
  codecType: string;
  codecName: string | null;
  width?: number;
  height?: number;
}

export interface ProbeInfo {
  formatName: string | null;
  /** The container's claim; a crash-left werift file says 24 h. Not trusted for timing. */
  formatDurationMs: number | null;
  /**
   * The container's start (its earliest stream's first timestamp), ms. ffmpeg moves an input's
   * timestamps by minus this, so a filter sees 0 there: an ffmpeg-made Opus WebM starts at -6.5 ms
   * (its codec delay), a recorded track at 0.
   */
  formatStartMs?: number | null;
  streams: StreamInfo[];
}

export interface PacketTimes {
  count: number;
  firstMs: number | null;
  lastMs: number | null;
}

export function probeArgs(file: string): string[] {
  return [
    '-v', 'error', '-of', 'json',
    '-show_entries', 'format=format_name,duration,start_time:stream=index,codec_type,codec_name,width,height',
    file,
  ];
}

/** Every packet's timestamp of the first stream of a kind: demuxing only, no decoding. */
export function packetScanArgs(file: string, kind: 'audio' | 'video'): string[] {
  return ['-v', 'error', '-select_streams', `${kind === 'audio' ? 'a' : 'v'}:0`, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file];
}

const numOrNull = (v: unknown): number | null => {
  const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
};

export function parseProbe(json: string): ProbeInfo {
  const raw = JSON.parse(json) as { format?: Record<string, unknown>; streams?: Record<string, unknown>[] };
  const dur = numOrNull(raw.format?.duration);
  const start = numOrNull(raw.format?.start_time);
  return {
    formatStartMs: start === null ? null : start * 1000,
    formatName: typeof raw.format?.format_name === 'string' ? raw.format.format_name : null,
    formatDurationMs: dur === null ? null : dur * 1000,
    streams: (raw.streams ?? []).map((s) => ({
      codecType: String(s.codec_type ?? ''),
      codecName: typeof s.codec_name === 'string' ? s.codec_name : null,
      ...(numOrNull(s.width) ? { width: numOrNull(s.width)! } : {}),
      ...(numOrNull(s.height) ? { height: numOrNull(s.height)! } : {}),
    })),
  };
}

export function parsePacketTimes(csv: string): PacketTimes {
  let count = 0;
  let first: number | null = null;
  let last: number | null = null;
  for (const line of csv.split('\n')) {
    const v = line.trim().replace(/,$/, '');
    if (v === '') continue;
    count++;
    const t = Number(v);
    if (!Number.isFinite(t)) continue;
    if (first === null || t < first) first = t;
    if (last === null || t > last) last = t;
  }
  return { count, firstMs: first === null ? null : first * 1000, lastMs: last === null ? null : last * 1000 };
}

export type Assessment =
  | { ok: true; durationMs: number; timeScale: number; width?: number; height?: number; note?: string; inputStartMs?: number }
  | { ok: false; reason: string };

/** Beyond this the sidecar and the file disagree too much for a drift correction. */
const MAX_DRIFT = 0.2;

/**
 * Decides how a probed segment is used. Timing truth is the sidecar's
 * offsetMs/durationMs (from RTP timestamps); the file's own timestamps only
 * give the factor that maps them onto it. A crash-left segment (no sidecar
 * duration, container duration 24 h) is timed by its packets.
 */
export function assessSegment(meta: Pick<SegmentMeta, 'kind' | 'durationMs'>, probe: ProbeInfo, packets: PacketTimes): Assessment {
  const stream = probe.streams.find((s) => s.codecType === meta.kind);
  if (!stream) return { ok: false, reason: `no ${meta.kind} stream in the file` };
  if (packets.count === 0 || packets.firstMs === null || packets.lastMs === null) {
    return { ok: false, reason: `no ${meta.kind} packets (header-only file)` };
  }
  const spanMs = packets.lastMs - packets.firstMs;
  const size = stream.width && stream.height ? { width: stream.width, height: stream.height } : {};
  if (meta.durationMs === null) {
    return { ok: true, durationMs: spanMs, timeScale: 1, ...size, note: 'no duration in the sidecar (not finalized): timed by its packets' };
  }
  if (meta.kind === 'audio') {
    const start = probe.formatStartMs ?? 0;
    return { ok: true, durationMs: meta.durationMs, timeScale: 1, ...size, ...(start !== 0 ? { inputStartMs: start } : {}) };
  }
  if (spanMs <= 0) return { ok: true, durationMs: meta.durationMs, timeScale: 1, ...size };
  // The sidecar's duration runs to the END of the last frame; the packets' span to its start. Without
  // the last frame's length (estimated as the mean frame step) a short file was stretched by a frame
  // over its length: 13 s of 30 fps moved its last frames 33 ms late.
  const stepMs = packets.count > 1 ? spanMs / (packets.count - 1) : 0;
  const scale = (meta.durationMs - stepMs) / spanMs;
  if (Math.abs(scale - 1) > MAX_DRIFT) {
    return {
      ok: true,
      durationMs: meta.durationMs,
      timeScale: 1,
      ...size,
      note: `file spans ${Math.round(spanMs)} ms, sidecar says ${meta.durationMs} ms: not rescaled, cut at the sidecar's duration`,
    };
  }
  return { ok: true, durationMs: meta.durationMs, timeScale: scale, ...size };
}

export type SegmentProbe = { ok: true; probe: ProbeInfo; packets: PacketTimes } | { ok: false; reason: string };

const lastLine = (lines: string[]) => lines.filter((l) => l.trim() !== '').slice(-1)[0] ?? 'no output';

/** ffprobe a segment: container and streams, then its packet timestamps. */
export async function probeSegment(ffprobe: string, file: string, kind: 'audio' | 'video', signal?: AbortSignal): Promise<SegmentProbe> {
  let json = '';
  const info = await runProcess(ffprobe, probeArgs(file), { onStdout: (d) => (json += d), signal });
  if (info.exitCode !== 0) return { ok: false, reason: `unreadable (ffprobe: ${lastLine(info.stderr)})` };
  let probe: ProbeInfo;
  try {
    probe = parseProbe(json);
  } catch {
    return { ok: false, reason: 'unreadable (ffprobe output is not JSON)' };
  }
  let csv = '';
  const scan = await runProcess(ffprobe, packetScanArgs(file, kind), { onStdout: (d) => (csv += d), signal });
  if (scan.exitCode !== 0 && csv === '') return { ok: false, reason: `unreadable packets (ffprobe: ${lastLine(scan.stderr)})` };
  return { ok: true, probe, packets: parsePacketTimes(csv) };
}
