import { describe, expect, it } from 'vitest';
import { ev, given } from '../../helpers/given.js';

const failed = (stream: string, kind: string) => ev(stream, `${kind}.action.failed` as never, { action: 'emit', error: 'log gone', retrying: false });

/** `<kind>.action.failed` is the runtime's report of a failed action: taken in any state, it changes nothing and asks for nothing. */
describe('a failed action reported to its stream', () => {
  const cases = [
    { kind: 'room', stream: 'room:r1', history: [ev('room:r1', 'room.member.joined', { participantId: 'h', name: null, nodeId: 'n1' })], state: 'open' },
    {
      kind: 'recording',
      stream: 'recording:rec1',
      history: [ev('recording:rec1', 'recording.started', { recordingId: 'rec1', roomId: 'r1', layout: 'grid', format: 'webm', startedAt: 5, members: [{ participantId: 'h', role: 'host', name: null }] })],
      state: 'recording',
    },
    {
      kind: 'peer',
      stream: 'peer:rec1.h',
      history: [
        ev('peer:rec1.h', 'peer.requested', { recordingId: 'rec1', roomId: 'r1', participantId: 'h', role: 'host', name: null, layout: 'grid', format: 'webm', startedAt: 5, segmentBase: 0 }),
        ev('peer:rec1.h', 'peer.offer.received', { sdp: 'v=0' }),
      ],
      state: 'negotiating',
    },
    {
      kind: 'composition',
      stream: 'composition:j1',
      history: [ev('composition:j1', 'composition.requested', { jobId: 'j1', recordingId: 'rec1', meetingId: 'r1', layout: 'grid', format: 'webm', durationMs: 1000, maxAttempts: 2 })],
      state: 'queued',
    },
    {
      kind: 'upload',
      stream: 'upload:j1',
      history: [
        ev('upload:j1', 'upload.requested', {
          jobId: 'j1', recordingId: 'rec1', meetingId: 'r1', bucket: 'b',
          files: [{ file: 'o.webm', key: 'r1/o.webm', sizeBytes: 1 }], retry: { maxAttempts: 2, baseMs: 1000, maxMs: 4000 },
        }),
      ],
      state: 'pending',
    },
  ];
  it.each(cases)('$kind: accepted in $state, the state and context stay, no effects', ({ kind, stream, history, state }) => {
    const g = given(stream, history);
    expect(g.snapshot.value).toBe(state);
    const r = g.when(failed(stream, kind));
    expect(r.accepted).toBe(true);
    expect(r.snapshot.value).toBe(state);
    expect(r.snapshot.context).toEqual(g.snapshot.context);
    expect(r.snapshot).not.toBe(g.snapshot); // a step the runtime records, not one it refuses
    expect([r.effects, r.emitted]).toEqual([[], []]);
  });
});
