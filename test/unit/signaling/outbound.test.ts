import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { machines } from '../../../machines/index.js';
import { type StoredEvent } from '../../../events/envelope.js';
import { parseStream } from '../../../events/streams.js';
import { deliveriesFor } from '../../../src/signaling/outbound.js';
import type { AppliedEvent } from '../../../src/runtime/runtime.js';

/** given(events on one stream).when(event) → the deliveries it causes. */
function given(stream: string, events: [string, object][]) {
  const { kind, id } = parseStream(stream);
  const machine: AnyStateMachine = machines[kind];
  let [snapshot] = initialTransition(machine, { id });
  let position = 0;
  const apply = (type: string, data: object): AppliedEvent => {
    const event = { id: `e${++position}`, type, stream, position, time: 1_000 * position, causationId: null, correlationId: null, version: 1, data } as StoredEvent;
    const before: AnyMachineSnapshot = snapshot;
    [snapshot] = transition(machine, before, event as never);
    return { event, before, after: snapshot, local: true };
  };
  for (const [type, data] of events) apply(type, data);
  return { when: (type: string, data: object, get: (s: string) => AnyMachineSnapshot | undefined = () => undefined) => deliveriesFor(apply(type, data), get) };
}

const joined = (participantId: string, name: string | null = null): [string, object] => ['room.member.joined', { participantId, name, nodeId: 'n' }];

describe('events → server messages', () => {
  it('a join sends the member list to every member', () => {
    const d = given('room:r', [joined('h', 'Host')]).when(...joined('p'));
    expect(d).toEqual([
      {
        to: ['h', 'p'],
        message: { type: 'members', connectionId: 'r', members: [{ participantId: 'h', role: 'host', name: 'Host' }, { participantId: 'p', role: 'participant', name: null }] },
      },
    ]);
  });

  it('a participant leaving tells the host', () => {
    const d = given('room:r', [joined('h'), joined('p')]).when('room.member.left', { participantId: 'p', reason: 'left' });
    expect(d[0]).toEqual({ to: ['h'], message: { type: 'participant-left', connectionId: 'r', participantId: 'p' } });
  });

  it('the host leaving disconnects everyone else with host-left', () => {
    const d = given('room:r', [joined('h'), joined('p'), joined('q')]).when('room.member.left', { participantId: 'h', reason: 'socket-closed' });
    expect(d).toEqual([{ to: ['p', 'q'], message: { type: 'disconnect', connectionId: 'r', reason: 'host-left' } }]);
  });

  it('a leave the room does not know sends nothing', () => {
    expect(given('room:r', [joined('h')]).when('room.member.left', { participantId: 'x', reason: 'left' })).toEqual([]);
  });

  it('peer.requested sends recording-started then recording-peer-request to that participant', () => {
    const d = given('peer:rec.p', []).when('peer.requested', {
      recordingId: 'rec', roomId: 'r', participantId: 'p', role: 'participant', name: null, layout: 'grid', format: 'mp4', startedAt: 0, segmentBase: 0,
    });
    const fields = { connectionId: 'r', recordingId: 'rec', status: 'recording', layout: 'grid', format: 'mp4', startedAt: '1970-01-01T00:00:00.000Z' };
    expect(d).toEqual([
      { to: ['p'], message: { type: 'recording-started', ...fields } },
      { to: ['p'], message: { type: 'recording-peer-request', ...fields, mediaMode: 'webrtc-sendonly', participantId: 'p' } },
    ]);
  });

  it('recording.stop.requested sends recording-stopped to the recording’s participants and the room', () => {
    // the room now holds a member who joined after the start
    const room = { context: { members: { late: { participantId: 'late' } } } } as unknown as AnyMachineSnapshot;
    const d = given('recording:rec', [
      ['recording.started', { recordingId: 'rec', roomId: 'r', layout: 'grid', format: 'webm', startedAt: 500, members: [{ participantId: 'h', role: 'host', name: null }] }],
    ]).when('recording.stop.requested', { reason: 'api', compose: true, compositionJobId: 'j' }, (s) => (s === 'room:r' ? room : undefined));
    expect(d).toEqual([
      {
        to: ['h', 'late'],
        message: { type: 'recording-stopped', connectionId: 'r', recordingId: 'rec', status: 'stopped', layout: 'grid', format: 'webm', startedAt: new Date(500).toISOString(), stoppedAt: new Date(2000).toISOString() },
      },
    ]);
  });

  it('a failed session also sends recording-stopped, with the error', () => {
    const d = given('recording:rec', [
      ['recording.started', { recordingId: 'rec', roomId: 'r', layout: 'grid', format: 'webm', startedAt: 500, members: [{ participantId: 'h', role: 'host', name: null }] }],
    ]).when('recording.failed', { error: 'disk full' });
    expect(d).toEqual([
      {
        to: ['h'],
        message: expect.objectContaining({ type: 'recording-stopped', recordingId: 'rec', status: 'stopped', stoppedAt: new Date(2000).toISOString(), error: 'disk full' }),
      },
    ]);
  });

  it('peer answers, candidates and offer outcomes go to the peer’s participant only', () => {
    const peer = given('peer:rec.p', [
      ['peer.requested', { recordingId: 'rec', roomId: 'r', participantId: 'p', role: 'host', name: null, layout: 'grid', format: 'webm', startedAt: 0, segmentBase: 0 }],
    ]);
    const ref = { recordingId: 'rec', connectionId: 'r', participantId: 'p' };
    expect(peer.when('peer.offer.received', { sdp: 'o' })).toEqual([{ to: ['p'], message: { type: 'recording-status', ...ref, status: 'offer-received' } }]);
    expect(peer.when('peer.answered', { offerNumber: 1, sdp: 'a' })).toEqual([{ to: ['p'], message: { type: 'recording-answer', ...ref, sdp: 'a' } }]);
    expect(peer.when('peer.candidate.gathered', { offerNumber: 1, candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 })).toEqual([
      { to: ['p'], message: { type: 'recording-candidate', ...ref, candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 } },
    ]);
  });
});
