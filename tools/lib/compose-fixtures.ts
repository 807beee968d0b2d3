/**
 * Recordings with known content, written the way the recorder writes them:
 * one WebM per track segment (VP8 or Opus), a SegmentMeta sidecar beside it
 * and, for audio, an AudioLevels file. Every participant has a colour (video)
 * and a tone (audio); flashes are a white frame run with a simultaneous beep,
 * at known times of the recording's timeline.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AudioLevels, SegmentMeta } from '../../events/segment.js';
import { runProcess } from '../../src/process/run.js';

export const FFMPEG = process.env.FFMPEG_PATH ?? '/usr/bin/ffmpeg';
export const FFPROBE = process.env.FFPROBE_PATH ?? '/usr/bin/ffprobe';
export const BEEP_HZ = 2500;
export const FLASH_MS = 200;

export interface FixtureSegment {
  offsetMs: number;
  durationMs: number;
  video?: boolean;
  audio?: boolean;
  /** Write video timestamps scaled by this (werift NTP-mode drift); the sidecar keeps the true duration. */
  videoTimestampScale?: number;
}

export interface FixtureParticipant {
  participantId: string;
  name: string | null;
  role: 'host' | 'participant';
  /** 0xRRGGBB */
  color: string;
  toneHz: number;
  toneAmplitude?: number;
  segments: FixtureSegment[];
  /** Flash + beep start times on the recording's timeline (ms). */
  flashesMs?: number[];
  /** Speech windows on the recording's timeline: tone only then, levels -20 dBov then and -127 otherwise. Default: always. */
  speaksMs?: { start: number; end: number }[];
  /** 'flat' (default): the colour and a small moving box; 'busy': a moving test pattern over it, camera-like detail for benchmarks. */
  pattern?: 'flat' | 'busy';
}

export interface FixtureOptions {
  root: string;
  meetingId: string;
  recordingId: string;
  participants: FixtureParticipant[];
  width?: number;
  height?: number;
  fps?: number;
  recordingStartedAt?: number;
  levelsIntervalMs?: number;
}

export interface FixtureFile {
  participantId: string;
  kind: 'audio' | 'video';
  segmentIndex: number;
  file: string;
  sidecar: string;
}

/** The project's runner, keeping all of stdout (decoded media) and of stderr (error messages). */
export async function run(bin: string, args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const r = await runProcess(bin, args, { maxStdoutBytes: Infinity, keepLines: 10_000 });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr.join('\n') };
}

