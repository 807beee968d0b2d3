/**
 * Lip sync measured on decoded media: flash times from per-frame luma
 * (ffmpeg signalstats), beep onsets from the decoded audio's energy, and the
 * flash-to-beep offset of each pair. Used by the drift benchmark, its test and
 * the browser lip-sync test (reference and composed file measured the same way).
 */
import { runProcess } from '../../src/process/run.js';

export interface AvOffsets {
  flashesMs: number[];
  beepsMs: number[];
  /** picture − sound of each flash that has a beep within maxPairMs, in flash order. */
  offsetsMs: number[];
}

const MAX_OUT = 64 * 1024 * 1024;

async function run(bin: string, args: string[]): Promise<Buffer> {
  const r = await runProcess(bin, args, { maxStdoutBytes: MAX_OUT, timeoutMs: 600_000 });
  if (r.exitCode !== 0) throw new Error(`${bin} failed (${r.exitCode}): ${r.stderr.join(' ').slice(0, 400)}`);
  // Cut at the cap, the rest of the file would go unmeasured (a 30-minute file's end): say so instead.
  if (r.stdout.length >= MAX_OUT) throw new Error(`${bin}: output reached ${MAX_OUT} bytes, the measurement would not cover the whole file`);
  return r.stdout;
}

/** Audio is measured at this rate: enough for a 1 kHz beep's onset to the millisecond, and an hour fits MAX_OUT. */
const MEASURE_RATE = 8000;

/** Pure: rising edges of a per-frame brightness series above `threshold` (times of the first bright frame). */
export function risingEdges(series: readonly { t: number; v: number }[], threshold: number): number[] {
  const out: number[] = [];
  let high = false;
  for (const s of series) {
    const on = s.v > threshold;
    if (on && !high) out.push(s.t);
    high = on;
  }
  return out;
}

/** Pure: onsets in mono PCM (1 ms windows): the first window above `threshold` after at least `quietMs` below it. */
export function energyOnsets(pcm: Float32Array, sampleRate: number, threshold: number, quietMs = 200): number[] {
  const win = Math.round(sampleRate / 1000);
  const out: number[] = [];
  let quiet = quietMs;
  for (let w = 0; w * win < pcm.length; w++) {
    let peak = 0;
    for (let i = w * win; i < Math.min(pcm.length, (w + 1) * win); i++) peak = Math.max(peak, Math.abs(pcm[i]!));
    if (peak > threshold) {
      if (quiet >= quietMs) out.push(w);
      quiet = 0;
    } else quiet++;
  }
  return out;
}

/** Pure: each flash paired with the nearest beep within maxPairMs. */
export function pairOffsets(flashesMs: readonly number[], beepsMs: readonly number[], maxPairMs = 400): number[] {
  const out: number[] = [];
  for (const f of flashesMs) {
    let best: number | null = null;
    for (const b of beepsMs) if (Math.abs(f - b) <= maxPairMs && (best === null || Math.abs(f - b) < Math.abs(f - best))) best = b;
    if (best !== null) out.push(f - best);
  }
  return out;
}

/**
 * Time (ms) of the first decoded sample of a file's first audio stream: sample 0 of the decoded PCM.
 * Not the stream's start_time: Opus starts with a pre-skip the decoder drops (312 samples, 6.5 ms),
 * so a recorded track that starts at 0 decodes from 6.5 ms, and an ffmpeg-made one that starts at
 * -6.5 ms decodes from 0 (measured with start_time, both read 6.5 ms early).
 */
async function firstSampleMs(ffprobe: string, file: string): Promise<number> {
  const out = (
    await run(ffprobe, ['-v', 'error', '-select_streams', 'a:0', '-read_intervals', '%+2', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file])
  ).toString().trim();
  const v = Number.parseFloat(out.split('\n')[0] ?? ''); // csv lines may end in a comma (side data)
  return Number.isFinite(v) ? v * 1000 : 0;
}

/**
 * Luma of each frame, averaged over `region` (x, y, w, h as fractions of the frame; default whole).
 * Times are the frames' own timestamps (ms).
 */
