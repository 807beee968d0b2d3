import type { Logger } from 'pino';
import { compositionStream, recordingStream, type EffectParams } from '../../machines/actions.js';
import type { CompositionContext } from '../../machines/composition.js';
import type { RecordingContext } from '../../machines/recording.js';
import type { CompositionQueue, QueueItem } from '../queue/types.js';
import type { EffectContext, EffectHandlers, Runtime } from '../runtime/runtime.js';

/** What the worker needs of the ffmpeg composer (src/composer). */
export interface ComposerPort {
  compose(
    req: {
      jobId: string;
      meetingId: string;
      recordingId: string;
      durationMs: number;
      layout: CompositionContext['layout'];
      format: CompositionContext['format'];
      createdAt: number;
      /** Who each participantId is (token, host-userInfo, connect), from the recording's log. */
      members?: { participantId: string; name?: string | null; userId?: string; avatar?: string; userInfo?: Record<string, unknown> }[];
    },
    hooks: { onProgress?(p: { percent: number; speed: number | null }): void; signal?: AbortSignal },
  ): Promise<{ file: string; durationMs: number; sizeBytes: number; skipped: { file: string; reason: string }[] }>;
}

export interface CompositionWorkerOptions {
  runtime: Runtime;
  queue: CompositionQueue;
  composer: ComposerPort;
  workerId: string;
  concurrency: number;
  logger: Logger;
  /** Minimum gap between two progress events of one run. */
  progressEveryMs?: number;
  /**
   * How long an item waits for this process's log to reach the event that
   * queued it (a follower behind the queue) before it is handed back (default 10 s).
   */
  catchUpWaitMs?: number;
  /** When such an item is delivered again (default 5 s). */
  catchUpRetryMs?: number;
  clock?: () => number;
}

/**
 * Takes composition jobs off the queue and runs them: `composition.started`
 * is the claim (the machine refuses a second run), ffmpeg progress becomes
 * throttled `composition.progressed` events, and the outcome comes back as
 * `composition.completed` or `composition.failed`.
 *
 * An item may arrive before this process's log has the events that queued it
 * (ROLE=composer follows the log of other nodes): the worker waits for its
 * runtime to fold the job up to the item's position, and hands the item back
 * to the queue when that takes too long, so the job is never lost.
 */
