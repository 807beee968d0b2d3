import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import type { NewEvent, StoredEvent } from '../../../events/envelope.js';
import { foldEvent, initialState } from '../../../src/runtime/fold.js';
import { webhooksOf, type MappingOptions } from '../../../src/integrations/webhooks/mapping.js';
import { ev } from '../../helpers/events.js';

/**
 * given(events) folded through the real machines → the webhook payloads each
 * event makes (the mapper sees the state just before and after it).
 */
function webhooks(events: NewEvent[], opts: Partial<MappingOptions> = {}) {
  const states = new Map<string, { snapshot: AnyMachineSnapshot; position: number }>();
  const o: MappingOptions = {
    lookup: (s) => states.get(s)?.snapshot,
    fileUrls: (m, f) => ({ downloadUrl: `https://rec.example/${m}/${f}/download`, streamUrl: `https://rec.example/${m}/${f}/stream` }),
    ...opts,
  };
  const out: { type: string; data: any; timestamp: string }[] = [];
  for (const e of events) {
    const prev = states.get(e.stream) ?? { snapshot: initialState(e.stream).snapshot, position: 0 };
    const stored = { ...e, position: prev.position + 1 } as StoredEvent;
    const after = foldEvent(initialState(e.stream).kind, prev.snapshot, stored);
    states.set(e.stream, { snapshot: after, position: stored.position });
    out.push(...webhooksOf({ event: stored, before: prev.snapshot, after }, o));
  }
  return out;
}
const types = (events: NewEvent[]) => webhooks(events).map((w) => w.type);

const R = 'room:r1';
const joined = (participantId: string, name: string | null = null) => ev(R, 'room.member.joined', { participantId, name, nodeId: 'n1' });
const left = (participantId: string, reason = 'left') => ev(R, 'room.member.left', { participantId, reason });
const member = (participantId: string, role: 'host' | 'participant') => ({ participantId, role, name: participantId.toUpperCase() });
const started = ev('recording:rec1', 'recording.started', {
  recordingId: 'rec1', roomId: 'r1', layout: 'speaker', format: 'mp4', startedAt: 1_000, members: [member('h', 'host'), member('p', 'participant')],
});
const seg = (participantId: string, kind: 'audio' | 'video', offsetMs: number) =>
  ev('recording:rec1', 'recording.segment.recorded', {
    participantId,
    segment: { file: `1-rec1-${participantId}-${kind}-t.webm`, kind, segmentIndex: 0, offsetMs, durationMs: 4_000, codec: kind === 'audio' ? 'opus' : 'vp8' },
  });
const stop = (reason = 'api') => ev('recording:rec1', 'recording.stop.requested', { reason, compose: true, compositionJobId: 'rec1-c1' });
const peerClosed = (participantId: string) => ev('recording:rec1', 'recording.peer.closed', { participantId, outcome: 'closed', segments: [] });
const J = 'composition:rec1-c1';
const requested = ev(J, 'composition.requested', {
  jobId: 'rec1-c1', recordingId: 'rec1', meetingId: 'r1', layout: 'speaker', format: 'mp4', durationMs: 5_000, maxAttempts: 2,
});
const run = (attempt: number) => ev(J, 'composition.started', { attempt, workerId: 'w1', delivery: attempt });
const failed = (attempt: number) => ev(J, 'composition.failed', { attempt, error: `ffmpeg exited 1 (run ${attempt})`, stderr: [] });

