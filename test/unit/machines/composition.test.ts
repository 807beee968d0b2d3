import { describe, expect, it } from 'vitest';
import { MAX_SPACE_WAITS, retryDelayMs, spaceRetryDelayMs } from '../../../machines/composition.js';
import { ev, given } from '../../helpers/given.js';

const C = 'composition:job1';
const requested = (maxAttempts = 3) =>
  ev(C, 'composition.requested', { jobId: 'job1', recordingId: 'rec1', meetingId: 'r1', layout: 'grid', format: 'webm', durationMs: 60_000, maxAttempts });
const started = (attempt: number, delivery = 1) => ev(C, 'composition.started', { attempt, workerId: 'w1', delivery });
const failed = (attempt: number) => ev(C, 'composition.failed', { attempt, error: 'ffmpeg exited 1', stderr: ['Invalid data'] });

describe('composition job machine', () => {
  it('queues on request and runs one attempt at a time', () => {
    const q = given(C).when(requested());
    expect(q.snapshot.value).toBe('queued');
    expect(q.effects).toContainEqual({ type: 'enqueueComposition', params: { jobId: 'job1' } });
    const r = given(C, [requested()]).when(started(1));
    expect(r.snapshot.value).toBe('running');
    expect(r.effects).toContainEqual(expect.objectContaining({ type: 'scheduleTimer', params: expect.objectContaining({ key: 'run' }) }));
    // a second worker cannot start the same run
    expect(given(C, [requested(), started(1)]).when(started(1)).accepted).toBe(false);
    expect(given(C, [requested(), started(1)]).when(started(2)).accepted).toBe(false);
  });

  it('progress, then completion', () => {
    const h = [requested(), started(1), ev(C, 'composition.progressed', { attempt: 1, percent: 40, speed: 3.2 })];
    expect(given(C, h).snapshot.context.percent).toBe(40);
    const done = given(C, h).when(
      ev(C, 'composition.completed', { attempt: 1, output: { file: 'x-composed.webm', durationMs: 60_000, sizeBytes: 5 }, skipped: [] }),
    );
    expect(done.snapshot.value).toBe('completed');
    expect(done.snapshot.context.output.file).toBe('x-composed.webm');
  });

  it('a failure is retried after a backoff, a bounded number of times', () => {
    const r1 = given(C, [requested(), started(1)]).when(failed(1));
    expect(r1.snapshot.value).toBe('retrying');
    expect(r1.snapshot.context.stderr).toEqual(['Invalid data']);
    expect(r1.effects).toContainEqual(
      expect.objectContaining({ type: 'scheduleTimer', params: expect.objectContaining({ key: 'retry', delayMs: retryDelayMs(1) }) }),
    );
    const h = [requested(), started(1), failed(1), ev(C, 'composition.retry.due'), started(2), failed(2), ev(C, 'composition.retry.due'), started(3)];
    expect(given(C, h).snapshot.value).toBe('running');
    const last = given(C, h).when(failed(3));
    expect(last.snapshot.value).toBe('failed');
    expect(last.snapshot.context.failures).toHaveLength(3);
  });

  it('a failed job can be retried on request', () => {
    const h = [requested(1), started(1), failed(1)];
    expect(given(C, h).snapshot.value).toBe('failed');
    const again = given(C, h).when(ev(C, 'composition.retry.requested'));
    expect(again.snapshot.value).toBe('queued');
    expect(given(C, [...h, ev(C, 'composition.retry.requested')]).when(started(2)).snapshot.value).toBe('running');
  });

  it('a run that takes too long is abandoned and retried', () => {
    const o = given(C, [requested(), started(1)]).when(ev(C, 'composition.timed-out', { attempt: 1 }));
    expect(o.snapshot.value).toBe('retrying');
    expect(o.effects).toContainEqual({ type: 'abortComposition', params: { jobId: 'job1', attempt: 1 } });
  });

  it('a lost run is re-queued; a redelivery takes over a silent worker', () => {
    expect(given(C, [requested(), started(1)]).when(ev(C, 'composition.requeued', { reason: 'server-restart' })).snapshot.value).toBe('queued');
    const takeover = given(C, [requested(), started(1, 1)]).when(started(2, 2));
    expect(takeover.accepted).toBe(true);
    expect(takeover.snapshot.context).toMatchObject({ attempt: 2, delivery: 2 });
  });

  it('stale results of an earlier run are refused', () => {
    const h = [requested(), started(1), ev(C, 'composition.requeued', { reason: 'x' }), started(2)];
    expect(given(C, h).when(failed(1)).accepted).toBe(false);
  });

  describe('a run that fails for want of space', () => {
    const noSpace = (attempt: number) =>
      ev(C, 'composition.failed', { attempt, error: 'no space left for the output', stderr: ['No space left on device'], reason: 'disk-full' });
    const due = () => ev(C, 'composition.retry.due');

    it('waits longer and does not count against maxAttempts', () => {
      const o = given(C, [requested(1), started(1)]).when(noSpace(1));
      expect(o.snapshot.value).toBe('retrying');
      expect(o.snapshot.context).toMatchObject({ spaceWaits: 1, maxAttempts: 1, failures: [{ attempt: 1, reason: 'disk-full' }] });
      expect(o.effects).toContainEqual(
        expect.objectContaining({ type: 'scheduleTimer', params: expect.objectContaining({ key: 'retry', delayMs: spaceRetryDelayMs(1) }) }),
      );
      expect(spaceRetryDelayMs(1)).toBeGreaterThan(retryDelayMs(1));
      // three space failures, then the one counted attempt still runs and may fail for real
      const h = [requested(1), started(1), noSpace(1), due(), started(2), noSpace(2), due(), started(3), noSpace(3), due(), started(4)];
      expect(given(C, h).snapshot.value).toBe('running');
      expect(given(C, h).when(failed(4)).snapshot.value).toBe('failed');
    });

    it('an ordinary failure after space failures gets the ordinary backoff', () => {
      const h = [requested(3), started(1), noSpace(1), due(), started(2)];
      const o = given(C, h).when(failed(2));
      expect(o.snapshot.value).toBe('retrying');
      expect(o.effects).toContainEqual(expect.objectContaining({ type: 'scheduleTimer', params: expect.objectContaining({ delayMs: retryDelayMs(1) }) }));
    });

    it('a retry asked for after the job failed allows one counted run more', () => {
      const h = [requested(1), started(1), noSpace(1), due(), started(2), failed(2)];
      expect(given(C, h).snapshot.value).toBe('failed');
      const again = [...h, ev(C, 'composition.retry.requested'), started(3)];
      expect(given(C, again).snapshot.context.maxAttempts).toBe(2);
      expect(given(C, again).when(failed(3)).snapshot.value).toBe('failed');
    });

    it('never waits forever: past MAX_SPACE_WAITS it counts', () => {
      const h = [requested(1)];
      for (let i = 1; i <= MAX_SPACE_WAITS; i++) h.push(started(i), noSpace(i), due());
      h.push(started(MAX_SPACE_WAITS + 1));
      expect(given(C, h).when(noSpace(MAX_SPACE_WAITS + 1)).snapshot.value).toBe('failed');
    });
  });
});
