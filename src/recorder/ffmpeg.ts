import { spawn } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a tool to completion with a hard timeout; never rejects (spawn errors come back as code null). */
export function runTool(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ code: null, stdout, stderr: String(e), timedOut });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 1_000_000) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(e), timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

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
    15_000,
  );
  const ran = r.code !== null && !r.timedOut;
  if (r.code !== 0) return { ran, ok: false, durationMs: null, streams: [], warnings: r.stderr.trim() };
  try {
    const j = JSON.parse(r.stdout) as {
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
      warnings: r.stderr.trim(),
    };
  } catch {
    return { ran, ok: false, durationMs: null, streams: [], warnings: r.stderr.trim() };
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
  timeoutMs = 120_000,
): Promise<RunResult> {
  const tmp = `${file}.remux-tmp`;
  const r = await runTool(ffmpeg, remuxArgs(file, tmp, container), timeoutMs);
  if (r.code === 0 && !r.timedOut) {
    await rename(tmp, file);
  } else {
    await rm(tmp, { force: true });
  }
  return r;
}
