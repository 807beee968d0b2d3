import { compositionStream, peerStream, recordingStream, roomStream, stopCompositionJobId } from '../../machines/actions.js';
import type { Runtime } from '../../src/runtime/runtime.js';

/**
 * One short meeting through the runtime, as the real app dispatches it: a
 * host and a participant join, the host records, both recorder peers offer,
 * connect and send media, the host stops, the peers close with a segment
 * each, the composition runs and completes, the host leaves. What the
 * effects would report (answers, closes, ffmpeg's result) is dispatched here
 * in their place. Returns the ids it used.
 */
export async function shortMeeting(rt: Runtime, roomId: string, recordingId: string, opts: { compose?: boolean; complete?: boolean; close?: boolean } = {}) {
  const compose = opts.compose ?? true;
  const d = async (stream: string, type: string, data: object) => {
    const r = await rt.dispatch({ stream, type, data });
    if (!r.accepted) throw new Error(`${stream} ${type}: ${r.message}`);
  };
  const room = roomStream(roomId);
  const people = [`${roomId}-h`, `${roomId}-p`];
  for (const [i, participantId] of people.entries()) await d(room, 'room.member.joined', { participantId, name: i ? null : 'Host', nodeId: 'n1' });
  await d(room, 'room.recording.requested', { recordingId, layout: 'grid', format: 'webm' });
  for (const pid of people) {
    const peer = peerStream(recordingId, pid);
    await d(peer, 'peer.offer.received', { sdp: 'v=0' });
    await d(peer, 'peer.connected', { offerNumber: 1 });
    await d(peer, 'peer.media.started', { offerNumber: 1, kind: 'audio' });
  }
  const jobId = stopCompositionJobId(recordingId);
  await d(recordingStream(recordingId), 'recording.stop.requested', { reason: 'api', compose, compositionJobId: jobId });
  for (const pid of people) {
    const file = `1800000000000-${recordingId}-${pid}-audio-t1.webm`;
    await d(peerStream(recordingId, pid), 'peer.closed', {
      reason: 'recording-stopped',
      segments: [{ file, kind: 'audio', segmentIndex: 0, offsetMs: 0, durationMs: 1000, codec: 'opus' }],
    });
  }
  if (compose && (opts.complete ?? true)) {
    const job = compositionStream(jobId);
    await d(job, 'composition.started', { attempt: 1, workerId: 'w1', delivery: 1 });
    await d(job, 'composition.completed', {
      attempt: 1,
      output: { file: `1800000000000-${recordingId}-composed.webm`, durationMs: 1000, sizeBytes: 1234 },
      skipped: [],
    });
  }
  if (opts.close ?? true) await d(room, 'room.member.left', { participantId: people[0], reason: 'left' });
  return { room, recording: recordingStream(recordingId), peers: people.map((p) => peerStream(recordingId, p)), job: compose ? compositionStream(jobId) : null };
}
