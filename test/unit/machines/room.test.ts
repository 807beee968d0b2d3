import { describe, expect, it } from 'vitest';
import { ROOM_RECORDINGS_KEPT } from '../../../machines/room.js';
import { ev, given } from '../../helpers/given.js';

const R = 'room:r1';
const joined = (participantId: string) => ev(R, 'room.member.joined', { participantId, name: null, nodeId: 'n1' });

describe('room machine', () => {
  it('the first member opens the room as host; later ones are participants', () => {
    const o = given(R, [joined('h')]).when(joined('p'));
    expect(o.snapshot.value).toBe('open');
    expect(o.snapshot.context.hostId).toBe('h');
    expect(o.snapshot.context.members.h.role).toBe('host');
    expect(o.snapshot.context.members.p.role).toBe('participant');
  });

  it('a duplicate join is refused', () => {
    expect(given(R, [joined('h'), joined('p')]).when(joined('p')).accepted).toBe(false);
  });

  it('starting a recording emits recording.started with the members; a second start is refused', () => {
    const start = ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
    const o = given(R, [joined('h'), joined('p')]).when(start);
    expect(o.snapshot.context.activeRecordingId).toBe('rec1');
    expect(o.emitted).toHaveLength(1);
    expect(o.emitted[0]).toMatchObject({
      stream: 'recording:rec1',
      type: 'recording.started',
      data: { recordingId: 'rec1', roomId: 'r1', startedAt: start.time },
    });
    expect((o.emitted[0].data as any).members.map((m: any) => m.participantId)).toEqual(['h', 'p']);
    const again = given(R, [joined('h'), start]).when(
      ev(R, 'room.recording.requested', { recordingId: 'rec2', layout: 'grid', format: 'webm' }),
    );
    expect(again.accepted).toBe(false);
  });

  it('a member joining during a recording is announced to the session', () => {
    const h = [joined('h'), ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' })];
    const o = given(R, h).when(joined('late'));
    expect(o.emitted).toEqual([
      expect.objectContaining({ stream: 'recording:rec1', type: 'recording.participant.joined' }),
    ]);
  });

  it('a participant leaving during a recording is reported; without a recording nothing is emitted', () => {
    const rec = ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
    const left = ev(R, 'room.member.left', { participantId: 'p', reason: 'left' });
    expect(given(R, [joined('h'), joined('p'), rec]).when(left).emitted).toEqual([
      expect.objectContaining({ type: 'recording.participant.left', data: { participantId: 'p' } }),
    ]);
    const quiet = given(R, [joined('h'), joined('p')]).when(left);
    expect(quiet.emitted).toEqual([]);
    expect(quiet.snapshot.context.members.p).toBeUndefined();
  });

  it('the host leaving closes the room and stops its recording for composition', () => {
    const rec = ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
    const o = given(R, [joined('h'), joined('p'), rec]).when(ev(R, 'room.member.left', { participantId: 'h', reason: 'socket-closed' }));
    expect(o.snapshot.value).toBe('closed');
    expect(o.snapshot.context.closedReason).toBe('host-left');
    expect(o.emitted).toEqual([
      expect.objectContaining({
        stream: 'recording:rec1',
        type: 'recording.stop.requested',
        data: { reason: 'host-left', compose: true, compositionJobId: 'rec1-c1' },
      }),
    ]);
  });

  it('a server restart closes the room and marks its recording interrupted', () => {
    const rec = ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
    const o = given(R, [joined('h'), rec]).when(ev(R, 'room.closed', { reason: 'server-restart' }));
    expect(o.emitted[0].data).toMatchObject({ reason: 'interrupted', compose: true });
  });

  it('a closed room can be opened again by a new host; the ended recording is cleared', () => {
    const rec = ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
    const h = [joined('h'), rec, ev(R, 'room.member.left', { participantId: 'h', reason: 'left' })];
    const ended = given(R, h).when(ev(R, 'room.recording.ended', { recordingId: 'rec1' }));
    expect(ended.snapshot.context.activeRecordingId).toBeNull();
    const reopened = given(R, [...h, ev(R, 'room.recording.ended', { recordingId: 'rec1' })]).when(joined('h2'));
    expect(reopened.snapshot.value).toBe('open');
    expect(reopened.snapshot.context.hostId).toBe('h2');
    expect(reopened.snapshot.context.recordings).toEqual(['rec1']);
  });

  it('remembers only its most recent recording ids, however often it records', () => {
    const history = [joined('h')];
    const n = ROOM_RECORDINGS_KEPT + 5;
    for (let i = 1; i < n; i++) {
      history.push(ev(R, 'room.recording.requested', { recordingId: `rec${i}`, layout: 'grid', format: 'webm' }));
      history.push(ev(R, 'room.recording.ended', { recordingId: `rec${i}` }));
    }
    const o = given(R, history).when(ev(R, 'room.recording.requested', { recordingId: `rec${n}`, layout: 'grid', format: 'webm' }));
    expect(o.snapshot.context.recordings).toHaveLength(ROOM_RECORDINGS_KEPT);
    expect(o.snapshot.context.recordings.at(0)).toBe(`rec${n - ROOM_RECORDINGS_KEPT + 1}`);
    expect(o.snapshot.context.recordings.at(-1)).toBe(`rec${n}`);
  });
});

describe('room machine: host-userInfo (room.member.identified)', () => {
  const identified = (participantId: string, userInfo: Record<string, unknown>) => ev(R, 'room.member.identified', { participantId, userInfo });
  const rec = ev(R, 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
  const named = (participantId: string, name: string | null, token?: { sub?: string; name?: boolean }) =>
    ev(R, 'room.member.joined', {
      participantId,
      name,
      nodeId: 'n1',
      ...(token?.sub ? { userId: token.sub } : {}),
      ...(token?.name ? { nameFromToken: true } : {}),
    });

  it("gives the member the info's name, userId and avatar, keeping the info as given", () => {
    const info = { userId: 'u1', name: 'Ada', avatar: 'a.png', team: 'math' };
    const o = given(R, [joined('h'), named('p', 'from-connect')]).when(identified('p', info));
    expect(o.accepted).toBe(true);
    expect(o.snapshot.context.members.p).toEqual({ participantId: 'p', role: 'participant', name: 'Ada', userId: 'u1', avatar: 'a.png', userInfo: info, nodeId: 'n1' });
    expect(o.emitted).toEqual([]);
  });

  it("keeps the connect name when the info has none, and the token's name and sub over the info's", () => {
    expect(given(R, [joined('h'), named('p', 'Bob')]).when(identified('p', { userId: 'u2' })).snapshot.context.members.p).toMatchObject({ name: 'Bob', userId: 'u2' });
    const o = given(R, [named('h', 'Alice', { sub: 'alice', name: true })]).when(identified('h', { userId: 'mallory', name: 'Mallory' }));
    expect(o.snapshot.context.members.h).toMatchObject({ name: 'Alice', userId: 'alice' });
    // a token without a name claim: the info names the member, the sub stays
    const n = given(R, [named('h', 'typed', { sub: 'alice' })]).when(identified('h', { userId: 'mallory', name: 'Alice L.' }));
    expect(n.snapshot.context.members.h).toMatchObject({ name: 'Alice L.', userId: 'alice' });
  });

  it('passes the new identity on to the active recording', () => {
    const o = given(R, [joined('h'), joined('p'), rec]).when(identified('p', { userId: 'u1', name: 'Ada' }));
    expect(o.emitted).toEqual([
      {
        stream: 'recording:rec1',
        type: 'recording.participant.identified',
        data: { member: expect.objectContaining({ participantId: 'p', name: 'Ada', userId: 'u1' }) },
        correlationId: 'rec1',
      },
    ]);
  });

  it('refuses an identity for someone who is not a member, or in a room that is not open', () => {
    expect(given(R, [joined('h')]).when(identified('ghost', { name: 'x' })).accepted).toBe(false);
    expect(given(R, []).when(identified('h', { name: 'x' })).accepted).toBe(false);
    const closed = [joined('h'), ev(R, 'room.member.left', { participantId: 'h', reason: 'left' })];
    expect(given(R, closed).when(identified('h', { name: 'x' })).accepted).toBe(false);
  });
});
