import path from 'node:path';
import type { Logger } from 'pino';
import type { AudioLevels } from '../../events/segment.js';
import { findSegments } from '../composer/inputs.js';
import { isId } from '../../events/ids.js';

/**
 * The audio levels the recorder wrote for a recording's segments
 * (`<stem>.levels.json` beside each audio track), read as the composer reads
 * them. A missing folder or file is no levels, never an error.
 */
export async function readRecordingLevels(root: string, meetingId: string, recordingId: string, logger: Logger): Promise<{ participantId: string; levels: AudioLevels }[]> {
  if (!isId(meetingId) || meetingId.startsWith('.')) return [];
  const found = await findSegments(path.join(root, meetingId), meetingId, recordingId, logger).catch(() => []);
  return found.flatMap((f) => (f.levels ? [{ participantId: f.meta.participantId, levels: f.levels }] : []));
}
