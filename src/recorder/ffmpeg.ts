import { rename, rm } from 'node:fs/promises';
import { runProcess, type RunResult } from '../process/run.js';

const PROBE_TIMEOUT_MS = 15_000;
const REMUX_TIMEOUT_MS = 120_000;
/** What ffmpeg prints when its output could not be written (it may still exit 0). */
const WRITE_FAILED = /No space left on device|Disk quota exceeded|Error writing trailer|Error closing file|Input\/output error/i;

/** A run that could not start (missing binary): reported like a run that exited without a code. */
const notStarted = (err: unknown): RunResult => ({
  exitCode: null,
  signal: null,
  stdout: Buffer.alloc(0),
  stderr: [String(err)],
  aborted: false,
  timedOut: false,
});

/** Runs a tool to completion with a hard timeout; never rejects (a spawn error comes back as exitCode null). */
const runTool = (cmd: string, args: string[], timeoutMs: number) => runProcess(cmd, args, { timeoutMs }).catch(notStarted);

export interface ProbeResult {
  /** ffprobe could be started and finished (false: missing binary, timeout). */
  ran: boolean;
  ok: boolean;
  /** Container duration in ms, null when ffprobe reports none. */
  durationMs: number | null;
  streams: { codec: string; width?: number; height?: number }[];
  /** Anything ffprobe printed at error level (e.g. werift's unknown-size clusters). */
  warnings: string;
}

export async function probeMedia(ffprobe: string, file: string): Promise<ProbeResult> {
  const r = await runTool(
    ffprobe,
    ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,width,height', '-of', 'json', file],
    PROBE_TIMEOUT_MS,
  );
  const ran = r.exitCode !== null && !r.timedOut;
  const warnings = r.stderr.join('\n').trim();
  if (r.exitCode !== 0) return { ran, ok: false, durationMs: null, streams: [], warnings };
  try {
    const j = JSON.parse(r.stdout.toString('utf8')) as {
      format?: { duration?: string };
      streams?: { codec_name?: string; width?: number; height?: number }[];
    };
    const d = Number(j.format?.duration);
    return {
      ran,
      ok: true,
      durationMs: Number.isFinite(d) ? Math.round(d * 1000) : null,
      streams: (j.streams ?? []).map((s) => ({
        codec: s.codec_name ?? 'unknown',
        ...(s.width ? { width: s.width } : {}),
        ...(s.height ? { height: s.height } : {}),
      })),
      warnings,
    };
  } catch {
    return { ran, ok: false, durationMs: null, streams: [], warnings };
  }
}

/**
 * Pure: arguments for a stream-copy remux (rewrites cues, sizes and duration).
 * The WebM muxer refuses H.264, so H.264 goes to plain Matroska; the file
 * keeps its .webm name (werift's own output is already H.264-in-WebM).
 */
export function remuxArgs(input: string, output: string, container: 'webm' | 'matroska' = 'webm'): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', input, '-map', '0', '-c', 'copy', '-f', container, output];
}

/** Remuxes `file` in place via a temporary sibling; the original stays untouched if ffmpeg fails. */
export async function remuxInPlace(
  ffmpeg: string,
  file: string,
  container: 'webm' | 'matroska' = 'webm',
  timeoutMs = REMUX_TIMEOUT_MS,
): Promise<RunResult> {
  const tmp = `${file}.remux-tmp`;
  const ran = await runTool(ffmpeg, remuxArgs(file, tmp, container), timeoutMs);
  // ffmpeg exits 0 when it could not write its trailer (a full disk): that output must not replace the original.
  const r = ran.exitCode === 0 && ran.stderr.some((l) => WRITE_FAILED.test(l)) ? { ...ran, exitCode: 1 } : ran;
  if (r.exitCode === 0 && !r.timedOut) {
    await rename(tmp, file);
  } else {
    await rm(tmp, { force: true });
  }
  return r;
}
