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
    /** The token's `sub` or host-userInfo's userId when known: a rejoin under a new participantId keeps one tile from the sidecars alone. */
    userId: string | null;
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
  /** A live recorder peer's sidecars take a new name / userId (host-userInfo sent after the peer opened). */
  identifyRecorderPeer: { recordingId: string; participantId: string; name: string | null; userId: string | null };
  enqueueComposition: { jobId: string };
  abortComposition: { jobId: string; attempt: number };
  /** Upload a job's files (attempt n): the uploader claims it with `upload.started`. */
  runUpload: { jobId: string; attempt: number };
}
export type EffectType = keyof EffectParams;

export { compositionStream, peerStream, recordingStream, roomStream, uploadStream } from '../events/streams.js';
/**
 * Composition job ids, the one rule: `<recordingId>-c<n>`. n = 1 is the job a
 * stop starts (derived, so machines need no id source and a stop asked twice
 * names one job); a composition asked for again takes the lowest n ≥ 2 that
 * names no job yet. Logs written before this rule hold other job ids (random
 * uuids): they are read as they are, nothing parses a job id.
 */
export const compositionJobId = (recordingId: string, n: number) => `${recordingId}-c${n}`;
export const stopCompositionJobId = (recordingId: string) => compositionJobId(recordingId, 1);
export function nextCompositionJobId(recordingId: string, exists: (jobId: string) => boolean): string {
  let n = 2;
  while (exists(compositionJobId(recordingId, n))) n++;
  return compositionJobId(recordingId, n);
}
