import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { videoFrameSize } from '../../../src/recorder/frame-size.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'frame-size-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One encoded keyframe of testsrc2 at w×h, as the depacketizer would hand it over. */
async function keyframe(codec: 'vp8' | 'vp9' | 'h264', w: number, h: number): Promise<Buffer> {
  const out = path.join(dir, `${codec}-${w}x${h}.${codec === 'h264' ? 'h264' : 'ivf'}`);
  const enc =
    codec === 'vp8' ? ['-c:v', 'libvpx'] : codec === 'vp9' ? ['-c:v', 'libvpx-vp9'] : ['-c:v', 'libx264', '-profile:v', 'high'];
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=30`, '-frames:v', '1', ...enc, '-pix_fmt', 'yuv420p', out]);
  const data = await readFile(out);
  if (codec === 'h264') return data; // Annex-B
  const frameSize = data.readUInt32LE(32); // IVF: 32-byte file header, 12-byte frame header
  return data.subarray(44, 44 + frameSize);
}

describe('videoFrameSize', () => {
  it.each([
    ['vp8', 320, 240],
    ['vp8', 1280, 720],
    ['vp9', 320, 240],
    ['vp9', 642, 362],
    ['h264', 320, 240],
    ['h264', 1280, 720],
    ['h264', 642, 362],
  ] as const)('reads %s %dx%d from a keyframe', async (codec, w, h) => {
    expect(videoFrameSize(codec, await keyframe(codec, w, h))).toEqual({ width: w, height: h });
  });

  it('returns null for garbage or non-keyframes', () => {
    expect(videoFrameSize('vp8', Buffer.from([1, 2, 3]))).toBeNull();
    expect(videoFrameSize('vp9', Buffer.alloc(0))).toBeNull();
    expect(videoFrameSize('h264', Buffer.from([0, 0, 1, 0x41, 0xff]))).toBeNull();
    expect(videoFrameSize('opus', Buffer.from([1]))).toBeNull();
  });
});
