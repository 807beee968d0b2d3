import { assign, setup } from 'xstate';
import type { EventOf, Format, Layout } from '../events/catalog.js';
import type { EffectParams } from './actions.js';

/** Backoff before automatic attempt n+1 (n = attempts made so far). */
export const retryDelayMs = (attempt: number) => Math.min(5_000 * 2 ** (attempt - 1), 5 * 60_000);
/**
 * Backoff before the run after the n-th failure for want of space: longer
 * (space comes back when an operator or a cleanup frees it, not in seconds),
 * and such runs do not count against maxAttempts.
 */
export const spaceRetryDelayMs = (n: number) => Math.min(60_000 * 2 ** (n - 1), 15 * 60_000);
/** Past this many runs that failed for space, a space failure counts as any other (a job never waits forever). */
export const MAX_SPACE_WAITS = 100;
/** A run that takes longer than this is abandoned (and retried). */
export const runTimeoutMs = (durationMs: number) => Math.max(10 * 60_000, durationMs * 5);

export interface CompositionContext {
  jobId: string;
  recordingId: string;
  meetingId: string;
  layout: Layout;
  format: Format;
  durationMs: number;
  maxAttempts: number;
  /** Runs started so far (the current one included). */
  attempt: number;
  delivery: number;
  workerId: string | null;
  percent: number;
  speed: number | null;
  output: { file: string; durationMs: number; sizeBytes: number } | null;
  skipped: { file: string; reason: string }[];
  error: string | null;
  stderr: string[];
  failures: { attempt: number; error: string; reason?: 'disk-full' }[];
  /** Runs that failed for want of space: they do not count against maxAttempts. */
  spaceWaits: number;
}

type CompositionEvent =
  | EventOf<'composition.requested'>
  | EventOf<'composition.started'>
  | EventOf<'composition.progressed'>
  | EventOf<'composition.completed'>
  | EventOf<'composition.failed'>
  | EventOf<'composition.retry.due'>
  | EventOf<'composition.retry.requested'>
  | EventOf<'composition.requeued'>
  | EventOf<'composition.timed-out'>
  | EventOf<'composition.action.failed'>;

const ofThisRun = ({ context, event }: { context: CompositionContext; event: CompositionEvent }) =>
  'attempt' in event.data && event.data.attempt === context.attempt;

/** Runs that count against maxAttempts. */
const countedRuns = (c: CompositionContext) => c.attempt - c.spaceWaits;

const forSpace = (event: CompositionEvent) => event.type === 'composition.failed' && event.data.reason === 'disk-full';

