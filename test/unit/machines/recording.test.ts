import { describe, expect, it } from 'vitest';
import { ev, given } from '../../helpers/given.js';

const S = 'recording:rec1';
const member = (participantId: string, role = 'participant') => ({ participantId, role, name: null });
const started = () =>
  ev(S, 'recording.started', {
    recordingId: 'rec1',
    roomId: 'r1',
    layout: 'grid',
    format: 'webm',
    startedAt: 1000,
    members: [member('h', 'host'), member('p')],
  });
const stop = (compose = true) => ev(S, 'recording.stop.requested', { reason: 'api', compose, compositionJobId: 'job1' });
const seg = (file: string, kind = 'video') => ({ file, kind, segmentIndex: 0, offsetMs: 0, durationMs: 1000, codec: 'vp8' });
const peerClosed = (participantId: string, segments: object[] = []) =>
  ev(S, 'recording.peer.closed', { participantId, outcome: 'closed', segments });

describe('recording session machine', () => {
  it('on start asks every member for a recorder peer', () => {
    const o = given(S).when(started());
    expect(o.snapshot.value).toBe('recording');
    expect(o.emitted.map((e) => [e.stream, e.type])).toEqual([
      ['peer:rec1.h', 'peer.requested'],
      ['peer:rec1.p', 'peer.requested'],
    ]);
  });

  it('a late joiner is asked too; a rejoin continues segment numbering', () => {
    const late = given(S, [started()]).when(ev(S, 'recording.participant.joined', { member: member('q') }));
    expect(late.emitted).toEqual([expect.objectContaining({ stream: 'peer:rec1.q', type: 'peer.requested' })]);
    const history = [
      started(),
      ev(S, 'recording.segment.recorded', { participantId: 'p', segment: seg('a.webm') }),
      peerClosed('p'),
    ];
    const rejoin = given(S, history).when(ev(S, 'recording.participant.joined', { member: member('p') }));
    expect(rejoin.emitted[0].data).toMatchObject({ participantId: 'p', segmentBase: 1 });
    expect(rejoin.snapshot.context.participants.p).toMatchObject({ active: true, requests: 2 });
  });

  it('a participant leaving closes only its peer', () => {
    const o = given(S, [started()]).when(ev(S, 'recording.participant.left', { participantId: 'p' }));
    expect(o.emitted).toEqual([
      expect.objectContaining({ stream: 'peer:rec1.p', type: 'peer.close.requested', data: { reason: 'participant-left' } }),
    ]);
    expect(o.snapshot.value).toBe('recording');
  });

  it('stop closes every open peer and waits for them, then requests the composition', () => {
    const stopping = given(S, [started()]).when(stop());
    expect(stopping.snapshot.value).toBe('stopping');
    expect(stopping.emitted.map((e) => e.stream)).toEqual(['peer:rec1.h', 'peer:rec1.p']);
    expect(stopping.effects).toContainEqual(expect.objectContaining({ type: 'scheduleTimer' }));

    const half = given(S, [started(), stop()]).when(peerClosed('h', [seg('h-v.webm')]));
    expect(half.snapshot.value).toBe('stopping');
    const done = given(S, [started(), stop(), peerClosed('h', [seg('h-v.webm')])]).when(peerClosed('p', [seg('p-a.webm', 'audio')]));
    expect(done.snapshot.value).toBe('stopped');
    expect(done.snapshot.context.segments.map((s: any) => s.file)).toEqual(['h-v.webm', 'p-a.webm']);
    expect(done.emitted.map((e) => e.type)).toEqual(['room.recording.ended', 'composition.requested']);
    const req = done.emitted[1];
    expect(req).toMatchObject({ stream: 'composition:job1', data: { recordingId: 'rec1', meetingId: 'r1', layout: 'grid', maxAttempts: 3 } });
    expect((req.data as any).durationMs).toBe(done.snapshot.context.stoppedAt - 1000);
  });

  it('compose=false stops without a composition', () => {
    const o = given(S, [started(), stop(false), peerClosed('h')]).when(peerClosed('p'));
    expect(o.emitted.map((e) => e.type)).toEqual(['room.recording.ended']);
  });

  it('a stop with no open peer is immediately stopped', () => {
    const o = given(S, [started(), peerClosed('h'), peerClosed('p')]).when(stop());
    expect(o.snapshot.value).toBe('stopped');
  });

  it('peers that never report closing do not hang the stop', () => {
    const o = given(S, [started(), stop()]).when(ev(S, 'recording.stop.timed-out'));
    expect(o.snapshot.value).toBe('stopped');
    expect(o.emitted.map((e) => e.type)).toContain('composition.requested');
  });

  it('segments are kept once, whatever reports them', () => {
    const h = [started(), ev(S, 'recording.segment.recorded', { participantId: 'p', segment: seg('x.webm') })];
    const o = given(S, h).when(peerClosed('p', [seg('x.webm')]));
    expect(o.snapshot.context.segments).toHaveLength(1);
  });

  it('keeps the live composition\'s last progress while recording and stopping, changes nothing else, and is refused once stopped', () => {
    const progress = (chunks: number) => ev(S, 'recording.live.progressed', { composedUpToMs: chunks * 10_000, lagMs: 1600, chunks, workerId: 'n1/42' });
    const before = given(S, [started(), progress(1)]).snapshot;
    const o = given(S, [started(), progress(1)]).when(progress(2));
    expect(o.accepted).toBe(true);
    expect(o.snapshot.value).toBe('recording');
    expect(o.emitted).toEqual([]);
    expect(o.effects).toEqual([]);
    expect(o.snapshot.context.live).toMatchObject({ composedUpToMs: 20_000, lagMs: 1600, chunks: 2, workerId: 'n1/42' });
    expect(typeof o.snapshot.context.live.at).toBe('number');
    const { live: _a, ...rest } = o.snapshot.context;
    const { live: _b, ...restBefore } = before.context;
    expect(rest).toEqual(restBefore);
    expect(given(S, [started(), stop()]).when(progress(3)).snapshot.context.live).toMatchObject({ chunks: 3 });
    const stopped = given(S, [started(), stop(), peerClosed('h'), peerClosed('p')]);
    expect(stopped.snapshot.value).toBe('stopped');
    expect(stopped.when(progress(4)).accepted).toBe(false);
  });

  it('events for unknown participants are refused', () => {
    expect(given(S, [started()]).when(peerClosed('nobody')).accepted).toBe(false);
  });
});