export async function frameLuma(
  ffprobe: string,
  file: string,
  region: { x: number; y: number; w: number; h: number } = { x: 0, y: 0, w: 1, h: 1 },
): Promise<{ t: number; v: number }[]> {
  const esc = file.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/:/g, '\\:');
  const crop = `crop=iw*${region.w}:ih*${region.h}:iw*${region.x}:ih*${region.y}`;
  const out = await run(ffprobe, [
    '-v', 'error', '-f', 'lavfi', '-i', `movie='${esc}',${crop},signalstats`,
    '-show_entries', 'frame=pts_time:frame_tags=lavfi.signalstats.YAVG', '-of', 'csv=p=0',
  ]);
  const series: { t: number; v: number }[] = [];
  for (const line of out.toString().split('\n')) {
    const [t, v] = line.trim().split(',').map(Number);
    if (Number.isFinite(t) && Number.isFinite(v)) series.push({ t: t! * 1000, v: v! });
  }
  return series;
}

/** The file's first audio stream as mono PCM (-1..1) at `sampleRate`, and its start time. */
export async function decodeMono(ffmpeg: string, ffprobe: string, file: string, sampleRate = MEASURE_RATE): Promise<{ pcm: Float32Array; startMs: number }> {
  // 16-bit on the pipe: half of float's bytes, so a long file stays under the output cap.
  const buf = await run(ffmpeg, ['-v', 'error', '-nostdin', '-i', file, '-map', '0:a:0', '-ac', '1', '-ar', String(sampleRate), '-f', 's16le', '-']);
  const n = Math.floor(buf.length / 2);
  const pcm = new Float32Array(n);
  for (let i = 0; i < n; i++) pcm[i] = buf.readInt16LE(i * 2) / 32768;
  return { pcm, startMs: await firstSampleMs(ffprobe, file) };
}

export interface MeasureOptions {
  ffmpeg?: string;
  ffprobe?: string;
  /** Where the flashing picture is (fractions of the frame); default the whole frame. */
  region?: { x: number; y: number; w: number; h: number };
  /** Luma (0–255) a flash frame exceeds; default 128 (white on black). */
  lumaThreshold?: number;
  /** Fraction of the loudest sample a beep onset exceeds; default 0.3. */
  beepFraction?: number;
}

/** Flash times, beep onsets and their offsets in one media file. */
export async function measureAvOffsets(file: string, o: MeasureOptions = {}): Promise<AvOffsets> {
  const ffmpeg = o.ffmpeg ?? 'ffmpeg';
  const ffprobe = o.ffprobe ?? 'ffprobe';
  const [luma, audio] = await Promise.all([frameLuma(ffprobe, file, o.region), decodeMono(ffmpeg, ffprobe, file)]);
  const flashesMs = risingEdges(luma, o.lumaThreshold ?? 128);
  let peak = 0;
  for (const x of audio.pcm) peak = Math.max(peak, Math.abs(x));
  const beepsMs = energyOnsets(audio.pcm, MEASURE_RATE, peak * (o.beepFraction ?? 0.3)).map((ms) => ms + audio.startMs);
  return { flashesMs, beepsMs, offsetsMs: pairOffsets(flashesMs, beepsMs) };
}

/**
 * Pure: the same flashes in two files that start at different moments (a
 * reference that started earlier, say): the shift of `b` against `a` whose
 * per-flash differences (b − a) vary least, with those differences.
 */
export function alignOffsets(a: readonly number[], b: readonly number[], minPairs = 4): { shift: number; diffs: number[] } | null {
  let best: { shift: number; diffs: number[] } | null = null;
  for (let shift = -(b.length - 1); shift < a.length; shift++) {
    const diffs: number[] = [];
    for (let i = 0; i < b.length; i++) if (i + shift >= 0 && i + shift < a.length) diffs.push(b[i]! - a[i + shift]!);
    if (diffs.length < minPairs) continue;
    if (!best || spread(diffs) < spread(best.diffs) || (spread(diffs) === spread(best.diffs) && diffs.length > best.diffs.length)) best = { shift, diffs };
  }
  return best;
}

export const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
export const spread = (xs: readonly number[]) => (xs.length === 0 ? 0 : Math.max(...xs) - Math.min(...xs));
