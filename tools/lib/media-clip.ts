/**
 * A short synthetic clip, encoded ONCE with ffmpeg (VP8 in IVF, Opus in Ogg)
 * and held in memory as RTP payloads, so the load generator can loop it into
 * any number of werift tracks without one encoder per participant.
 *
 * The parsers and the VP8 packetizer are pure (tested in
 * test/unit/tools/loadgen-helpers.test.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childCpuSeconds } from './proc.js';

export interface EncodedFrame {
  data: Buffer;
  keyframe: boolean;
}

export interface ClipOptions {
  seconds: number;
  width: number;
  height: number;
  fps: number;
  gopFrames: number;
  videoKbps: number;
  audioKbps: number;
  ffmpegPath: string;
}

export interface Clip {
  fps: number;
  width: number;
  height: number;
  /** VP8 frames in decode order (one per 1/fps). */
  video: EncodedFrame[];
  /** Opus packets, 20 ms each. */
  audio: Buffer[];
  /** Average encoded bitrates of the clip (payload only). */
  videoKbps: number;
  audioKbps: number;
  /** CPU seconds ffmpeg spent encoding it (user + system). */
  encodeCpuSeconds: number;
  encodeWallMs: number;
}

/** Pure: the ffmpeg arguments that encode the clip into two files (same encoder settings as test/helpers/sender.ts). */
export function clipFfmpegArgs(o: Omit<ClipOptions, 'ffmpegPath'>, videoOut: string, audioOut: string): string[] {
  const d = o.seconds.toFixed(3);
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}:duration=${d}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${d}`,
    '-map', '0:v',
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0',
    '-b:v', `${o.videoKbps}k`, '-minrate', `${o.videoKbps}k`, '-maxrate', `${o.videoKbps}k`, '-bufsize', `${Math.round(o.videoKbps / 2)}k`,
    '-g', String(o.gopFrames), '-keyint_min', String(o.gopFrames),
    '-f', 'ivf', videoOut,
    '-map', '1:a',
    '-c:a', 'libopus', '-b:a', `${o.audioKbps}k`, '-ar', '48000', '-ac', '2', '-frame_duration', '20', '-application', 'lowdelay',
    '-f', 'ogg', audioOut,
  ];
}

/** Pure: IVF (VP8) → frames. A VP8 frame is a keyframe when bit 0 of its first byte is 0. */
export function parseIvf(buf: Buffer): { fourcc: string; width: number; height: number; frames: EncodedFrame[] } {
  if (buf.length < 32 || buf.toString('ascii', 0, 4) !== 'DKIF') throw new Error('not an IVF file');
  const headerLen = buf.readUInt16LE(6);
  const fourcc = buf.toString('ascii', 8, 12);
  const width = buf.readUInt16LE(12);
  const height = buf.readUInt16LE(14);
  const frames: EncodedFrame[] = [];
  let i = headerLen;
  while (i + 12 <= buf.length) {
    const size = buf.readUInt32LE(i);
    const start = i + 12;
    if (start + size > buf.length) break; // truncated tail
    const data = Buffer.from(buf.subarray(start, start + size));
    frames.push({ data, keyframe: size > 0 && (data[0]! & 0x01) === 0 });
    i = start + size;
  }
  return { fourcc, width, height, frames };
}

/** Pure: the packets of one logical Ogg stream (the first serial seen), in order. */
export function parseOggPackets(buf: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  let serial: number | null = null;
  let i = 0;
  while (i + 27 <= buf.length) {
    if (buf.toString('ascii', i, i + 4) !== 'OggS') throw new Error(`bad Ogg page at ${i}`);
    const pageSerial = buf.readUInt32LE(i + 14);
    const nsegs = buf[i + 26]!;
    const table = buf.subarray(i + 27, i + 27 + nsegs);
    let p = i + 27 + nsegs;
    const mine = serial === null || serial === pageSerial;
    if (serial === null) serial = pageSerial;
    for (const lace of table) {
      if (mine) partial.push(buf.subarray(p, p + lace));
      p += lace;
      if (lace < 255 && mine) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    i = p;
  }
  return packets;
}

/** Pure: duration in 48 kHz samples of one Opus packet, from its TOC byte (RFC 6716 §3.1). */
export function opusPacketSamples(packet: Buffer): number {
  if (packet.length < 1) return 0;
  const toc = packet[0]!;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3]!;
  else if (config < 16) frameSamples = [480, 960][config & 1]!;
  else frameSamples = [120, 240, 480, 960][config & 3]!;
  const c = toc & 3;
  const frames = c === 0 ? 1 : c === 3 ? (packet[1] ?? 0) & 0x3f : 2;
  return frameSamples * frames;
}

/** Pure: Ogg Opus → audio packets (drops the OpusHead and OpusTags headers). */
export function parseOggOpus(buf: Buffer): Buffer[] {
  const packets = parseOggPackets(buf);
  if (packets.length < 2 || packets[0]!.toString('ascii', 0, 8) !== 'OpusHead') throw new Error('not an Ogg Opus stream');
  return packets.slice(2).filter((p) => p.length > 0);
}

/**
 * Pure: RFC 7741 VP8 payloads for one frame: a 4-byte descriptor (X, I, M:
 * 15-bit picture id; S on the first packet, partition 0) and at most
 * maxPayload bytes of frame data each.
 */
export function packetizeVp8(frame: Buffer, pictureId: number, maxPayload = 1100): Buffer[] {
  const out: Buffer[] = [];
  const pid = pictureId & 0x7fff;
  for (let off = 0, first = true; first || off < frame.length; first = false) {
    const n = Math.min(maxPayload, frame.length - off);
    const p = Buffer.allocUnsafe(4 + n);
    p[0] = 0x80 | (first ? 0x10 : 0);
    p[1] = 0x80;
    p[2] = 0x80 | (pid >> 8);
    p[3] = pid & 0xff;
    frame.copy(p, 4, off, off + n);
    out.push(p);
    off += n;
  }
  return out;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** Encodes the clip (a few seconds of CPU, once) and loads it into memory. */
export async function encodeClip(o: ClipOptions): Promise<Clip> {
  const dir = await mkdtemp(join(tmpdir(), 'loadgen-clip-'));
  try {
    const v = join(dir, 'video.ivf');
    const a = join(dir, 'audio.ogg');
    const t0 = Date.now();
    const cpu0 = childCpuSeconds();
    const r = await run(o.ffmpegPath, clipFfmpegArgs(o, v, a));
    if (r.code !== 0) throw new Error(`ffmpeg could not encode the clip (exit ${r.code}): ${r.stderr}`);
    const wall = Date.now() - t0;
    const ivf = parseIvf(await readFile(v));
    if (ivf.fourcc !== 'VP80') throw new Error(`unexpected IVF fourcc ${ivf.fourcc}`);
    if (!ivf.frames[0]?.keyframe) throw new Error('clip does not start with a keyframe');
    const audio = parseOggOpus(await readFile(a));
    for (const p of audio) {
      if (opusPacketSamples(p) !== 960) throw new Error('expected 20 ms Opus packets');
    }
    const vBytes = ivf.frames.reduce((s, f) => s + f.data.length, 0);
    const aBytes = audio.reduce((s, p) => s + p.length, 0);
    return {
      fps: o.fps,
      width: ivf.width,
      height: ivf.height,
      video: ivf.frames,
      audio,
      videoKbps: (vBytes * 8) / (ivf.frames.length / o.fps) / 1000,
      audioKbps: (aBytes * 8) / (audio.length * 0.02) / 1000,
      encodeCpuSeconds: childCpuSeconds() - cpu0,
      encodeWallMs: wall,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
