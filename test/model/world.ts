import type { World } from './harness.js';

/**
 * What the recorder reports when it closes a peer: the files of the peer it
 * holds, i.e. those written for the offer it answered last (src/effects/recorder.ts);
 * files of replaced peers were reported as they were finalized.
 */
export function filesOf(w: World, peerStream: string) {
  const [recordingId, participantId] = peerStream.slice('peer:'.length).split('.');
  const offer = currentOffer(w, recordingId, participantId);
  return w.trace.events
    .filter((t) => t.event.stream === peerStream && t.event.type === 'peer.segment.finalized' && (t.event.data as any).offerNumber === offer)
    .map((t) => (t.event.data as any).segment);
}

/** The recorder answers a close it was asked for (none when it was never asked). */
export async function answerClose(w: World, peerStream: string) {
  const [recordingId, participantId] = peerStream.slice('peer:'.length).split('.');
  const asked = w.trace.effects.filter((f) => f.type === 'closeRecorderPeer' && f.params.recordingId === recordingId && f.params.participantId === participantId).at(-1);
  if (!asked || w.rt.get(peerStream)?.value !== 'closing') return;
  await w.dispatch({ stream: peerStream, type: 'peer.closed', data: { reason: asked.params.reason, segments: filesOf(w, peerStream) }, causationId: asked.cause.id });
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
    for (const a of w.rt.list('peer')) await answerClose(w, a.stream);
    for (const a of w.rt.list('recording')) {
      if (a.snapshot.value === 'stopping') await w.dispatch({ stream: a.stream, type: 'recording.stop.timed-out', data: {} });
    }
    if (w.trace.events.length === before) break;
  }
}
