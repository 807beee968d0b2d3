import { describe, expect, it } from 'vitest';
import { segmentMetaSchema } from '../../../events/segment.js';

const old = {
  version: 1, meetingId: 'm', recordingId: 'r', participantId: 'p', participantName: null, role: 'host', kind: 'audio', trackId: 't',
  codec: 'opus', file: 'f.webm', segmentIndex: 0, offsetMs: 12, durationMs: 1000, startedAt: 1, endedAt: 2, finalized: true,
  packets: 1, bytes: 1, levelsFile: null,
};

describe('segment sidecar', () => {
  it('reads a sidecar written before lip sync (no sync field)', () => {
    expect(segmentMetaSchema.parse(old).sync).toBeUndefined();
  });
  it('reads one placed by Sender Reports, and refuses a clock rate no real sender has', () => {
    const sync = { source: 'sender-reports', scale: 0.9999, senderToServerMs: -3.5, reports: [{ mediaMs: -12.5, senderMs: 1.7e12 }], rejectedReports: 1 };
    expect(segmentMetaSchema.parse({ ...old, sync }).sync).toEqual(sync);
    expect(segmentMetaSchema.safeParse({ ...old, sync: { ...sync, scale: 1.5 } }).success).toBe(false);
  });
});
