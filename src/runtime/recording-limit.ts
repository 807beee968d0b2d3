import type { Logger } from 'pino';
import { parseStream } from '../../events/streams.js';
import { stopCompositionJobId, recordingStream, roomStream } from '../../machines/actions.js';
import type { RecordingContext } from '../../machines/recording.js';
import type { Runtime } from './runtime.js';

export interface RecordingLimitOptions {
  runtime: Runtime;
  /** MAX_RECORDING_SECONDS in ms. */
  maxMs: number;
  /** Only recordings of rooms this node owns are timed here (their owner times the others). */
  nodeId: string;
  logger: Logger;
  clock?: () => number;
}

/**
 * MAX_RECORDING_SECONDS as a timer service: when a running recording reaches
 * the limit it gets `recording.stop.requested` (reason `limit-reached`,
 * composed), an ordinary logged event, so machines stay pure and a replay
 * needs no timer. Armed from the runtime's state when started, so a recording
 * that outlived a restart is still stopped on time (at once when overdue).
 */
export function startRecordingLimit({ runtime, maxMs, nodeId, logger, clock = Date.now }: RecordingLimitOptions) {
  const log = logger.child({ module: 'recording-limit' });
  const timers = new Map<string, NodeJS.Timeout>();

  const owned = (ctx: RecordingContext) => !ctx.roomId || (runtime.get(roomStream(ctx.roomId))?.context.nodeId ?? nodeId) === nodeId;

  async function fire(recordingId: string) {
    timers.delete(recordingId);
    const r = await runtime.dispatch(
      {
        stream: recordingStream(recordingId),
        type: 'recording.stop.requested',
        data: { reason: 'limit-reached', compose: true, compositionJobId: stopCompositionJobId(recordingId) },
        correlationId: recordingId,
      },
      { mustExist: true },
    );
    if (r.accepted) log.warn({ recordingId, maxMs }, 'recording reached MAX_RECORDING_SECONDS: stopped');
    else log.debug({ recordingId, why: r.message }, 'limit stop not applied');
  }

  function arm(ctx: RecordingContext) {
    if (timers.has(ctx.recordingId) || ctx.startedAt === null || !owned(ctx)) return;
    const delay = Math.max(0, ctx.startedAt + maxMs - clock());
    const t = setTimeout(() => {
      fire(ctx.recordingId).catch((err) => log.error({ err, recordingId: ctx.recordingId }, 'limit stop failed'));
    }, delay);
    t.unref();
    timers.set(ctx.recordingId, t);
  }

  function disarm(recordingId: string) {
    clearTimeout(timers.get(recordingId));
    timers.delete(recordingId);
  }

  for (const a of runtime.list('recording')) if (a.snapshot.value === 'recording') arm(a.snapshot.context as RecordingContext);
  const off = runtime.onEvent(({ event, after }) => {
    if (!event.stream.startsWith('recording:')) return;
    const ctx = after.context as RecordingContext;
    if (after.value === 'recording') arm(ctx);
    else disarm(ctx.recordingId || parseStream(event.stream).id);
  });

  return {
    /** Recordings with a limit timer armed. */
    get armed() {
      return timers.size;
    },
    close() {
      off();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
export type RecordingLimit = ReturnType<typeof startRecordingLimit>;
