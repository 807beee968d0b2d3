import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { compositionMachine, peerMachine, recordingMachine, roomMachine } from '../../machines/index.js';
import { playPath, transitionPaths, type ModelEvent } from './model.js';

const val = (s: AnyMachineSnapshot) => JSON.stringify(s.value);

async function checkAll(stream: string, graph: ReturnType<typeof transitionPaths>, prelude: Parameters<typeof playPath>[3] = []) {
  // one path per transition of the graph: never an empty run
  expect(graph.paths.length).toBeGreaterThanOrEqual(graph.edges.size);
  console.log(`${stream}: ${graph.states.size} states, ${graph.edges.size} distinct transitions, ${graph.paths.length} paths played`);
  for (const p of graph.paths) {
    const { live, replayed } = await playPath(stream, p.steps, p.expected, prelude);
    expect(replayed.value, p.name).toEqual(live.value);
    expect(replayed.context, p.name).toEqual(live.context);
  }
}

describe('model-based: room', () => {
  const joined = (participantId: string): ModelEvent => ({ type: 'room.member.joined', data: { participantId, name: null, nodeId: 'n1' } });
  const graph = transitionPaths(
    roomMachine,
    () => [
      joined('h'),
      joined('p'),
      { type: 'room.member.left', data: { participantId: 'p', reason: 'left' } },
      { type: 'room.member.left', data: { participantId: 'h', reason: 'socket-closed' } },
      { type: 'room.recording.requested', data: { recordingId: 'rec1', layout: 'grid', format: 'webm' } },
      { type: 'room.recording.ended', data: { recordingId: 'rec1' } },
      { type: 'room.closed', data: { reason: 'server-restart' } },
    ],
    (s) => `${val(s)}|${Object.keys(s.context.members).sort()}|${s.context.hostId}|${s.context.activeRecordingId}`,
  );

  it('covers every state and the lifecycle transitions', () => {
    expect(graph.states).toEqual(new Set(['"absent"', '"open"', '"closed"']));
    // the host leaving mid-recording; a participant leaving and rejoining
    expect([...graph.edges]).toEqual(expect.arrayContaining(['"open" --room.member.left--> "closed"', '"closed" --room.member.joined--> "open"']));
    expect(graph.paths.some((p) => p.steps.some((s) => s.type === 'room.recording.requested') && p.steps.at(-1)!.type === 'room.member.left' && p.expected.at(-1) === 'closed')).toBe(true);
    expect(graph.paths.some((p) => p.steps.filter((s) => s.type === 'room.member.joined' && s.data.participantId === 'p').length === 2)).toBe(true);
  });

  it('every transition path runs the same in the runtime and in replay', async () => {
    await checkAll('room:x', graph);
  });
});

describe('model-based: recording session', () => {
  const member = (participantId: string, role = 'participant') => ({ participantId, role, name: null });
  const graph = transitionPaths(
    recordingMachine,
    () => [
      {
        type: 'recording.started',
        data: { recordingId: 'x', roomId: 'r1', layout: 'grid', format: 'webm', startedAt: 5, members: [member('h', 'host'), member('p')] },
      },
      { type: 'recording.participant.joined', data: { member: member('p') } },
      { type: 'recording.participant.left', data: { participantId: 'p' } },
      { type: 'recording.peer.closed', data: { participantId: 'p', outcome: 'closed', segments: [] } },
      { type: 'recording.peer.closed', data: { participantId: 'h', outcome: 'failed', segments: [] } },
      {
        type: 'recording.segment.recorded',
        data: { participantId: 'p', segment: { file: 'f.webm', kind: 'audio', segmentIndex: 0, offsetMs: 0, durationMs: 5, codec: 'opus' } },
      },
      { type: 'recording.stop.requested', data: { reason: 'api', compose: true, compositionJobId: 'j1' } },
      { type: 'recording.stop.timed-out', data: {} },
      { type: 'recording.write.failed', data: { participantId: 'p', file: 'f.webm', reason: 'disk-full', error: 'ENOSPC' } },
      { type: 'recording.failed', data: { error: 'disk full' } },
    ],
    (s) =>
      `${val(s)}|${Object.entries(s.context.participants).map(([k, p]: [string, any]) => `${k}:${p.active}`).sort()}|${s.context.segments.length}`,
  );

  it('covers every state, including stopping and failing', () => {
    expect(graph.states).toEqual(new Set(['"starting"', '"recording"', '"stopping"', '"stopped"', '"failed"']));
    expect([...graph.edges]).toEqual(
      expect.arrayContaining(['"recording" --recording.stop.requested--> "stopping"', '"stopping" --recording.stop.timed-out--> "stopped"', '"stopping" --recording.peer.closed--> "stopped"']),
    );
  });

  it('every transition path runs the same in the runtime and in replay', async () => {
    await checkAll('recording:x', graph);
  });
});