export const compositionMachine = setup({
  types: {
    context: {} as CompositionContext,
    events: {} as CompositionEvent,
    input: {} as { id: string },
  },
  actions: {
    enqueueComposition: (_, _p: EffectParams['enqueueComposition']) => {},
    abortComposition: (_, _p: EffectParams['abortComposition']) => {},
    scheduleTimer: (_, _p: EffectParams['scheduleTimer']) => {},
    cancelTimer: (_, _p: EffectParams['cancelTimer']) => {},
    recordFailure: assign(({ context, event }) => {
      const e = event as EventOf<'composition.failed'> | EventOf<'composition.timed-out'>;
      const error = e.type === 'composition.failed' ? e.data.error : `run ${context.attempt} timed out`;
      return {
        error,
        stderr: e.type === 'composition.failed' ? e.data.stderr : [],
        failures: [...context.failures, { attempt: context.attempt, error }],
        workerId: null,
      };
    }),
    recordSpaceFailure: assign(({ context, event }) => {
      const e = event as EventOf<'composition.failed'>;
      return {
        error: e.data.error,
        stderr: e.data.stderr,
        failures: [...context.failures, { attempt: context.attempt, error: e.data.error, reason: 'disk-full' as const }],
        spaceWaits: context.spaceWaits + 1,
        workerId: null,
      };
    }),
  },
  guards: {
    isNextRun: ({ context, event }) =>
      event.type === 'composition.started' && event.data.attempt === context.attempt + 1,
    /** A redelivered work item: the worker that had it stopped answering. */
    isTakeover: ({ context, event }) =>
      event.type === 'composition.started' && event.data.attempt === context.attempt + 1 && event.data.delivery > context.delivery,
    isThisRun: ofThisRun,
    canRetry: ({ context, event }) => ofThisRun({ context, event }) && countedRuns(context) < context.maxAttempts,
    /** The output could not be written for want of space: wait for space, this run does not count. */
    isSpaceFailure: ({ context, event }) => ofThisRun({ context, event }) && forSpace(event) && context.spaceWaits < MAX_SPACE_WAITS,
  },
}).createMachine({
  id: 'composition',
  // input is absent when xstate's transition() builds its throwaway actor: never throw here
  context: ({ input }) => ({
    jobId: input?.id ?? '',
    recordingId: '',
    meetingId: '',
    layout: 'grid',
    format: 'webm',
    durationMs: 0,
    maxAttempts: 1,
    attempt: 0,
    delivery: 0,
    workerId: null,
    percent: 0,
    speed: null,
    output: null,
    skipped: [],
    error: null,
    stderr: [],
    failures: [],
    spaceWaits: 0,
  }),
  on: {
    // A failed action the runtime reports (events/catalog.ts actionFailed): kept in the log for the
    // operator; the state stays. assign({}) copies the context, so the step is recorded, not refused.
    'composition.action.failed': { actions: assign({}) },
  },
  initial: 'new',
  states: {
    new: {
      on: {
        'composition.requested': {
          target: 'queued',
          actions: assign(({ event }) => ({
            recordingId: event.data.recordingId,
            meetingId: event.data.meetingId,
            layout: event.data.layout,
            format: event.data.format,
            durationMs: event.data.durationMs,
            maxAttempts: event.data.maxAttempts,
          })),
        },
      },
    },
    queued: {
      description: 'Waiting for a composer worker.',
      entry: { type: 'enqueueComposition', params: ({ context }) => ({ jobId: context.jobId }) },
      on: {
        'composition.started': {
          guard: 'isNextRun',
          target: 'running',
          actions: assign(({ event }) => ({
            attempt: event.data.attempt,
            delivery: event.data.delivery,
            workerId: event.data.workerId,
            percent: 0,
            speed: null,
          })),
        },
        // Recovery re-enqueues a job whose queue entry died with its process.
        'composition.requeued': { target: 'queued', reenter: true },
      },
    },
    running: {
      description: 'One worker runs ffmpeg; never two at once.',
      entry: {
        type: 'scheduleTimer',
        params: ({ context }) => ({
          key: 'run',
          delayMs: runTimeoutMs(context.durationMs),
          type: 'composition.timed-out' as const,
          data: { attempt: context.attempt },
        }),
      },
      exit: { type: 'cancelTimer', params: { key: 'run' } },
      on: {
        'composition.progressed': {
          guard: 'isThisRun',
          actions: assign(({ event }) => ({ percent: event.data.percent, speed: event.data.speed })),
        },
        'composition.completed': {
          guard: 'isThisRun',
          target: 'completed',
          actions: assign(({ event }) => ({
            output: event.data.output,
            skipped: event.data.skipped,
            percent: 100,
            error: null,
            stderr: [],
          })),
        },
        'composition.failed': [
          { guard: 'isSpaceFailure', target: 'retrying', actions: 'recordSpaceFailure' },
          { guard: 'canRetry', target: 'retrying', actions: 'recordFailure' },
          { guard: 'isThisRun', target: 'failed', actions: 'recordFailure' },
        ],
        'composition.timed-out': [
          {
            guard: 'canRetry',
            target: 'retrying',
            actions: ['recordFailure', { type: 'abortComposition', params: ({ context }) => ({ jobId: context.jobId, attempt: context.attempt }) }],
          },
          {
            guard: 'isThisRun',
            target: 'failed',
            actions: ['recordFailure', { type: 'abortComposition', params: ({ context }) => ({ jobId: context.jobId, attempt: context.attempt }) }],
          },
        ],
        'composition.started': {
          guard: 'isTakeover',
          target: 'running',
          reenter: true,
          actions: assign(({ event }) => ({
            attempt: event.data.attempt,
            delivery: event.data.delivery,
            workerId: event.data.workerId,
            percent: 0,
          })),
        },
        'composition.requeued': { target: 'queued', actions: assign({ workerId: null }) },
      },
    },
    retrying: {
      description: 'The run failed; the next automatic attempt waits for its backoff (longer when it failed for want of space).',
      entry: {
        type: 'scheduleTimer',
        params: ({ context }) => ({
          key: 'retry',
          delayMs: context.failures.at(-1)?.reason === 'disk-full' ? spaceRetryDelayMs(context.spaceWaits) : retryDelayMs(countedRuns(context)),
          type: 'composition.retry.due' as const,
          data: {},
        }),
      },
      exit: { type: 'cancelTimer', params: { key: 'retry' } },
      on: {
        'composition.retry.due': 'queued',
        'composition.retry.requested': 'queued',
        'composition.requeued': 'queued',
      },
    },
    completed: { type: 'final', description: 'The composed file is written and probed.' },
    failed: {
      description: 'Every automatic attempt failed; the inputs are kept. A retry can be requested.',
      on: {
        'composition.retry.requested': {
          target: 'queued',
          actions: assign({ maxAttempts: ({ context }) => countedRuns(context) + 1 }),
        },
      },
    },
  },
});
