import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLiveSession } from '../../../src/composer/live/session.js';

// What a restarted process takes from the manifest a crashed one left (the files only: finish() is crash.test's).
describe('resuming from the live chunks a crashed process left', () => {
  let dir: string;
  const work = () => path.join(dir, '.live-r1');
  const session = (over: Partial<Parameters<typeof createLiveSession>[0]> = {}) =>
    createLiveSession({
      dir, meetingId: 'm1', recordingId: 'r1', startedAt: 0, layout: 'grid', format: 'webm', width: 1280, height: 720, fps: 30,
      namePlates: true, fontFile: '/nonexistent.ttf', windowMs: 2000, lagMs: 0, maxLagMs: 0, ffmpeg: 'ffmpeg', ffprobe: 'ffprobe',
      logger: pino({ level: 'silent' }), ...over,
    });
  const manifest = (chunks: unknown[], over: Record<string, unknown> = {}) =>
    writeFile(path.join(work(), 'manifest.json'), JSON.stringify({ version: 1, layout: 'grid', format: 'webm', width: 1280, height: 720, fps: 30, windowMs: 2000, chunks, ...over }));
  const chunk = async (k: number, bytes = 10) => {
    const file = `chunk-${String(k).padStart(6, '0')}.mkv`;
    await writeFile(path.join(work(), file), Buffer.alloc(bytes));
    return { k, startMs: k * 2000, endMs: (k + 1) * 2000, file };
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'live-resume-'));
    await mkdir(work());
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('takes the whole chunks from 0, in order, up to the first missing, empty or out-of-order one', async () => {
    const c = [await chunk(0), await chunk(1), await chunk(2, 0), await chunk(3)];
    await manifest(c);
    const s = session();
    expect(await s.resume()).toBe(true);
    expect(s.status().composedUpToMs).toBe(4000); // chunk 2 is empty: 0 and 1 only
    expect(s.status().chunks).toBe(2);
  });

  it('takes nothing made with other settings, nothing without a manifest, and no file the session did not name', async () => {
    expect(await session().resume()).toBe(false); // no manifest
    const c = [await chunk(0)];
    await manifest(c, { layout: 'host-led' });
    expect(await session().resume()).toBe(false);
    await manifest(c, { fps: 25 });
    expect(await session().resume()).toBe(false);
    await manifest([{ ...c[0], file: '../../../etc/passwd' }]);
    expect(await session().resume()).toBe(false);
    await writeFile(path.join(work(), 'manifest.json'), '{not json');
    expect(await session().resume()).toBe(false);
    await manifest([{ ...c[0], startMs: 2000, endMs: 4000 }]); // does not start at 0
    expect(await session().resume()).toBe(false);
  });
});