describe('model-based: recorder peer', () => {
  const graph = transitionPaths(
    peerMachine,
    (s) => {
      const n = Math.max(1, s.context.offers);
      return [
        {
          type: 'peer.requested',
          data: { recordingId: 'rec1', roomId: 'r1', participantId: 'x', role: 'participant', name: null, layout: 'grid', format: 'webm', startedAt: 5, segmentBase: 0 },
        },
        { type: 'peer.offer.received', data: { sdp: 'v=0' } },
        { type: 'peer.candidate.received', data: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
        { type: 'peer.answered', data: { offerNumber: n, sdp: 'v=0 answer' } },
        { type: 'peer.connected', data: { offerNumber: n } },
        { type: 'peer.media.started', data: { offerNumber: n, kind: 'video' } },
        { type: 'peer.media.stalled', data: { offerNumber: n, kind: 'video' } },
        { type: 'peer.candidate.gathered', data: { offerNumber: n, candidate: 'candidate:2 1 udp 1 127.0.0.1 6000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
        { type: 'peer.track.received', data: { offerNumber: n, kind: 'video', codec: 'vp8', trackId: 't1' } },
        { type: 'peer.media.stats', data: { offerNumber: n, packets: 10, bytes: 1000, lost: 0 } },
        {
          type: 'peer.segment.finalized',
          data: { offerNumber: n, segment: { file: `s${n}.webm`, kind: 'video', segmentIndex: n - 1, offsetMs: 0, durationMs: 10, codec: 'vp8' } },
        },
        { type: 'peer.media.resumed', data: { offerNumber: n, kind: 'video' } },
        { type: 'peer.offer.failed', data: { offerNumber: n, status: 'invalid-offer', error: 'bad sdp' } },
        { type: 'peer.failed', data: { offerNumber: n, error: 'ICE failed' } },
        { type: 'peer.status.reported', data: { status: 'no-local-media' } },
        { type: 'peer.offer.timed-out', data: {} },
        { type: 'peer.media.timed-out', data: {} },
        { type: 'peer.close.requested', data: { reason: 'recording-stopped' } },
        { type: 'peer.closed', data: { reason: 'recording-stopped', segments: [] } },
      ];
    },
    (s) => `${val(s)}|${Math.min(s.context.offers, 2)}|${s.context.stalled}|${s.context.problem ?? ''}|${s.context.segments.length}|${s.context.tracks.length > 0}`,
    3_000,
  );

  it('covers every state: renegotiation, a peer that never answers, no media, failure', () => {
    expect(graph.states).toEqual(
      new Set(['"idle"', '"requested"', '"negotiating"', '"connected"', '"flowing"', '"failed"', '"no-media"', '"no-offer"', '"closing"', '"closed"'].map(String)),
    );
    expect([...graph.edges]).toEqual(
      expect.arrayContaining([
        '"flowing" --peer.offer.received--> "negotiating"',
        '"requested" --peer.offer.timed-out--> "no-offer"',
        '"no-offer" --peer.offer.received--> "negotiating"',
        '"connected" --peer.media.timed-out--> "no-media"',
      ]),
    );
  });

  it('every transition path runs the same in the runtime and in replay', async () => {
    await checkAll('peer:rec1.x', graph);
  });
});

describe('model-based: composition job', () => {
  const graph = transitionPaths(
    compositionMachine,
    (s) => {
      const a = s.context.attempt;
      return [
        { type: 'composition.requested', data: { jobId: 'x', recordingId: 'rec1', meetingId: 'r1', layout: 'grid', format: 'webm', durationMs: 1000, maxAttempts: 2 } },
        { type: 'composition.started', data: { attempt: a + 1, workerId: 'w', delivery: s.context.delivery + 1 } },
        { type: 'composition.progressed', data: { attempt: Math.max(a, 1), percent: 50, speed: 2 } },
        { type: 'composition.completed', data: { attempt: Math.max(a, 1), output: { file: 'o.webm', durationMs: 1000, sizeBytes: 1 }, skipped: [] } },
        { type: 'composition.failed', data: { attempt: Math.max(a, 1), error: 'exit 1', stderr: ['boom'] } },
        { type: 'composition.timed-out', data: { attempt: Math.max(a, 1) } },
        { type: 'composition.retry.due', data: {} },
        { type: 'composition.retry.requested', data: {} },
        { type: 'composition.requeued', data: { reason: 'server-restart' } },
      ];
    },
    (s) => `${val(s)}|${s.context.attempt}|${s.context.percent}`,
    2_000,
    (s) => s.context.attempt >= 3,
  );

  it('covers failing then retried, automatically and on request', () => {
    expect(graph.states).toEqual(new Set(['"new"', '"queued"', '"running"', '"retrying"', '"completed"', '"failed"']));
    expect([...graph.edges]).toEqual(
      expect.arrayContaining([
        '"running" --composition.failed--> "retrying"',
        '"retrying" --composition.retry.due--> "queued"',
        '"running" --composition.failed--> "failed"',
        '"failed" --composition.retry.requested--> "queued"',
        '"running" --composition.requeued--> "queued"',
      ]),
    );
  });

  it('every transition path runs the same in the runtime and in replay', async () => {
    await checkAll('composition:x', graph);
  });
});
