import { assign, setup } from 'xstate';
import type { EventData, EventOf } from '../events/catalog.js';
import type { EffectParams } from './actions.js';

/** Backoff before automatic attempt n+1 (n = attempts made so far). */
export const uploadRetryDelayMs = (retry: UploadContext['retry'], attempt: number) => Math.min(retry.baseMs * 2 ** (attempt - 1), retry.maxMs);

export interface UploadContext {
  jobId: string;
  recordingId: string;
  meetingId: string;
  bucket: string;
  files: EventData<'upload.requested'>['files'];
  retry: EventData<'upload.requested'>['retry'];
  /** Attempts started so far (the current one included). */
  attempt: number;
  workerId: string | null;
  objects: EventData<'upload.completed'>['objects'];
  deleteLocal: boolean;
  error: string | null;
  failures: { attempt: number; error: string; key: string | null }[];
}

type UploadEvent =
  | EventOf<'upload.requested'>
  | EventOf<'upload.started'>
  | EventOf<'upload.completed'>
  | EventOf<'upload.failed'>
  | EventOf<'upload.retry.due'>
  | EventOf<'upload.requeued'>
  | EventOf<'upload.action.failed'>;

const ofThisAttempt = ({ context, event }: { context: UploadContext; event: UploadEvent }) =>
  'attempt' in event.data && event.data.attempt === context.attempt;

const run = { type: 'runUpload' as const, params: ({ context }: { context: UploadContext }) => ({ jobId: context.jobId, attempt: context.attempt + 1 }) };

/**
 * The upload of one composition job's files to object storage, a job of its
 * own in the log: attempts are claimed (`upload.started`), end verified
 * (`upload.completed`) or not (`upload.failed`, retried after a backoff timer
 * that is itself an event), and a restart re-queues a lost attempt.
 */
export const uploadMachine = setup({
  types: {
    context: {} as UploadContext,
    events: {} as UploadEvent,
    input: {} as { id: string },
  },
  actions: {
    runUpload: (_, _p: EffectParams['runUpload']) => {},
    scheduleTimer: (_, _p: EffectParams['scheduleTimer']) => {},
    cancelTimer: (_, _p: EffectParams['cancelTimer']) => {},
    recordFailure: assign(({ context, event }) => {
      const e = event as EventOf<'upload.failed'>;
      return {
        error: e.data.error,
        workerId: null,
        failures: [...context.failures, { attempt: context.attempt, error: e.data.error, key: e.data.key }].slice(-20),
      };
    }),
  },
  guards: {
    isNextAttempt: ({ context, event }) => event.type === 'upload.started' && event.data.attempt === context.attempt + 1,
    isThisAttempt: ofThisAttempt,
    canRetry: ({ context, event }) => ofThisAttempt({ context, event }) && context.attempt < context.retry.maxAttempts,
  },
}).createMachine({
  id: 'upload',
  // input is absent when xstate's transition() builds its throwaway actor: never throw here
  context: ({ input }) => ({
    jobId: input?.id ?? '',
    recordingId: '',
    meetingId: '',
    bucket: '',
    files: [],
    retry: { maxAttempts: 1, baseMs: 1000, maxMs: 1000 },
    attempt: 0,
    workerId: null,
    objects: [],
    deleteLocal: false,
    error: null,
    failures: [],
  }),
  on: {
    // A failed action the runtime reports (events/catalog.ts actionFailed): kept in the log for the
    // operator; the state stays. assign({}) copies the context, so the step is recorded, not refused.
    'upload.action.failed': { actions: assign({}) },
  },
  initial: 'new',
  states: {
    new: {
      on: {
        'upload.requested': {
          target: 'pending',
          actions: assign(({ event }) => ({
            recordingId: event.data.recordingId,
            meetingId: event.data.meetingId,
            bucket: event.data.bucket,
            files: event.data.files,
            retry: event.data.retry,
          })),
        },
      },
    },
    pending: {
      description: 'Waiting for an uploader to claim the next attempt.',
      entry: run,
      on: {
        'upload.started': {
          guard: 'isNextAttempt',
          target: 'uploading',
          actions: assign(({ event }) => ({ attempt: event.data.attempt, workerId: event.data.workerId })),
        },
        'upload.requeued': { target: 'pending', reenter: true },
      },
    },
    uploading: {
      description: 'One uploader sends the files and reads each back (size, ETag).',
      on: {
        'upload.completed': {
          guard: 'isThisAttempt',
          target: 'completed',
          actions: assign(({ event }) => ({ objects: event.data.objects, deleteLocal: event.data.deleteLocal, error: null, workerId: null })),
        },
        'upload.failed': [
          { guard: 'canRetry', target: 'retrying', actions: 'recordFailure' },
          { guard: 'isThisAttempt', target: 'failed', actions: 'recordFailure' },
        ],
        'upload.requeued': { target: 'pending', actions: assign({ workerId: null }) },
      },
    },
    retrying: {
      description: 'The attempt failed; the next one waits for its backoff. Nothing local was deleted.',
      entry: {
        type: 'scheduleTimer',
        params: ({ context }) => ({
          key: 'retry',
          delayMs: uploadRetryDelayMs(context.retry, context.attempt),
          type: 'upload.retry.due' as const,
          data: {},
        }),
      },
      exit: { type: 'cancelTimer', params: { key: 'retry' } },
      on: {
        'upload.retry.due': 'pending',
        'upload.requeued': 'pending',
      },
    },
    completed: { type: 'final', description: 'Every file is in the bucket, verified.' },
    failed: {
      description: 'Every automatic attempt failed; the local files are kept.',
      on: { 'upload.requeued': 'pending' },
    },
  },
});
