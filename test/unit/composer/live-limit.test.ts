import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createLiveComposer } from '../../../src/composer/live/index.js';

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

describe('live compositions at once (LIVE_COMPOSE_MAX)', () => {
  it('composes at most maxSessions recordings live; a stopped one (frozen, waiting for its job) does not count', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'live-limit-'));
    roots.push(root);
    const live = createLiveComposer({ root, logger: pino({ level: 'silent' }), maxSessions: 2, ffmpegPath: '/usr/bin/ffmpeg', ffprobePath: '/usr/bin/ffprobe' });
    const rec = (id: string) => ({ meetingId: 'm1', recordingId: id, startedAt: Date.now(), layout: 'grid' as const, format: 'webm' as const });
    try {
      expect(live.start(rec('r1'))).toBe(true);
      expect(live.start(rec('r2'))).toBe(true);
      expect(live.start(rec('r3'))).toBe(false); // composed after its stop
      expect(live.status('r3')).toBeNull();
      expect(live.start(rec('r1'))).toBe(true); // the same recording again: already composed live
      await live.freeze('r1');
      expect(live.start(rec('r4'))).toBe(true);
      expect(live.list().map((s) => s.recordingId).sort()).toEqual(['r1', 'r2', 'r4']);
      await live.drop('r2');
      expect(live.start(rec('r5'))).toBe(true);
      expect(live.start(rec('r6'))).toBe(false);
    } finally {
      await live.close();
    }
  });
});
