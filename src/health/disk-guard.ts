import type { Logger } from 'pino';
import { recordingStream, roomStream, stopCompositionJobId } from '../../machines/actions.js';
import type { RecordingContext } from '../../machines/recording.js';
import type { Runtime } from '../runtime/runtime.js';
import type { DiskMonitor, DiskStatus } from './disk.js';

export interface DiskGuardOptions {
  runtime: Runtime;
  monitor: DiskMonitor;
  /** Only recordings of rooms this node owns are stopped here: their files are written here. */
  nodeId: string;
  logger: Logger;
}

/**
 * Stops every running recording this node writes when the disk falls below
 * the reserve: `recording.stop.requested` with reason `disk-low`, composed, an
 * ordinary logged event (the machines stay pure, a replay needs no disk).
 * The stop comes while there is still room to finalize the files and compose
 * them, before writes start failing.
 */
export function startDiskGuard({ runtime, monitor, nodeId, logger }: DiskGuardOptions) {
  const log = logger.child({ module: 'health/disk-guard' });
  const stopping = new Set<string>();

  // NATS mode: recorder peers run where their sockets are, so a recording writes here when one of its peers is here.
  const owned = (ctx: RecordingContext) =>
    !ctx.roomId ||
    (runtime.get(roomStream(ctx.roomId))?.context.nodeId ?? nodeId) === nodeId ||
    Object.values(ctx.participants).some((p) => p.active && p.nodeId === nodeId);

  async function stop(recordingId: string, reasons: string[]) {
    const r = await runtime.dispatch(
      {
        stream: recordingStream(recordingId),
        type: 'recording.stop.requested',
        data: { reason: 'disk-low', compose: true, compositionJobId: stopCompositionJobId(recordingId) },
        correlationId: recordingId,
      },
      { mustExist: true },
    );
    if (r.accepted) log.warn({ recordingId, reasons }, 'disk below the reserve: recording stopped');
    else log.debug({ recordingId, why: r.message }, 'disk-low stop not applied');
  }

  function onCheck(s: DiskStatus) {
    if (s.ok) return;
    for (const a of runtime.list('recording')) {
      const ctx = a.snapshot.context as RecordingContext;
      if (a.snapshot.value !== 'recording' || !owned(ctx) || stopping.has(ctx.recordingId)) continue;
      stopping.add(ctx.recordingId);
      stop(ctx.recordingId, s.reasons)
        .catch((err) => log.error({ err, recordingId: ctx.recordingId }, 'disk-low stop failed'))
        .finally(() => stopping.delete(ctx.recordingId));
    }
  }

  const off = monitor.onCheck(onCheck);
  if (monitor.status) onCheck(monitor.status);
  return {
    close() {
      off();
    },
  };
}
export type DiskGuard = ReturnType<typeof startDiskGuard>;
