import type { World } from './harness.js';

/** The files the recorder wrote for one peer stream (what it reports when it closes). */
export function filesOf(w: World, peerStream: string) {
  return w.trace.events
    .filter((t) => t.event.stream === peerStream && t.event.type === 'peer.segment.finalized')
    .map((t) => (t.event.data as any).segment);
}

/** The offer the recorder was last asked to answer for this participant, if any. */
export function currentOffer(w: World, recordingId: string, participantId: string): number | null {
  const open = w.trace.effects.filter((f) => f.type === 'openRecorderPeer' && f.params.recordingId === recordingId && f.params.participantId === participantId).at(-1);
  return open ? open.params.offerNumber : null;
}

/**
 * The end of every meeting, as the outside world plays it: hosts still in
 * their rooms leave, recordings still running are stopped through the API, the
 * recorder answers every close it was asked for (reporting the files it wrote),
 * and peers that never answer are timed out.
 */
export async function settle(w: World) {
  for (let round = 0; round < 4; round++) {
    const before = w.trace.events.length;
    for (const a of w.rt.list('room')) {
      if (a.snapshot.value === 'open' && a.snapshot.context.hostId)
        await w.dispatch({ stream: a.stream, type: 'room.member.left', data: { participantId: a.snapshot.context.hostId, reason: 'left' } });
    }
    for (const a of w.rt.list('recording')) {
      if (a.snapshot.value === 'recording')
        await w.dispatch({ stream: a.stream, type: 'recording.stop.requested', data: { reason: 'api', compose: true, compositionJobId: `${a.snapshot.context.recordingId}-end` } });
    }
    const asked = w.trace.effects.filter((f) => f.type === 'closeRecorderPeer');
    for (const f of asked) {
      const stream = `peer:${f.params.recordingId}.${f.params.participantId}`;
      if (w.rt.get(stream)?.value === 'closing') await w.dispatch({ stream, type: 'peer.closed', data: { reason: f.params.reason, segments: filesOf(w, stream) } });
    }
    for (const a of w.rt.list('recording')) {
      if (a.snapshot.value === 'stopping') await w.dispatch({ stream: a.stream, type: 'recording.stop.timed-out', data: {} });
    }
    if (w.trace.events.length === before) break;
  }
}
