import type { Logger } from 'pino';
import { compositionStream } from '../../machines/actions.js';
import type { CompositionContext } from '../../machines/composition.js';
import type { Runtime } from '../runtime/runtime.js';
import type { CompositionQueue, WorkItem } from './queue.js';

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
    },
    hooks: { onProgress?(p: { percent: number; speed: number | null }): void; signal?: AbortSignal },
  ): Promise<{ file: string; durationMs: number; sizeBytes: number; skipped: { file: string; reason: string }[] }>;
}

export interface WorkerOptions {
  runtime: Runtime;
  queue: CompositionQueue;
  composer: ComposerPort;
  workerId: string;
  concurrency: number;
  logger: Logger;
  /** Minimum gap between two progress events of one run. */
  progressEveryMs?: number;
  clock?: () => number;
}

/**
 * Takes composition jobs off the queue and runs them: `composition.started`
 * is the claim (the machine refuses a second run), ffmpeg progress becomes
 * throttled `composition.progressed` events, and the outcome comes back as
 * `composition.completed` or `composition.failed`.
 */
export function createCompositionWorker(opts: WorkerOptions) {
  const { runtime, composer, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const running = new Map<string, AbortController>();
  let stop: (() => Promise<void>) | null = null;
  let stopping = false;

  async function run(item: WorkItem) {
    const stream = compositionStream(item.jobId);
    const snap = runtime.get(stream);
    const ctx = snap?.context as CompositionContext | undefined;
    if (!snap || !ctx) {
      logger.warn({ jobId: item.jobId }, 'work item for an unknown job: dropped');
      return;
    }
    const attempt = ctx.attempt + 1;
    const claim = await runtime.dispatch({
      stream,
      type: 'composition.started',
      data: { attempt, workerId: opts.workerId, delivery: item.delivery },
    });
    if (!claim.accepted) {
      logger.info({ jobId: item.jobId, recordingId: ctx.recordingId, why: claim.message }, 'job not claimed');
      return;
    }
    const log = logger.child({ jobId: item.jobId, recordingId: ctx.recordingId, roomId: ctx.meetingId, attempt });
    const abort = new AbortController();
    running.set(`${item.jobId}#${attempt}`, abort);
    let lastProgress = 0;
    log.info({ layout: ctx.layout, format: ctx.format }, 'composition started');
    try {
      const result = await composer.compose(
        {
          jobId: item.jobId,
          meetingId: ctx.meetingId,
          recordingId: ctx.recordingId,
          durationMs: ctx.durationMs,
          layout: ctx.layout,
          format: ctx.format,
          createdAt: clock(),
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
      if (stopping) {
        // Cut short by a shutdown, not a failure of the job: it goes back to the queue untouched.
        log.info('composition interrupted by shutdown: re-queued');
        await runtime.dispatch({ stream, type: 'composition.requeued', data: { reason: `worker ${opts.workerId} stopped` } });
        return;
      }
      const e = err as Error & { stderr?: string[]; stderrTail?: string[] };
      const stderr = (e.stderr ?? e.stderrTail ?? []).slice(-20).map((l) => String(l).slice(0, 1000));
      log.error({ err: e.message, stderr }, 'composition failed');
      await runtime.dispatch({
        stream,
        type: 'composition.failed',
        data: { attempt, error: String(e.message ?? e).slice(0, 4000), stderr },
      });
    } finally {
      running.delete(`${item.jobId}#${attempt}`);
    }
  }

  return {
    start() {
      stop = opts.queue.consume(run, opts.concurrency);
    },
    /** The abortComposition effect: stop a run this process is doing. */
    abort(jobId: string, attempt: number) {
      running.get(`${jobId}#${attempt}`)?.abort();
    },
    async stop() {
      stopping = true;
      for (const a of running.values()) a.abort();
      await stop?.();
    },
  };
}
