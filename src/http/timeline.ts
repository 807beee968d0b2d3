import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isId } from '../../events/ids.js';
import { recordingStream } from '../../events/streams.js';
import type { EventLog } from '../log/types.js';
import { readRecordingLevels } from '../replay/levels.js';
import { recordingTimeline, withSpeech } from '../replay/index.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Caller } from './access.js';
import { HttpError, sendJson } from './respond.js';

export interface TimelineContext {
  runtime: Runtime;
  log: EventLog;
  root: string;
  logger: Logger;
}

/**
 * GET /api/recording-sessions/:id/timeline — the recording's timeline
 * (src/replay/timeline.ts) from the events of the log correlated with it,
 * folded as the replay tool folds them, with speech from its levels files.
 * The same rules as the session itself: a token that may view its room.
 */
export async function getTimeline(ctx: TimelineContext, res: ServerResponse, recordingId: string, who: Caller): Promise<void> {
  if (!isId(recordingId)) throw new HttpError(400, `invalid recording id: ids are 1-128 characters of A-Z a-z 0-9 . _ -`);
  const session = await ctx.runtime.read(recordingStream(recordingId));
  if (!session) throw new HttpError(404, `unknown recording session ${recordingId}`);
  const roomId: string | null = session.snapshot.context.roomId;
  who.view(roomId ?? '');
  const started = Date.now();
  const timeline = await recordingTimeline(ctx.log.read({ correlationId: recordingId }), recordingId);
  if (!timeline) throw new HttpError(404, `unknown recording session ${recordingId}`);
  const levels = roomId ? await readRecordingLevels(ctx.root, roomId, recordingId, ctx.logger) : [];
  ctx.logger.debug({ recordingId, roomId, events: timeline.events, ms: Date.now() - started }, 'timeline built');
  sendJson(res, 200, { success: true, timeline: withSpeech(timeline, levels) });
}
