import type { EventType } from '../events/catalog.js';

/**
 * Effects a machine can ask for. Machines only name them; the runtime executes
 * them after the event that caused them is durable in the log.
 */
export interface EmitSpec {
  stream: string;
  type: EventType;
  data: Record<string, unknown>;
  /** Defaults to the causing event's correlationId. */
  correlationId?: string | null;
}

export interface EffectParams {
  /** Append and route further events (to this or other streams). */
  emit: { events: EmitSpec[] };
  /** Deliver `type` to this stream after `delayMs`, as a logged event. */
  scheduleTimer: { key: string; delayMs: number; type: EventType; data: Record<string, unknown> };
  cancelTimer: { key: string };
  /** Open (or replace) the recorder peer of one participant and answer its offer. */
  openRecorderPeer: {
    roomId: string;
    recordingId: string;
    participantId: string;
    role: 'host' | 'participant';
    name: string | null;
    startedAt: number;
    offerNumber: number;
    segmentIndex: number;
    sdp: string;
  };
  addRemoteCandidate: {
    recordingId: string;
    participantId: string;
    offerNumber: number;
    candidate: string;
    sdpMid: string | null;
    sdpMLineIndex: number | null;
  };
  closeRecorderPeer: { recordingId: string; participantId: string; reason: string };
  enqueueComposition: { jobId: string };
  abortComposition: { jobId: string; attempt: number };
}
export type EffectType = keyof EffectParams;

export { compositionStream, peerStream, recordingStream, roomStream } from '../events/streams.js';
/** The job a stop starts: derived, so machines need no id source. */
export const autoCompositionJobId = (recordingId: string) => `${recordingId}-c1`;