describe('webhook mapping: domain events → Standard Webhooks payloads', () => {
  it('the host opening a room: room.started, then its participant.joined; later members only participant.joined', () => {
    const w = webhooks([joined('h', 'Ann'), joined('p')]);
    expect(w.map((x) => x.type)).toEqual(['room.started', 'participant.joined', 'participant.joined']);
    expect(w[0]!.data).toMatchObject({ roomId: 'r1', hostId: 'h', nodeId: 'n1' });
    expect(w[1]!.data).toMatchObject({ roomId: 'r1', participantId: 'h', role: 'host', name: 'Ann' });
    expect(w[2]!.data).toMatchObject({ participantId: 'p', role: 'participant' });
  });

  it('the timestamp is the source event time (the same on every attempt)', () => {
    const e = joined('h');
    expect(webhooks([e])[0]!.timestamp).toBe(new Date(e.time).toISOString());
  });

  it('a participant leaving: participant.left; the host leaving: everyone left, then room.finished', () => {
    expect(types([joined('h'), joined('p'), left('p')])).toEqual(['room.started', 'participant.joined', 'participant.joined', 'participant.left']);
    const w = webhooks([joined('h'), joined('p'), left('h', 'socket-closed')]).slice(3);
    expect(w.map((x) => [x.type, x.data.participantId, x.data.reason])).toEqual([
      ['participant.left', 'h', 'socket-closed'],
      ['participant.left', 'p', 'room-finished'],
      ['room.finished', undefined, 'host-left'],
    ]);
  });

  it('a server restart closing the room: every member left for that reason, room.finished', () => {
    const w = webhooks([joined('h'), joined('p'), ev(R, 'room.closed', { reason: 'server-restart' })]).slice(3);
    expect(w.map((x) => [x.type, x.data.reason])).toEqual([
      ['participant.left', 'server-restart'],
      ['participant.left', 'server-restart'],
      ['room.finished', 'server-restart'],
    ]);
  });

  it('a reopened room starts again', () => {
    expect(types([joined('h'), left('h'), joined('h2')]).filter((t) => t === 'room.started')).toHaveLength(2);
  });

  it('recording.started carries layout, format and the members', () => {
    const [w] = webhooks([started]);
    expect(w).toMatchObject({ type: 'recording.started', data: { recordingId: 'rec1', roomId: 'r1', layout: 'speaker', format: 'mp4' } });
    expect(w!.data.participants.map((p: any) => p.role)).toEqual(['host', 'participant']);
  });

  it('recording.stopped once every peer closed, with its reason (api → requested)', () => {
    const h = [started, stop(), peerClosed('h')];
    expect(types(h)).toEqual(['recording.started']);
    const w = webhooks([...h, peerClosed('p')]);
    expect(w.map((x) => x.type)).toEqual(['recording.started', 'recording.stopped']);
    expect(w[1]!.data).toMatchObject({ reason: 'requested', compose: true, compositionJobId: 'rec1-c1', startedAt: new Date(1_000).toISOString() });
    for (const reason of ['host-left', 'interrupted', 'limit-reached']) {
      expect(webhooks([started, stop(reason), peerClosed('h'), peerClosed('p')]).at(-1)!.data.reason).toBe(reason);
    }
  });

  it('a stop that times out still says recording.stopped', () => {
    expect(types([started, stop(), ev('recording:rec1', 'recording.stop.timed-out', {})])).toEqual(['recording.started', 'recording.stopped']);
  });

  it('recording.failed with the error', () => {
    const w = webhooks([started, ev('recording:rec1', 'recording.failed', { error: 'disk full' })]);
    expect(w.at(-1)).toMatchObject({ type: 'recording.failed', data: { recordingId: 'rec1', error: 'disk full' } });
  });

  it('composition.failed says the attempt and whether it will be retried; composition.started each run', () => {
    const w = webhooks([requested, run(1), failed(1), ev(J, 'composition.retry.due', {}), run(2), failed(2)]);
    expect(w.map((x) => [x.type, x.data.attempt, x.data.willRetry])).toEqual([
      ['composition.started', 1, undefined],
      ['composition.failed', 1, true],
      ['composition.started', 2, undefined],
      ['composition.failed', 2, false],
    ]);
    expect(w[1]!.data.error).toBe('ffmpeg exited 1 (run 1)');
    const timedOut = webhooks([requested, run(1), ev(J, 'composition.timed-out', { attempt: 1 })]).at(-1)!;
    expect(timedOut).toMatchObject({ type: 'composition.failed', data: { willRetry: true, error: 'run 1 timed out' } });
  });

  it('composition.completed: the output (file, size, duration, format, layout, links, object key) and every track', () => {
    const done = ev(J, 'composition.completed', {
      attempt: 1,
      output: { file: '/rec/r1/9-rec1-composed.mp4', durationMs: 5_000, sizeBytes: 123_456 },
      skipped: [],
    });
    const w = webhooks([started, seg('h', 'audio', 0), seg('h', 'video', 20), seg('p', 'video', 1_500), stop(), peerClosed('h'), peerClosed('p'), requested, run(1), done], {
      objectKeyOf: (jobId) => `recordings/r1/${jobId}.mp4`,
    }).at(-1)!;
    expect(w.type).toBe('composition.completed');
    expect(w.data.output).toEqual({
      filename: '9-rec1-composed.mp4',
      sizeBytes: 123_456,
      durationMs: 5_000,
      format: 'mp4',
      layout: 'speaker',
      downloadUrl: 'https://rec.example/r1/9-rec1-composed.mp4/download',
      streamUrl: 'https://rec.example/r1/9-rec1-composed.mp4/stream',
      objectKey: 'recordings/r1/rec1-c1.mp4',
    });
    expect(w.data.tracks.map((t: any) => [t.participantId, t.role, t.kind, t.offsetMs])).toEqual([
      ['h', 'host', 'audio', 0],
      ['h', 'host', 'video', 20],
      ['p', 'participant', 'video', 1_500],
    ]);
  });

  it('peer events and progress make no webhooks', () => {
    expect(types([requested, run(1), ev(J, 'composition.progressed', { attempt: 1, percent: 50, speed: 2 })])).toEqual(['composition.started']);
    expect(webhooksOf({ event: { ...ev('peer:rec1.h', 'peer.status.reported', { status: 'x' }), position: 1 } as StoredEvent }, { lookup: () => undefined, fileUrls: () => ({ downloadUrl: '', streamUrl: '' }) })).toEqual([]);
  });
});