export async function ffmpeg(args: string[]): Promise<Buffer> {
  const r = await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
  if (r.code !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const sec = (ms: number) => (ms / 1000).toFixed(4);
const windowExpr = (ranges: { start: number; end: number }[]) =>
  ranges.length === 0 ? '0' : ranges.map((r) => `between(t,${sec(r.start)},${sec(r.end)})`).join('+');

/** Local (segment) time ranges of the recording-time ranges that fall in the segment. */
function localRanges(ranges: { start: number; end: number }[], seg: FixtureSegment) {
  return ranges
    .map((r) => ({ start: Math.max(0, r.start - seg.offsetMs), end: Math.min(seg.durationMs, r.end - seg.offsetMs) }))
    .filter((r) => r.end > r.start);
}

const even = (n: number) => Math.max(2, Math.floor(n / 2) * 2);
const hueOf = (hex: string) => parseInt(hex.replace(/^0x/, ''), 16) % 360;

/** The fixture writes frames at 0, 1/fps, … up to durationMs: first to last frame spans this. */
export function videoSpanMs(durationMs: number, fps: number): number {
  return Math.round((Math.floor((durationMs * fps) / 1000) * 1000) / fps);
}

async function writeVideo(file: string, p: FixtureParticipant, seg: FixtureSegment, o: Required<Pick<FixtureOptions, 'width' | 'height' | 'fps'>>) {
  const flashes = localRanges((p.flashesMs ?? []).map((f) => ({ start: f, end: f + FLASH_MS - 1 })), seg);
  const { width: w, height: h, fps } = o;
  const box = Math.max(8, Math.round(h / 8));
  // A small box moving along the bottom edge (motion), the colour everywhere else, white while flashing.
  const graph =
    `color=c=${p.color}:s=${w}x${h}:r=${fps}:d=${sec(seg.durationMs + 1000 / fps)},format=yuv420p,` +
    `drawbox=x=0:y=${h - box}:w=${w}:h=${box}:color=black:t=fill,` +
    `drawbox=x=0:y=0:w=${w}:h=${h}:color=white:t=fill:enable='${windowExpr(flashes)}'[bg];` +
    `color=c=0xffff00:s=${box}x${box}:r=${fps}[dot];` +
    `[bg][dot]overlay=x='mod(t*${Math.round(w / 3)},${w - box})':y=${h - box}:shortest=1` +
    (p.pattern === 'busy'
      ? `[flat];testsrc2=s=${even(w / 3)}x${even(h / 2.4)}:r=${fps},hue=h=${hueOf(p.color)}[busy];` +
        `[flat][busy]overlay=x='(W-w)/2+W/3.5*sin(t*1.3)':y='(H-h)/2.5+H/5*cos(t*0.9)':shortest=1`
      : '');
  const frames = Math.floor((seg.durationMs * fps) / 1000) + 1;
  const tmp = `${file}.tmp.webm`;
  await ffmpeg([
    '-filter_complex', graph, '-frames:v', String(frames),
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', p.pattern === 'busy' ? '800k' : '600k', '-g', String(fps), '-threads', '2',
    '-f', 'webm', seg.videoTimestampScale ? tmp : file,
  ]);
  if (seg.videoTimestampScale) {
    await ffmpeg(['-itsscale', String(seg.videoTimestampScale), '-i', tmp, '-c', 'copy', '-f', 'webm', file]);
    await rm(tmp, { force: true });
  }
}

async function writeAudio(file: string, p: FixtureParticipant, seg: FixtureSegment) {
  const amp = p.toneAmplitude ?? 0.15;
  const beeps = localRanges((p.flashesMs ?? []).map((f) => ({ start: f, end: f + FLASH_MS })), seg);
  const speaks = p.speaksMs ? localRanges(p.speaksMs, seg) : [{ start: 0, end: seg.durationMs + 20 }];
  const expr = `${amp}*sin(2*PI*${p.toneHz}*t)*(${windowExpr(speaks)})+0.3*sin(2*PI*${BEEP_HZ}*t)*(${windowExpr(beeps)})`;
  // The sidecar's duration runs first → last frame; the file holds one more 20 ms frame.
  await ffmpeg([
    '-f', 'lavfi', '-i', `aevalsrc='${expr}|${expr}':s=48000:d=${sec(seg.durationMs + 20)}`,
    '-c:a', 'libopus', '-b:a', '64k', '-f', 'webm', file,
  ]);
}

function levelsFor(p: FixtureParticipant, seg: FixtureSegment, intervalMs: number): AudioLevels {
  const n = Math.floor(seg.durationMs / intervalMs) + 1;
  const levels = Array.from({ length: n }, (_, i) => {
    const t = seg.offsetMs + i * intervalMs;
    const speaking = !p.speaksMs || p.speaksMs.some((r) => r.start <= t && t < r.end);
    return speaking ? -20 : -127;
  });
  return { version: 1, intervalMs, offsetMs: seg.offsetMs, levels };
}

/** Writes every segment's media and sidecars under `<root>/<meetingId>/`. */
export async function writeFixture(o: FixtureOptions): Promise<FixtureFile[]> {
  const dir = path.join(o.root, o.meetingId);
  await mkdir(dir, { recursive: true });
  const video = { width: o.width ?? 320, height: o.height ?? 180, fps: o.fps ?? 30 };
  const startedAt = o.recordingStartedAt ?? 1_700_000_000_000;
  const intervalMs = o.levelsIntervalMs ?? 100;
  const jobs: (() => Promise<FixtureFile>)[] = [];
  for (const p of o.participants) {
    p.segments.forEach((seg, segmentIndex) => {
      for (const kind of ['video', 'audio'] as const) {
        if (seg[kind] === false) continue;
        jobs.push(
          async () => {
            const trackId = `${kind[0]}${segmentIndex}`;
            const stem = `${startedAt + seg.offsetMs}-${o.recordingId}-${p.participantId}-${kind}-${trackId}`;
            const file = `${stem}.webm`;
            const levelsFile = kind === 'audio' ? `${stem}.levels.json` : null;
            if (kind === 'video') await writeVideo(path.join(dir, file), p, seg, video);
            else await writeAudio(path.join(dir, file), p, seg);
            if (levelsFile) await writeFile(path.join(dir, levelsFile), JSON.stringify(levelsFor(p, seg, intervalMs)));
            const meta: SegmentMeta = {
              version: 1,
              meetingId: o.meetingId,
              recordingId: o.recordingId,
              participantId: p.participantId,
              participantName: p.name,
              role: p.role,
              kind,
              trackId,
              codec: kind === 'video' ? 'vp8' : 'opus',
              file,
              segmentIndex,
              offsetMs: seg.offsetMs,
              // As the recorder measures it: first frame to the end of the last (one frame step after it).
              durationMs: kind === 'video' ? videoSpanMs(seg.durationMs, video.fps) + Math.round(1000 / video.fps) : seg.durationMs,
              startedAt: startedAt + seg.offsetMs,
              endedAt: startedAt + seg.offsetMs + seg.durationMs,
              finalized: true,
              packets: 1,
              bytes: 1,
              levelsFile,
            };
            await writeFile(path.join(dir, `${stem}.json`), JSON.stringify(meta, null, 2));
            return { participantId: p.participantId, kind, segmentIndex, file, sidecar: `${stem}.json` };
          },
        );
      }
    });
  }
  // Two encoders at a time: the machine has 2 cores.
  const results = new Array<FixtureFile>(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** Rewrites a sidecar (e.g. to make it look not finalized). */
export async function patchSidecar(dir: string, sidecar: string, patch: Partial<SegmentMeta>, read: (f: string) => Promise<string>) {
  const meta = { ...JSON.parse(await read(path.join(dir, sidecar))), ...patch };
  const tmp = path.join(dir, `${sidecar}.tmp`);
  await writeFile(tmp, JSON.stringify(meta, null, 2));
  await rename(tmp, path.join(dir, sidecar));
}
