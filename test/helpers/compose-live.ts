import path from 'node:path';
import pino from 'pino';
import { DEFAULT_FONT } from '../../src/composer/drawtext.js';
import { createLiveSession } from '../../src/composer/live/session.js';
import type { ComposeRequest, ComposeResult } from '../../src/composer/types.js';
import { FFMPEG, FFPROBE } from '../../tools/lib/compose-fixtures.js';
import { eventually } from './wait.js';

/**
 * A finished recording's track files composed by the live composer as if it
 * had watched the recording: every window composed while "recording" (the
 * clock is past the end, all files are finished), then finish() as the stop's job.
 */
export async function composeLive(root: string, req: ComposeRequest & { width: number; height: number; fps: number }, windowMs: number): Promise<ComposeResult> {
  const session = createLiveSession({
    dir: path.join(root, req.meetingId), meetingId: req.meetingId, recordingId: req.recordingId,
    startedAt: Date.now() - req.durationMs - 60_000, layout: req.layout, format: req.format,
    width: req.width, height: req.height, fps: req.fps, namePlates: true, fontFile: DEFAULT_FONT,
    windowMs, lagMs: 0, maxLagMs: 0, ffmpeg: FFMPEG, ffprobe: FFPROBE, logger: pino({ level: 'warn' }), pollMs: 20,
    maxEndMs: req.durationMs,
  });
  session.start();
  const full = Math.floor(req.durationMs / windowMs) * windowMs;
  await eventually(() => session.status().composedUpToMs >= full || session.status().state !== 'recording', 120_000, 20);
  const result = await session.finish(req);
  if (!result) throw new Error(`live composition failed: ${session.status().error}`);
  return result;
}
