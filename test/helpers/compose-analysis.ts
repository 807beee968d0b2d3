/**
 * Measures a composed file by decoding it: mean colours of tile regions per
 * frame, and tone envelopes of the mixed audio (Goertzel), in TypeScript.
 */
import { spawn } from 'node:child_process';
import type { Rect } from '../../src/composer/geometry.js';
import { FFMPEG, FFPROBE, run } from '../../tools/lib/compose-fixtures.js';

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export interface OutputInfo {
  durationMs: number;
  video: { codec: string; width: number; height: number; startMs: number; fps: number } | null;
  audio: { codec: string; startMs: number } | null;
}

export async function probeOutput(file: string): Promise<OutputInfo> {
  const r = await run(FFPROBE, [
    '-v', 'error', '-of', 'json',
    '-show_entries', 'format=duration:stream=codec_type,codec_name,width,height,start_time,r_frame_rate', file,
  ]);
  const j = JSON.parse(r.stdout.toString()) as { format: { duration: string }; streams: Record<string, string | number>[] };
  const v = j.streams.find((s) => s.codec_type === 'video');
  const a = j.streams.find((s) => s.codec_type === 'audio');
  const rate = (s: string) => {
    const [n, d] = s.split('/').map(Number);
    return n! / (d || 1);
  };
  return {
    durationMs: Number(j.format.duration) * 1000,
    video: v
      ? { codec: String(v.codec_name), width: Number(v.width), height: Number(v.height), startMs: Number(v.start_time) * 1000, fps: rate(String(v.r_frame_rate)) }
      : null,
    audio: a ? { codec: String(a.codec_name), startMs: Number(a.start_time) * 1000 } : null,
  };
}

/** Mean colour of each region, per decoded frame (frames in presentation order at the output's constant rate). */
export async function regionMeans(file: string, size: { width: number; height: number }, regions: Rect[]): Promise<Rgb[][]> {
  const frameBytes = size.width * size.height * 3;
  const child = spawn(FFMPEG, ['-v', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const frames: Rgb[][] = [];
  let pending: Buffer = Buffer.alloc(0);
  child.stdout.on('data', (d: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    while (pending.length >= frameBytes) {
      const f = pending.subarray(0, frameBytes);
      frames.push(
        regions.map((r) => {
          let R = 0, G = 0, B = 0;
          for (let y = r.y; y < r.y + r.h; y++) {
            let i = (y * size.width + r.x) * 3;
            for (let x = 0; x < r.w; x++, i += 3) {
              R += f[i]!;
              G += f[i + 1]!;
              B += f[i + 2]!;
            }
          }
          const n = r.w * r.h;
          return { r: R / n, g: G / n, b: B / n };
        }),
      );
      pending = Buffer.from(pending.subarray(frameBytes));
    }
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((res) => child.once('close', res));
  if (code !== 0) throw new Error(`decoding ${file} failed: ${err}`);
  return frames;
}

/** The left channel as float samples at 48 kHz, sample 0 = time 0 of the file. */
export async function decodeAudio(file: string): Promise<Float32Array> {
  const r = await run(FFMPEG, [
    // -copyts: sample 0 is the file's time 0. Without it ffmpeg moves the timestamps by minus the
    // container's start (-6.5 ms for an Opus WebM whose codec delay is at a negative timestamp) and
    // every sound measured 6.5-8 ms late.
    '-v', 'error', '-nostdin', '-copyts', '-i', file, '-map', '0:a:0', '-af', 'aresample=48000:async=1:first_pts=0,pan=mono|c0=FL',
    '-f', 'f32le', 'pipe:1',
  ]);
  if (r.code !== 0) throw new Error(`decoding audio of ${file} failed: ${r.stderr}`);
  const b = r.stdout;
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length - (b.length % 4)));
}

/**
 * Amplitude of one frequency in Hann-windowed windows of `windowMs`, every
 * `hopMs`; t is the window's centre (ms). A step onset crosses half its
 * amplitude when the window's centre passes it (the window is symmetric).
 */
export function toneEnvelope(samples: Float32Array, hz: number, opts: { windowMs?: number; hopMs?: number; rate?: number } = {}) {
  const rate = opts.rate ?? 48000;
  const n = Math.round(((opts.windowMs ?? 20) * rate) / 1000);
  const hop = Math.round(((opts.hopMs ?? 2) * rate) / 1000);
  const w = Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  const wsum = w.reduce((a, b) => a + b, 0);
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / rate);
  const out: { t: number; amp: number }[] = [];
  for (let start = 0; start + n <= samples.length; start += hop) {
    let s1 = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = samples[start + i]! * w[i]! + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    out.push({ t: ((start + n / 2) * 1000) / rate, amp: (2 * Math.sqrt(Math.max(0, power))) / wsum });
  }
  return out;
}

/** First time (ms) at or after `fromMs` where the envelope reaches `level`. */
export function onset(env: { t: number; amp: number }[], level: number, fromMs = 0): number | null {
  return env.find((e) => e.t >= fromMs && e.amp >= level)?.t ?? null;
}

export function meanAmp(env: { t: number; amp: number }[], fromMs: number, toMs: number): number {
  const w = env.filter((e) => e.t >= fromMs && e.t <= toMs);
  return w.reduce((s, e) => s + e.amp, 0) / Math.max(1, w.length);
}

export function maxAmp(env: { t: number; amp: number }[], fromMs: number, toMs: number): number {
  return Math.max(0, ...env.filter((e) => e.t >= fromMs && e.t <= toMs).map((e) => e.amp));
}

export function hexRgb(hex: string): Rgb {
  const n = parseInt(hex.replace(/^0x|^#/, ''), 16);
  return { r: (n >> 16) & 255, g: (n >> 8) & 255, b: n & 255 };
}

export const colorDistance = (a: Rgb, b: Rgb) => Math.hypot(a.r - b.r, a.g - b.g, a.b - b.b);
export const isWhite = (c: Rgb) => c.r > 200 && c.g > 200 && c.b > 200;
export const isDark = (c: Rgb) => c.r < 70 && c.g < 70 && c.b < 70;

/** A patch in the upper right of a tile: away from the name plate, the placeholder name and the fixture's moving box. */
export function probeRegion(tile: Rect): Rect {
  const x = tile.x + Math.round(tile.w * 0.6);
  const y = tile.y + Math.round(tile.h * 0.12);
  return { x, y, w: Math.max(2, Math.round(tile.w * 0.3)), h: Math.max(2, Math.round(tile.h * 0.3)) };
}
