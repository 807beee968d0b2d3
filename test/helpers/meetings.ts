import type { Runtime } from '../../src/runtime/runtime.js';

/** A short recorded meeting through the runtime: a room, two members, their peers with media and stats, a stop. */
export async function meeting(rt: Runtime, room: string, recordingId: string) {
  const d = async (stream: string, type: string, data: object) => {
    const r = await rt.dispatch({ stream, type, data });
    if (!r.accepted) throw new Error(`${type}: ${r.message}`);
  };
  await d(`room:${room}`, 'room.member.joined', { participantId: `${room}-h`, name: 'H', nodeId: 'n1' });
  await d(`room:${room}`, 'room.member.joined', { participantId: `${room}-p`, name: null, nodeId: 'n1' });
  await d(`room:${room}`, 'room.recording.requested', { recordingId, layout: 'grid', format: 'webm' });
  for (const p of [`${room}-h`, `${room}-p`]) {
    await d(`peer:${recordingId}.${p}`, 'peer.offer.received', { sdp: 'v=0' });
    await d(`peer:${recordingId}.${p}`, 'peer.connected', { offerNumber: 1 });
    await d(`peer:${recordingId}.${p}`, 'peer.media.started', { offerNumber: 1, kind: 'audio' });
    for (let i = 0; i < 20; i++) await d(`peer:${recordingId}.${p}`, 'peer.media.stats', { offerNumber: 1, packets: 10, bytes: 100, lost: i % 2 });
  }
  await d(`recording:${recordingId}`, 'recording.stop.requested', { reason: 'api', compose: true, compositionJobId: `${recordingId}-job` });
  for (const p of [`${room}-h`, `${room}-p`]) await d(`peer:${recordingId}.${p}`, 'peer.closed', { reason: 'recording-stopped', segments: [] });
}

/** Every actor's state, comparable across runtimes. */
export const view = (rt: Runtime) =>
  Object.fromEntries(
    (['room', 'recording', 'peer', 'composition'] as const)
      .flatMap((k) => rt.list(k))
      .map((a) => [a.stream, { value: a.snapshot.value, status: a.snapshot.status, context: a.snapshot.context, position: a.position, first: a.firstTime, last: a.lastTime }]),
  );
