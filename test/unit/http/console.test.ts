import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventType } from '../../../events/catalog.js';
import { createConsoleFeed } from '../../../src/http/console.js';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { createRuntime, type EventInput } from '../../../src/runtime/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the console’s live view', () => {
  it('given a room recording with a flowing peer, it shows the members, the peer and each track’s bitrate and packets lost', async () => {
    const log = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
    let now = Date.parse('2026-11-25T10:00:00Z');
    const rt = createRuntime({ log, logger: pino({ level: 'silent' }), clock: () => now });
    const feed = createConsoleFeed({ runtime: rt, logger: pino({ level: 'silent' }), accessControl: false });
    const d = async <T extends EventType>(stream: string, type: T, data: EventInput<T>['data']) => {
      const r = await rt.dispatch({ stream, type, data });
      if (!r.accepted) throw new Error(`${type}: ${r.message}`);
    };
    await d('room:r', 'room.member.joined', { participantId: 'a', name: 'Anna', nodeId: 'n1' });
    await d('room:r', 'room.member.joined', { participantId: 'b', name: null, nodeId: 'n1' });
    await d('room:r', 'room.recording.requested', { recordingId: 'rec', layout: 'grid', format: 'webm' });
    await d('peer:rec.a', 'peer.offer.received', { sdp: 'v=0' });
    await d('peer:rec.a', 'peer.track.received', { offerNumber: 1, kind: 'video', codec: 'vp8', trackId: 't1' });
    await d('peer:rec.a', 'peer.track.received', { offerNumber: 1, kind: 'audio', codec: 'opus', trackId: 't2' });
    await d('peer:rec.a', 'peer.connected', { offerNumber: 1 });
    await d('peer:rec.a', 'peer.media.started', { offerNumber: 1, kind: 'video' });
    const stats = (video: number, lost: number) => ({
      offerNumber: 1,
      packets: 10,
      bytes: video + 4000,
      lost,
      byKind: { video: { packets: 8, bytes: video, lost }, audio: { packets: 2, bytes: 4000, lost: 0 } },
    });
    await d('peer:rec.a', 'peer.media.stats', stats(50_000, 1));
    now += 500;
    await d('peer:rec.a', 'peer.media.stats', stats(62_500, 2)); // 62,500 bytes in 500 ms: 1 Mbps
    const v = feed.view();
    expect(v.rooms).toEqual([{ roomId: 'r', nodeId: 'n1', hostId: 'a', recordingId: 'rec', members: [{ participantId: 'a', name: 'Anna', role: 'host' }, { participantId: 'b', name: null, role: 'participant' }] }]);
    const [rec] = v.recordings;
    expect(rec).toMatchObject({ recordingId: 'rec', roomId: 'r', state: 'recording' });
    const a = rec!.participants.find((p) => p.participantId === 'a')!;
    expect(a.peer).toMatchObject({ state: 'flowing', problem: null });
    expect(a.peer!.tracks).toEqual([
      { kind: 'video', codec: 'vp8', packets: 16, lost: 3, bytes: 112_500, bitrateKbps: 1000 },
      { kind: 'audio', codec: 'opus', packets: 4, lost: 0, bytes: 8000, bitrateKbps: 64 },
    ]);
    expect(rec!.participants.find((p) => p.participantId === 'b')!.peer).toMatchObject({ state: 'requested', tracks: [] });
    // a new offer is a new peer: its counts start again
    await d('peer:rec.a', 'peer.offer.received', { sdp: 'v=0 again' });
    expect(feed.view().recordings[0]!.participants.find((p) => p.participantId === 'a')!.peer!.tracks).toEqual([]);
    feed.close();
    await rt.close();
    await log.close();
  });
});