export function createCompositionWorker(opts: CompositionWorkerOptions) {
  const { runtime, queue, composer, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const catchUpWaitMs = opts.catchUpWaitMs ?? 10_000;
  const catchUpRetryMs = opts.catchUpRetryMs ?? 5_000;
  // Beats well inside the queue's ack wait: only a worker that died loses its item.
  const beatMs = Math.max(100, Math.floor(queue.ackWaitMs / 3));
  const running = new Map<string, AbortController>();
  const stopping = new AbortController();
  let stopConsuming: (() => Promise<void>) | null = null;

  /** Resolves once the runtime holds the job's stream up to `position`, or at the bound, or at stop. */
  async function catchUp(stream: string, position: number): Promise<void> {
    if (runtime.position(stream) >= position || stopping.signal.aborted) return;
    let onStop: () => void = () => {};
    const stopped = new Promise<void>((r) => (onStop = r));
    stopping.signal.addEventListener('abort', onStop, { once: true });
    try {
      await Promise.race([runtime.waitFor(stream, () => runtime.position(stream) >= position, catchUpWaitMs), stopped]);
    } finally {
      stopping.signal.removeEventListener('abort', onStop);
    }
  }

  function handBack(item: QueueItem, why: string) {
    const delayMs = stopping.signal.aborted ? 0 : catchUpRetryMs;
    logger.warn({ jobId: item.jobId, position: item.position, known: runtime.position(compositionStream(item.jobId)), delivery: item.delivery, delayMs }, why);
    item.nak(delayMs);
  }

  /** The recording's participants as its log knows them (a finished recording is read back from the log). */
  async function membersOf(recordingId: string) {
    const stream = recordingStream(recordingId);
    let snap = runtime.get(stream);
    try {
      snap ??= (await runtime.read(stream))?.snapshot;
    } catch (err) {
      // Names and tiles then come from the sidecars alone: worse plates, never a lost composition.
      logger.warn({ err, recordingId }, 'recording not readable from the log; composing from the sidecars alone');
    }
    const participants = (snap?.context as RecordingContext | undefined)?.participants ?? {};
    return Object.entries(participants).map(([participantId, p]) => ({
      participantId,
      name: p.name,
      ...(p.userId ? { userId: p.userId } : {}),
      ...(p.avatar ? { avatar: p.avatar } : {}),
      ...(p.userInfo ? { userInfo: p.userInfo } : {}),
    }));
  }

  async function run(item: QueueItem) {
    const beat = setInterval(() => item.working(), beatMs);
    try {
      await runItem(item);
    } finally {
      clearInterval(beat);
    }
  }

  async function runItem(item: QueueItem) {
    const stream = compositionStream(item.jobId);
    await catchUp(stream, item.position);
    const snap = runtime.get(stream);
    const ctx = snap?.context as CompositionContext | undefined;
    if (!snap || !ctx) {
      handBack(item, 'work item for a job this log does not hold yet: handed back');
      return;
    }
    const attempt = ctx.attempt + 1;
    const claim = await runtime.dispatch({
      stream,
      type: 'composition.started',
      data: { attempt, workerId: opts.workerId, delivery: item.delivery },
    });
    if (!claim.accepted) {
      // Refused on a state older than the one that queued the item: judge it again once the log is there.
      if (runtime.position(stream) < item.position) {
        handBack(item, 'work item ahead of this log: handed back');
        return;
      }
      logger.info({ jobId: item.jobId, recordingId: ctx.recordingId, why: claim.message }, 'job not claimed');
      return;
    }
    const log = logger.child({ jobId: item.jobId, recordingId: ctx.recordingId, roomId: ctx.meetingId, attempt });
    const abort = new AbortController();
    running.set(`${item.jobId}#${attempt}`, abort);
    let lastProgress = 0;
    log.info({ layout: ctx.layout, format: ctx.format }, 'composition started');
    try {
      const members = await membersOf(ctx.recordingId);
      const result = await composer.compose(
        {
          jobId: item.jobId,
          meetingId: ctx.meetingId,
          recordingId: ctx.recordingId,
          durationMs: ctx.durationMs,
          layout: ctx.layout,
          format: ctx.format,
          createdAt: clock(),
          ...(members.length ? { members } : {}),
        },
        {
          signal: abort.signal,
          onProgress: (p) => {
            item.working();
            const now = clock();
            if (now - lastProgress < (opts.progressEveryMs ?? 2_000)) return;
            lastProgress = now;
            void runtime.dispatch({
              stream,
              type: 'composition.progressed',
              data: { attempt, percent: Math.max(0, Math.min(100, Math.round(p.percent * 10) / 10)), speed: p.speed },
            });
          },
        },
      );
      await runtime.dispatch({
        stream,
        type: 'composition.completed',
        data: {
          attempt,
          output: { file: result.file, durationMs: Math.round(result.durationMs), sizeBytes: result.sizeBytes },
          skipped: result.skipped.map((s) => ({ file: s.file.slice(0, 255), reason: s.reason.slice(0, 500) })),
        },
      });
      log.info({ file: result.file, sizeBytes: result.sizeBytes }, 'composition completed');
    } catch (err) {
      if (stopping.signal.aborted) {
        // Cut short by a shutdown, not a failure of the job: it goes back to the queue untouched.
        log.info('composition interrupted by shutdown: re-queued');
        await runtime.dispatch({ stream, type: 'composition.requeued', data: { reason: `worker ${opts.workerId} stopped` } });
        return;
      }
      const e = err as Error & { stderr?: string[]; stderrTail?: string[]; code?: string };
      const stderr = (e.stderr ?? e.stderrTail ?? []).slice(-20).map((l) => String(l).slice(0, 1000));
      // Out of space (src/composer/errors.ts): the job waits for space instead of burning its attempts.
      const reason = e.code === 'disk-full' ? ('disk-full' as const) : undefined;
      log.error({ err: e.message, stderr, reason }, 'composition failed');
      await runtime.dispatch({
        stream,
        type: 'composition.failed',
        data: { attempt, error: String(e.message ?? e).slice(0, 4000), stderr, ...(reason ? { reason } : {}) },
      });
    } finally {
      running.delete(`${item.jobId}#${attempt}`);
    }
  }

  return {
    start() {
      stopConsuming ??= queue.consume(run, opts.concurrency);
    },
    /** The abortComposition effect: stop a run this process is doing. */
    abort(jobId: string, attempt: number) {
      running.get(`${jobId}#${attempt}`)?.abort();
    },
    async stop() {
      stopping.abort();
      for (const a of running.values()) a.abort();
      await stopConsuming?.();
    },
  };
}

export type CompositionWorker = ReturnType<typeof createCompositionWorker>;

export interface CompositionEffectsOptions {
  queue: CompositionQueue;
  composer: ComposerPort;
  logger: Logger;
  /** Worker tuning, mostly for tests. */
  worker?: Pick<CompositionWorkerOptions, 'progressEveryMs' | 'catchUpWaitMs' | 'catchUpRetryMs' | 'clock'>;
}

/** The position the worker must have folded: the queuing event's, when it is the job's own. */
const positionOf = (jobId: string, { event }: EffectContext) => (event.stream === compositionStream(jobId) ? event.position : 1);

/**
 * The composition effects: `enqueueComposition` puts the job on the queue
 * (named by the event that asked, so a repeated effect is one entry), and
 * `abortComposition` stops a run of this process's worker, if it has one.
 */
export function createCompositionEffects(opts: CompositionEffectsOptions) {
  let worker: CompositionWorker | null = null;
  const handlers = {
    enqueueComposition: (p: EffectParams['enqueueComposition'], ctx: EffectContext) =>
      opts.queue.enqueue({ jobId: p.jobId, position: positionOf(p.jobId, ctx) }, ctx.event.id),
    abortComposition: (p: EffectParams['abortComposition']) => worker?.abort(p.jobId, p.attempt),
  } satisfies EffectHandlers;

  return {
    handlers,
    /** Starts taking jobs off the queue in this process. */
    startWorker(w: { runtime: Runtime; workerId: string; concurrency: number; logger?: Logger }): CompositionWorker {
      if (worker) return worker;
      worker = createCompositionWorker({ ...opts.worker, ...w, queue: opts.queue, composer: opts.composer, logger: w.logger ?? opts.logger });
      worker.start();
      return worker;
    },
    /** Stops the worker (its runs go back to the queue); the queue itself is the caller's. */
    async stop() {
      await worker?.stop();
    },
  };
}
