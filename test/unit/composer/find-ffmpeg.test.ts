import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFfmpeg, findFfprobe } from '../../../src/composer/find-ffmpeg.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'find-ffmpeg-'));
  for (const name of ['ffmpeg', 'ffprobe']) {
    await writeFile(path.join(dir, name), '#!/bin/sh\n');
    await chmod(path.join(dir, name), 0o755);
  }
  await writeFile(path.join(dir, 'not-executable'), '');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('findFfmpeg / findFfprobe', () => {
  it('prefers FFMPEG_PATH', () => {
    expect(findFfmpeg({ FFMPEG_PATH: path.join(dir, 'ffmpeg'), PATH: '/nowhere' })).toBe(path.join(dir, 'ffmpeg'));
  });

  it('searches PATH', () => {
    expect(findFfmpeg({ PATH: ['/nowhere', dir].join(path.delimiter) })).toBe(path.join(dir, 'ffmpeg'));
  });

  it('says how to install it when it is missing', () => {
    expect(() => findFfmpeg({ PATH: '/nowhere' })).toThrow(/ffmpeg not found.*apt-get install ffmpeg/);
    expect(() => findFfmpeg({ FFMPEG_PATH: path.join(dir, 'not-executable') })).toThrow(/not an executable.*apt-get install ffmpeg/);
  });

  it('finds ffprobe beside the ffmpeg in use, or via FFPROBE_PATH', () => {
    expect(findFfprobe({ PATH: '/nowhere' }, path.join(dir, 'ffmpeg'))).toBe(path.join(dir, 'ffprobe'));
    expect(findFfprobe({ FFPROBE_PATH: path.join(dir, 'ffprobe') })).toBe(path.join(dir, 'ffprobe'));
    expect(() => findFfprobe({ PATH: '/nowhere' })).toThrow(/ffprobe not found.*apt-get install ffmpeg/);
  });
});