describe('upload webhooks', () => {
  const U = 'upload:rec1-c1';
  const requested = ev(U, 'upload.requested', {
    jobId: 'rec1-c1', recordingId: 'rec1', meetingId: 'r1', bucket: 'b',
    files: [{ file: '9-rec1-composed.mp4', key: 'p/r1/9-rec1-composed.mp4', sizeBytes: 10 }],
    retry: { maxAttempts: 2, baseMs: 1000, maxMs: 4000 },
  });
  const start = (attempt: number) => ev(U, 'upload.started', { attempt, workerId: 'w1' });
  const failed = (attempt: number) => ev(U, 'upload.failed', { attempt, error: 'connect ECONNREFUSED', key: 'p/r1/9-rec1-composed.mp4' });

  it('upload.completed with the objects; upload.failed says whether it will be retried', () => {
    const w = webhooks([
      requested, start(1), failed(1), ev(U, 'upload.retry.due'), start(2),
      ev(U, 'upload.completed', { attempt: 2, objects: [{ key: 'p/r1/9-rec1-composed.mp4', sizeBytes: 10, etag: '"e"' }], deleteLocal: false }),
    ]);
    expect(w.map((x) => x.type)).toEqual(['upload.failed', 'upload.completed']);
    expect(w[0].data).toMatchObject({ jobId: 'rec1-c1', attempt: 1, error: 'connect ECONNREFUSED', willRetry: true });
    expect(w[1].data).toMatchObject({ jobId: 'rec1-c1', recordingId: 'rec1', bucket: 'b', attempt: 2, objects: [{ key: 'p/r1/9-rec1-composed.mp4', sizeBytes: 10 }] });
  });

  it('the last failed attempt is not retried', () => {
    const w = webhooks([requested, start(1), failed(1), ev(U, 'upload.retry.due'), start(2), failed(2)]);
    expect(w.map((x) => [x.type, x.data.willRetry])).toEqual([
      ['upload.failed', true],
      ['upload.failed', false],
    ]);
  });
});
