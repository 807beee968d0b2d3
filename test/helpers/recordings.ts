import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The track sidecars (`<stem>.json`, not levels) in one meeting's folder: one per track being written or written. */
export async function trackSidecarsIn(root: string, meetingId: string): Promise<string[]> {
  return (await readdir(join(root, meetingId)).catch(() => [] as string[])).filter((f) => f.endsWith('.json') && !f.endsWith('.levels.json'));
}
