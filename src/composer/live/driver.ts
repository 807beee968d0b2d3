import type { Logger } from 'pino';
import type { Runtime } from '../../runtime/runtime.js';
import type { LiveComposer } from './index.js';

/**
 * Starts and ends live compositions from the recording events this process
 * applies: `recording.started` (dispatched here) starts one, a stop freezes it
 * (the composition job finishes it), a failure or a stop without composition
 * drops its chunks. Returns the unsubscribe.
 *
 * Only the process that started the recording composes it live: in NATS mode
 * the job may go to another worker, which then resumes from the chunks (or
 * composes after the stop), see README "Live composition". When that job
 * ends, this process lets its frozen session go (`release`): otherwise its
 * audio encoder would wait on its input for good.
 */
export function attachLiveComposer(runtime: Pick<Runtime, 'onEvent'>, live: LiveComposer, logger: Logger): () => void {
  return runtime.onEvent((a) => {
    const warn = (err: unknown) => logger.warn({ err: (err as Error).message, eventType: a.type }, 'live composition hook failed');
    try {
      if (a.type === 'recording.started' && a.local) {
        const d = a.event.data;
        live.start({ meetingId: d.roomId, recordingId: d.recordingId, startedAt: d.startedAt, layout: d.layout, format: d.format });
      } else if (a.type === 'recording.stop.requested') {
        if (a.event.data.compose === false) void live.drop(a.after.context.recordingId).catch(warn);
        else void live.freeze(a.after.context.recordingId).catch(warn);
      } else if (a.type === 'recording.write.failed') {
        void live.freeze(a.after.context.recordingId).catch(warn);
      } else if (a.type === 'recording.failed') {
        void live.drop(a.after.context.recordingId).catch(warn);
      } else if ((a.type === 'composition.completed' || a.type === 'composition.failed') && (a.after.value === 'completed' || a.after.value === 'failed')) {
        // This process's own run of the job took its session already (wrap); this is another worker's.
        void live.release(a.after.context.recordingId, a.after.value).catch(warn);
      }
    } catch (err) {
      warn(err);
    }
  });
}
