import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { UncheckedEventInput } from '../../src/runtime/runtime.js';
import type { MachineSet } from './harness.js';

interface ModelEvent {
  type: string;
  data: Record<string, unknown>;
}

interface Walk {
  stream: string;
  events: (s: AnyMachineSnapshot) => ModelEvent[];
  serializeState: (s: AnyMachineSnapshot) => string;
  limit: number;
  stopWhen?: (s: AnyMachineSnapshot) => boolean;
}

const val = (s: AnyMachineSnapshot) => JSON.stringify(s.value);
const member = (participantId: string, role = 'participant') => ({ participantId, role, name: null });

/** Sample events per machine: enough to reach every state and take every declared transition. */
const walks: Record<keyof MachineSet, Walk> = {
  room: {
    stream: 'room:x',
    events: () => [
      { type: 'room.member.joined', data: { participantId: 'h', name: null, nodeId: 'n1' } },
      { type: 'room.member.joined', data: { participantId: 'p', name: null, nodeId: 'n1' } },
      { type: 'room.member.left', data: { participantId: 'p', reason: 'left' } },
      { type: 'room.member.left', data: { participantId: 'h', reason: 'socket-closed' } },
      { type: 'room.member.left', data: { participantId: 'z', reason: 'left' } },
      { type: 'room.member.identified', data: { participantId: 'p', userInfo: { userId: 'u-p', name: 'P' } } },
      { type: 'room.recording.requested', data: { recordingId: 'rec1', layout: 'grid', format: 'webm' } },
      { type: 'room.recording.ended', data: { recordingId: 'rec1' } },
      { type: 'room.closed', data: { reason: 'server-restart' } },
      { type: 'room.closed', data: { reason: 'host-left' } },
      { type: 'room.action.failed', data: { action: 'emit', error: 'log gone', retrying: false } },
    ],
    serializeState: (s) => `${val(s)}|${Object.keys(s.context.members).sort()}|${s.context.hostId}|${s.context.activeRecordingId}|${s.context.recordings.length}`,
    limit: 5_000,
    stopWhen: (s) => s.context.recordings.length > 1,
  },
  recording: {
    stream: 'recording:x',
    events: () => [
      { type: 'recording.started', data: { recordingId: 'x', roomId: 'r1', layout: 'grid', format: 'webm', startedAt: 5, members: [member('h', 'host'), member('p')] } },
      { type: 'recording.participant.joined', data: { member: member('p') } },
      { type: 'recording.participant.joined', data: { member: member('q') } },
      { type: 'recording.participant.left', data: { participantId: 'p' } },
      { type: 'recording.participant.identified', data: { member: { ...member('p'), name: 'P', userId: 'u-p' } } },
      { type: 'recording.peer.closed', data: { participantId: 'p', outcome: 'closed', segments: [] } },
      { type: 'recording.peer.closed', data: { participantId: 'h', outcome: 'failed', segments: [] } },
      { type: 'recording.peer.closed', data: { participantId: 'q', outcome: 'no-media', segments: [] } },
      { type: 'recording.segment.recorded', data: { participantId: 'p', segment: { file: 'f.webm', kind: 'audio', segmentIndex: 0, offsetMs: 0, durationMs: 5, codec: 'opus' } } },
      { type: 'recording.stop.requested', data: { reason: 'api', compose: true, compositionJobId: 'j1' } },
      { type: 'recording.stop.requested', data: { reason: 'api', compose: false, compositionJobId: 'j2' } },
      { type: 'recording.stop.timed-out', data: {} },
      { type: 'recording.failed', data: { error: 'disk full' } },
      { type: 'recording.write.failed', data: { participantId: 'p', file: 'f.webm', reason: 'disk-full', error: 'ENOSPC' } },
      { type: 'recording.live.progressed', data: { composedUpToMs: 10000, lagMs: 1500, chunks: 1, workerId: 'n1/1' } },
      { type: 'recording.action.failed', data: { action: 'emit', error: 'log gone', retrying: false } },
    ],
    serializeState: (s) =>
      `${val(s)}|${Object.entries(s.context.participants).map(([k, p]: [string, any]) => `${k}:${p.active}:${Math.min(p.requests, 2)}`).sort()}|${s.context.segments.length}|${s.context.compose}`,
    limit: 5_000,
  },
  peer: {
    stream: 'peer:rec1.x',
    events: (s) => {
      const n = Math.max(1, s.context.offers);
      return [
        { type: 'peer.requested', data: { recordingId: 'rec1', roomId: 'r1', participantId: 'x', role: 'participant', name: null, layout: 'grid', format: 'webm', startedAt: 5, segmentBase: 0 } },
        { type: 'peer.offer.received', data: { sdp: 'v=0' } },
        { type: 'peer.identified', data: { name: 'X', userId: 'u-x' } },
        { type: 'peer.candidate.received', data: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
        { type: 'peer.answered', data: { offerNumber: n, sdp: 'v=0 answer' } },
        { type: 'peer.connected', data: { offerNumber: n } },
        { type: 'peer.media.started', data: { offerNumber: n, kind: 'video' } },
        { type: 'peer.media.stalled', data: { offerNumber: n, kind: 'video' } },
        { type: 'peer.candidate.gathered', data: { offerNumber: n, candidate: 'candidate:2 1 udp 1 127.0.0.1 6000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
        { type: 'peer.track.received', data: { offerNumber: n, kind: 'video', codec: 'vp8', trackId: 't1' } },
        { type: 'peer.media.stats', data: { offerNumber: n, packets: 10, bytes: 1000, lost: 0 } },
        { type: 'peer.segment.finalized', data: { offerNumber: n, segment: { file: `s${n}.webm`, kind: 'video', segmentIndex: n - 1, offsetMs: 0, durationMs: 10, codec: 'vp8' } } },
        { type: 'peer.media.resumed', data: { offerNumber: n, kind: 'video' } },
        { type: 'peer.offer.failed', data: { offerNumber: n, status: 'invalid-offer', error: 'bad sdp' } },
        { type: 'peer.failed', data: { offerNumber: n, error: 'ICE failed' } },
        { type: 'peer.status.reported', data: { status: 'no-local-media' } },
        { type: 'peer.offer.timed-out', data: {} },
        { type: 'peer.media.timed-out', data: {} },
        { type: 'peer.close.requested', data: { reason: 'recording-stopped' } },
        { type: 'peer.closed', data: { reason: 'recording-stopped', segments: [] } },
        { type: 'peer.action.failed', data: { action: 'emit', error: 'log gone', retrying: false } },
      ];
    },
    serializeState: (s) => `${val(s)}|${Math.min(s.context.offers, 2)}|${s.context.stalled}|${s.context.problem ?? ''}|${s.context.segments.length}|${s.context.tracks.length > 0}`,
    limit: 3_000,
  },
  composition: {
    stream: 'composition:x',
    events: (s) => {
      const a = s.context.attempt;
      return [
        { type: 'composition.requested', data: { jobId: 'x', recordingId: 'rec1', meetingId: 'r1', layout: 'grid', format: 'webm', durationMs: 1000, maxAttempts: 2 } },
        { type: 'composition.started', data: { attempt: a + 1, workerId: 'w', delivery: Math.max(1, s.context.delivery) } },
        { type: 'composition.started', data: { attempt: a + 1, workerId: 'w2', delivery: Math.max(1, s.context.delivery) + 1 } },
        { type: 'composition.progressed', data: { attempt: Math.max(a, 1), percent: 50, speed: 2 } },
        { type: 'composition.completed', data: { attempt: Math.max(a, 1), output: { file: 'o.webm', durationMs: 1000, sizeBytes: 1 }, skipped: [] } },
        { type: 'composition.failed', data: { attempt: Math.max(a, 1), error: 'exit 1', stderr: ['boom'] } },
        { type: 'composition.failed', data: { attempt: Math.max(a, 1), error: 'No space left on device', stderr: ['boom'], reason: 'disk-full' } },
        { type: 'composition.timed-out', data: { attempt: Math.max(a, 1) } },
        { type: 'composition.retry.due', data: {} },
        { type: 'composition.retry.requested', data: {} },
        { type: 'composition.requeued', data: { reason: 'server-restart' } },
        { type: 'composition.action.failed', data: { action: 'emit', error: 'log gone', retrying: false } },
      ];
    },
    serializeState: (s) => `${val(s)}|${s.context.attempt}|${s.context.percent}|${s.context.maxAttempts}`,
    limit: 2_000,
    stopWhen: (s) => s.context.attempt >= 4,
  },
  upload: {
    stream: 'upload:x',
    events: (s) => {
      const a = s.context.attempt ?? 0;
      return [
        {
          type: 'upload.requested',
          data: { jobId: 'x', recordingId: 'rec1', meetingId: 'r1', bucket: 'b', files: [{ file: 'o.webm', key: 'r1/o.webm', sizeBytes: 1 }], retry: { maxAttempts: 2, baseMs: 1000, maxMs: 4000 } },
        },
        { type: 'upload.started', data: { attempt: a + 1, workerId: 'w' } },
        { type: 'upload.started', data: { attempt: Math.max(a, 1), workerId: 'w2' } },
        { type: 'upload.completed', data: { attempt: Math.max(a, 1), objects: [{ key: 'r1/o.webm', sizeBytes: 1, etag: '"e"' }], deleteLocal: false } },
        { type: 'upload.failed', data: { attempt: Math.max(a, 1), error: 'ECONNREFUSED', key: null } },
        { type: 'upload.retry.due', data: {} },
        { type: 'upload.requeued', data: { reason: 'server-restart' } },
        { type: 'upload.action.failed', data: { action: 'emit', error: 'log gone', retrying: false } },
      ];
    },
    serializeState: (s) => `${val(s)}|${s.context.attempt}`,
    limit: 2_000,
    stopWhen: (s) => (s.context.attempt ?? 0) >= 3,
  },
  webhook: {
    stream: 'webhook:x',
    events: (s) => {
      const seq = (s.context.cursor?.seq ?? 0) + 1;
      const msg = { messageId: `m${seq}`, type: 'room.started', source: { seq, eventId: `e${seq}`, index: 0, last: true } };
      return [
        { type: 'webhook.endpoint.added', data: { target: 'https://hooks.example/in', from: null } },
        { type: 'webhook.lease.taken', data: { nodeId: 'n1', until: 30_000 } },
        { type: 'webhook.delivered', data: { ...msg, attempt: 1, status: 200, ms: 3, nodeId: 'n1' } },
        { type: 'webhook.attempt.failed', data: { ...msg, attempt: 1, status: 500, error: 'HTTP 500', retryInMs: 1_000, nodeId: 'n1' } },
        { type: 'webhook.abandoned', data: { ...msg, attempts: 3, error: 'HTTP 500' } },
      ];
    },
    serializeState: (s) => `${val(s)}|${s.context.cursor?.seq ?? 0}|${s.context.pending?.attempts ?? 0}|${s.context.lease?.nodeId ?? ''}`,
    limit: 500,
    stopWhen: (s) => (s.context.cursor?.seq ?? 0) >= 2,
  },
};

/**
 * Every step the machine can take from every state of its (abstracted) graph:
 * the shortest path to the state, then one event that some declared transition
 * takes there. Effect-only and targetless transitions are kept: whether a step
 * is taken is asked of the machine's transition data, not read off a change of
 * state.
 */
export function machinePaths(set: MachineSet, kind: keyof MachineSet): { name: string; steps: UncheckedEventInput[] }[] {
  const w = walks[kind];
  const machine: AnyStateMachine = set[kind];
  const withTime = (s: AnyMachineSnapshot) => w.events(s).map((e) => ({ ...e, time: 1 }));
  const model = createTestModel(machine, {
    input: { id: w.stream.slice(w.stream.indexOf(':') + 1) } as never,
    events: withTime as never,
    serializeState: w.serializeState as never,
    limit: w.limit,
    stopWhen: w.stopWhen as never,
  });
  const shortest = model.getShortestPaths({ allowDuplicatePaths: true });
  const toState = new Map(shortest.map((p) => [w.serializeState(p.state as AnyMachineSnapshot), p]));
  const paths: { name: string; steps: UncheckedEventInput[] }[] = [];
  for (const [key, prefix] of toState) {
    // The graph keeps the first snapshot seen for each key, so a path's steps may end in another
    // snapshot that serializes alike: fold the path's events to get its real end.
    let state = initialTransition(machine, { id: w.stream.slice(w.stream.indexOf(':') + 1) })[0] as AnyMachineSnapshot;
    for (const s of prefix.steps.slice(1)) state = transition(machine, state, s.event as never)[0] as AnyMachineSnapshot;
    if (state.status !== 'active') continue;
    for (const event of withTime(state)) {
      if (machine.getTransitionData(state, event as never).length === 0) continue;
      const steps = [...prefix.steps.slice(1).map((s) => s.event as unknown as ModelEvent), event].map((e) => ({ stream: w.stream, type: e.type, data: e.data }));
      paths.push({ name: `${kind} ${key} + ${event.type}`, steps });
    }
  }
  return paths;
}
