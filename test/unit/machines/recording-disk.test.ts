import { describe, expect, it } from 'vitest';
import { ev, given } from '../../helpers/given.js';

const S = 'recording:rec1';
const member = (participantId: string, role = 'participant') => ({ participantId, role, name: null });
const started = () =>
  ev(S, 'recording.started', { recordingId: 'rec1', roomId: 'r1', layout: 'grid', format: 'webm', startedAt: 1000, members: [member('h', 'host'), member('p')] });
const writeFailed = (participantId = 'p', reason: 'disk-full' | 'io-error' = 'disk-full') =>
  ev(S, 'recording.write.failed', { participantId, file: `${participantId}-video.webm`, reason, error: 'ENOSPC: no space left on device, write' }, { time: 5000 });

describe('recording session: the disk fails under it', () => {
  it('a write that fails for space stops the recording (disk-full), composes what was written, and the session says why', () => {
    const o = given(S, [started()]).when(writeFailed());
    expect(o.snapshot.value).toBe('stopping');
    expect(o.snapshot.context).toMatchObject({
      stopReason: 'disk-full',
      compose: true,
      compositionJobId: 'rec1-c1',
      stoppedAt: 5000,
      error: 'disk-full: writing p-video.webm (participant p) failed: ENOSPC: no space left on device, write',
    });
    expect(o.emitted.map((e) => [e.stream, e.type])).toEqual([
      ['peer:rec1.h', 'peer.close.requested'],
      ['peer:rec1.p', 'peer.close.requested'],
    ]);
    expect(o.effects).toContainEqual(expect.objectContaining({ type: 'scheduleTimer', params: expect.objectContaining({ key: 'stop' }) }));
  });

  it('an I/O error does the same, with its own reason', () => {
    expect(given(S, [started()]).when(writeFailed('h', 'io-error')).snapshot.context.stopReason).toBe('io-error');
  });

  it('while stopping, a failure is shown but the first one stays the cause', () => {
    const stop = ev(S, 'recording.stop.requested', { reason: 'disk-low', compose: true, compositionJobId: 'rec1-c1' });
    const o = given(S, [started(), stop]).when(writeFailed('h'));
    expect(o.accepted).toBe(true);
    expect(o.snapshot.value).toBe('stopping');
    expect(o.snapshot.context).toMatchObject({ stopReason: 'disk-low', error: expect.stringMatching(/^disk-full: writing h-video\.webm/) });
    const twice = given(S, [started(), writeFailed('p')]).when(writeFailed('h'));
    expect(twice.snapshot.context.error).toMatch(/participant p\)/);
  });
});
