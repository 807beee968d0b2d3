import type { AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';
import { parseStream } from '../../events/streams.js';

/** What went wrong at this event, if anything did: a failed or timed-out composition, a peer or recording that failed, an action that failed. */
export function problemOf(e: StoredEvent, before: AnyMachineSnapshot, after: AnyMachineSnapshot): { what: string; detail: string[] } | null {
  const { kind, id } = parseStream(e.stream);
  const ctx = after.context as Record<string, any>;
  if (kind === 'composition' && e.type === 'composition.failed') {
    const d = e.data as { attempt: number; error: string; stderr: string[] };
    const next = after.value === 'retrying' ? 'will be retried' : 'no attempts left';
    return { what: `composition ${id} of recording ${ctx.recordingId} failed (attempt ${d.attempt}, ${next})`, detail: [d.error, ...d.stderr.map((l) => `ffmpeg: ${l}`)] };
  }
  if (kind === 'composition' && e.type === 'composition.timed-out') {
    return { what: `composition ${id} timed out (attempt ${ctx.attempt})`, detail: [] };
  }
  if (kind === 'peer' && before.value !== after.value && ['failed', 'no-media', 'no-offer'].includes(String(after.value))) {
    const who = `participant ${ctx.participantId} of recording ${ctx.recordingId}`;
    const what =
      after.value === 'no-offer' ? `${who} never sent its recorder offer` : after.value === 'no-media' ? `${who} never sent media` : `recorder peer of ${who} failed`;
    return { what, detail: [ctx.problem ?? ''] };
  }
  if (kind === 'recording' && before.value !== after.value && after.value === 'failed') {
    return { what: `recording ${id} failed`, detail: [ctx.error ?? ''] };
  }
  if (e.type === `${kind}.action.failed`) {
    const d = e.data as { action: string; error: string; detail?: string; retrying: boolean };
    return { what: `${d.action} failed for ${e.stream}${d.retrying ? ' (tried again until it passes)' : ''}`, detail: [d.error, ...(d.detail ? [d.detail] : [])] };
  }
  if (kind === 'recording' && e.type === 'recording.stop.requested' && (e.data as any).reason === 'interrupted') {
    return { what: `recording ${id} was interrupted by a server restart`, detail: ['its kept tracks are composed'] };
  }
  return null;
}
