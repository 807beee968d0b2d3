import type { Logger } from 'pino';
import type { Format, Layout } from '../../events/catalog.js';
import { roomStream } from '../../events/streams.js';
import type { Runtime } from '../runtime/runtime.js';

export interface AutoRecordOptions {
  runtime: Runtime;
  layout: Layout;
  format: Format;
  newId: () => string;
  logger: Logger;
}

/**
 * AUTO_RECORD: a room is recorded from the moment its host opens it, as
 * LiveKit's auto-egress does. It asks what POST /api/recording-sessions asks
 * (`room.recording.requested`); the room machine decides, so a room already
 * recording is left alone. Only the process that took the join (`local`) asks:
 * in NATS mode the room's own node, once.
 */
export function startAutoRecord({ runtime, layout, format, newId, logger }: AutoRecordOptions) {
  const log = logger.child({ module: 'auto-record' });
  const off = runtime.onEvent((a) => {
    if (a.type !== 'room.member.joined' || !a.local || a.before?.value === 'open' || a.after.value !== 'open') return;
    const roomId = a.after.context.roomId;
    const recordingId = newId();
    // After the join's own effects: the host's connect reply goes out first, then recording-started.
    setImmediate(() => {
      runtime
        .dispatch(
          { stream: roomStream(roomId), type: 'room.recording.requested', data: { recordingId, layout, format }, causationId: a.event.id },
          { mustExist: true },
        )
        .then((r) => {
          if (r.accepted) log.info({ roomId, recordingId, layout, format }, 'recording started: AUTO_RECORD');
          else log.debug({ roomId, why: r.message }, 'auto-record not applied');
        })
        .catch((err) => log.error({ err, roomId }, 'auto-record failed'));
    });
  });
  return { close: off };
}
