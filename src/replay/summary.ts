import type { AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';

/** A snapshot's state value as one string. */
export const stateOf = (s: AnyMachineSnapshot) => (typeof s.value === 'string' ? s.value : JSON.stringify(s.value));

/** One line of what an event says, for people. */
export function summarize(e: StoredEvent): string {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case 'room.member.joined':
      return `participant ${d.participantId}${d.name ? ` (${d.name})` : ''} on ${d.nodeId}`;
    case 'room.member.left':
      return `participant ${d.participantId}: ${d.reason}`;
    case 'room.recording.requested':
      return `recording ${d.recordingId} ${d.layout}/${d.format}`;
    case 'recording.started':
      return `members ${d.members.map((m: any) => `${m.participantId}(${m.role})`).join(', ')}`;
    case 'recording.stop.requested':
      return `${d.reason}${d.compose ? `, compose as ${d.compositionJobId}` : ', no composition'}`;
    case 'recording.peer.closed':
      return `${d.participantId}: ${d.outcome}, ${d.segments.length} segment(s)`;
    case 'peer.offer.received':
      return `offer (${d.sdp.length} bytes of SDP)`;
    case 'peer.answered':
      return `answer to offer ${d.offerNumber}`;
    case 'peer.track.received':
      return `${d.kind} ${d.codec}`;
    case 'peer.media.stats':
      return `+${d.packets} packets, +${d.bytes} bytes, ${d.lost} lost`;
    case 'peer.segment.finalized':
    case 'recording.segment.recorded':
      return `${d.segment.kind} ${d.segment.file} at +${d.segment.offsetMs} ms, ${d.segment.durationMs ?? '?'} ms`;
    case 'peer.failed':
    case 'peer.offer.failed':
      return d.error;
    case 'recording.live.progressed':
      return `composed up to ${(d.composedUpToMs / 1000).toFixed(1)} s (${d.chunks} chunks), ${(d.lagMs / 1000).toFixed(1)} s behind, on ${d.workerId}`;
    case 'composition.started':
      return `attempt ${d.attempt} on ${d.workerId} (delivery ${d.delivery})`;
    case 'composition.progressed':
      return `${d.percent}%${d.speed ? ` at ${d.speed}x` : ''}`;
    case 'composition.completed':
      return `${d.output.file}, ${d.output.durationMs} ms, ${d.output.sizeBytes} bytes${d.skipped.length ? `, skipped ${d.skipped.length}` : ''}`;
    case 'composition.failed':
      return `attempt ${d.attempt}: ${d.error}`;
    default: {
      const s = JSON.stringify(d);
      return s === '{}' ? '' : s.length > 120 ? `${s.slice(0, 117)}...` : s;
    }
  }
}
