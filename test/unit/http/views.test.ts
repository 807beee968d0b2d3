import { initialTransition, transition, type AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { machines } from '../../../machines/index.js';
import { jobView, sessionView } from '../../../src/http/views.js';

function fold(machine: AnyStateMachine, id: string, events: [string, object][]) {
  let [s] = initialTransition(machine, { id });
  events.forEach(([type, data], i) => {
    [s] = transition(machine, s, { id: `e${i}`, type, stream: 'x', position: i + 1, time: (i + 1) * 1000, causationId: null, correlationId: null, version: 1, data } as never);
  });
  return s;
}

const started: [string, object] = [
  'recording.started',
  { recordingId: 'rec', roomId: 'r', layout: 'grid', format: 'webm', startedAt: 1000, members: [{ participantId: 'h', role: 'host', name: 'H' }] },
];

describe('session view', () => {
  it('maps machine states onto recording | stopped | failed', () => {
    const recording = sessionView(fold(machines.recording, 'rec', [started]), { first: 1000, last: 1000 });
    expect(recording).toMatchObject({ id: 'rec', connectionId: 'r', status: 'recording', startedAt: '1970-01-01T00:00:01.000Z', participants: [{ participantId: 'h', role: 'host', active: true }] });
    expect(recording).not.toHaveProperty('stoppedAt');
    expect(recording).not.toHaveProperty('error');
    const stopping = fold(machines.recording, 'rec', [started, ['recording.stop.requested', { reason: 'api', compose: true, compositionJobId: 'j' }]]);
    expect(stopping.value).toBe('stopping');
    expect(sessionView(stopping, { first: 1000, last: 2000 })).toMatchObject({ status: 'stopped', stoppedAt: '1970-01-01T00:00:02.000Z', updatedAt: '1970-01-01T00:00:02.000Z' });
    const failed = sessionView(fold(machines.recording, 'rec', [started, ['recording.failed', { error: 'disk full' }]]), undefined);
    expect(failed).toMatchObject({ status: 'failed', error: 'disk full', createdAt: '1970-01-01T00:00:01.000Z' });
  });
});

describe('job view', () => {
  const requested: [string, object] = ['composition.requested', { jobId: 'j', recordingId: 'rec', meetingId: 'm', layout: 'grid', format: 'mp4', durationMs: 1000, maxAttempts: 3 }];
  it('maps new/queued/retrying to queued and shows the output with its URLs', () => {
    expect(jobView(fold(machines.composition, 'j', [requested]), undefined, ['a.webm'])).toMatchObject({ status: 'queued', inputFiles: ['a.webm'], progress: 0 });
    const retrying = fold(machines.composition, 'j', [
      requested,
      ['composition.started', { attempt: 1, workerId: 'w', delivery: 1 }],
      ['composition.failed', { attempt: 1, error: 'boom', stderr: [] }],
    ]);
    expect(jobView(retrying, undefined, [])).toMatchObject({ status: 'queued', state: 'retrying', error: 'boom', failures: [{ attempt: 1, error: 'boom' }] });
    const done = fold(machines.composition, 'j', [
      requested,
      ['composition.started', { attempt: 1, workerId: 'w', delivery: 1 }],
      ['composition.completed', { attempt: 1, output: { file: '/rec/m/1-rec-composed.mp4', durationMs: 1000, sizeBytes: 10 }, skipped: [] }],
    ]);
    const view = jobView(done, { first: 1000, last: 3000 }, []);
    expect(view).toMatchObject({
      status: 'completed',
      createdAt: '1970-01-01T00:00:01.000Z',
      updatedAt: '1970-01-01T00:00:03.000Z',
      output: { meetingId: 'm', filename: '1-rec-composed.mp4', downloadUrl: '/api/recordings/m/1-rec-composed.mp4/download', streamUrl: '/api/recordings/m/1-rec-composed.mp4/stream' },
    });
    expect(view).not.toHaveProperty('error');
  });
});
