import { describe, expect, it } from 'vitest';
import { uploadRetryDelayMs } from '../../../machines/upload.js';
import { ev, given } from '../../helpers/given.js';

const U = 'upload:job1';
const retry = { maxAttempts: 3, baseMs: 1000, maxMs: 60_000 };
const requested = (maxAttempts = 3) =>
  ev(U, 'upload.requested', {
    jobId: 'job1',
    recordingId: 'rec1',
    meetingId: 'm1',
    bucket: 'b',
    files: [{ file: 'x-composed.webm', key: 'p/m1/x-composed.webm', sizeBytes: 10 }],
    retry: { ...retry, maxAttempts },
  });
const started = (attempt: number) => ev(U, 'upload.started', { attempt, workerId: 'w1' });
const failed = (attempt: number) => ev(U, 'upload.failed', { attempt, error: 'connect ECONNREFUSED', key: 'p/m1/x-composed.webm' });
const completed = (attempt: number) =>
  ev(U, 'upload.completed', { attempt, objects: [{ key: 'p/m1/x-composed.webm', sizeBytes: 10, etag: '"abc"' }], deleteLocal: false });

describe('upload machine', () => {
  it('a request asks for attempt 1; one claim per attempt', () => {
    const r = given(U).when(requested());
    expect(r.snapshot.value).toBe('pending');
    expect(r.effects).toContainEqual({ type: 'runUpload', params: { jobId: 'job1', attempt: 1 } });
    expect(given(U, [requested()]).when(started(1)).snapshot.value).toBe('uploading');
    expect(given(U, [requested()]).when(started(2)).accepted).toBe(false);
    expect(given(U, [requested(), started(1)]).when(started(1)).accepted).toBe(false);
    // a second request of the same job's upload is refused
    expect(given(U, [requested()]).when(requested()).accepted).toBe(false);
  });

  it('completes only with the running attempt', () => {
    const done = given(U, [requested(), started(1)]).when(completed(1));
    expect(done.snapshot.value).toBe('completed');
    expect(done.snapshot.context.objects[0].etag).toBe('"abc"');
    expect(given(U, [requested(), started(1)]).when(completed(2)).accepted).toBe(false);
  });

  it('a failure waits for its backoff (a timer event), then the next attempt; bounded', () => {
    const f = given(U, [requested(), started(1)]).when(failed(1));
    expect(f.snapshot.value).toBe('retrying');
    expect(f.effects).toContainEqual({
      type: 'scheduleTimer',
      params: { key: 'retry', delayMs: uploadRetryDelayMs(retry, 1), type: 'upload.retry.due', data: {} },
    });
    const due = given(U, [requested(), started(1), failed(1)]).when(ev(U, 'upload.retry.due'));
    expect(due.snapshot.value).toBe('pending');
    expect(due.effects).toContainEqual({ type: 'runUpload', params: { jobId: 'job1', attempt: 2 } });
    const h = [requested(), started(1), failed(1), ev(U, 'upload.retry.due'), started(2), failed(2), ev(U, 'upload.retry.due'), started(3)];
    const last = given(U, h).when(failed(3));
    expect(last.snapshot.value).toBe('failed');
    expect(last.snapshot.context.failures.map((x: { attempt: number }) => x.attempt)).toEqual([1, 2, 3]);
    expect(last.snapshot.context.error).toBe('connect ECONNREFUSED');
  });

  it('backoff doubles up to its bound', () => {
    expect([1, 2, 3, 10].map((n) => uploadRetryDelayMs(retry, n))).toEqual([1000, 2000, 4000, 60_000]);
  });

  it('a lost attempt (restart) is re-queued: the next attempt is asked for', () => {
    const r = given(U, [requested(), started(1)]).when(ev(U, 'upload.requeued', { reason: 'server-restart' }));
    expect(r.snapshot.value).toBe('pending');
    expect(r.effects).toContainEqual({ type: 'runUpload', params: { jobId: 'job1', attempt: 2 } });
    const p = given(U, [requested()]).when(ev(U, 'upload.requeued', { reason: 'server-restart' }));
    expect(p.effects).toContainEqual({ type: 'runUpload', params: { jobId: 'job1', attempt: 1 } });
    // a failed upload can be asked for again
    const again = given(U, [requested(1), started(1), failed(1)]).when(ev(U, 'upload.requeued', { reason: 'requested' }));
    expect(again.snapshot.value).toBe('pending');
  });
});