describe('recording session machine: failure', () => {
  it('a failed session closes its open peers and frees the room', () => {
    const o = given(S, [started()]).when(ev(S, 'recording.failed', { error: 'disk full' }));
    expect(o.snapshot.value).toBe('failed');
    expect(o.emitted.map((e) => [e.stream, e.type])).toEqual([
      ['peer:rec1.h', 'peer.close.requested'],
      ['peer:rec1.p', 'peer.close.requested'],
      ['room:r1', 'room.recording.ended'],
    ]);
  });
});

describe('recording session machine: identities', () => {
  const identified = (m: object) => ev(S, 'recording.participant.identified', { member: m });

  it("keeps a participant's identity from host-userInfo (name, userId, avatar), while recording and while stopping", () => {
    const o = given(S, [started()]).when(identified({ ...member('p'), name: 'Ada', userId: 'u1', avatar: 'a.png' }));
    expect(o.accepted).toBe(true);
    // Its peer is told, so the sidecars it writes carry who they are.
    expect(o.emitted).toEqual([{ stream: 'peer:rec1.p', type: 'peer.identified', data: { name: 'Ada', userId: 'u1' } }]);
    expect(o.snapshot.context.participants.p).toMatchObject({ name: 'Ada', userId: 'u1', avatar: 'a.png', active: true, requests: 1 });
    const stopping = given(S, [started(), stop()]).when(identified({ ...member('h', 'host'), name: 'Host H', userId: 'h1' }));
    expect(stopping.snapshot.context.participants.h).toMatchObject({ name: 'Host H', userId: 'h1' });
  });

  it('refuses an identity for someone the recording never had', () => {
    expect(given(S, [started()]).when(identified({ ...member('ghost'), name: 'x' })).accepted).toBe(false);
  });
});
