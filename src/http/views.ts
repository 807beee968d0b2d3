import path from 'node:path';
import type { AnyMachineSnapshot } from 'xstate';
import type { CompositionContext } from '../../machines/composition.js';
import type { RecordingContext } from '../../machines/recording.js';

/** Times of a stream's first and last event (ms since epoch), when known. */
export interface StreamTimes {
  first: number;
  last: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Machine state → the session status of protocol.md section 3. */
const SESSION_STATUS: Record<string, 'recording' | 'stopped' | 'failed'> = {
  starting: 'recording',
  recording: 'recording',
  stopping: 'stopped',
  stopped: 'stopped',
  failed: 'failed',
};

/** Machine state → the job status of protocol.md section 3. */
const JOB_STATUS: Record<string, 'queued' | 'running' | 'completed' | 'failed'> = {
  new: 'queued',
  queued: 'queued',
  retrying: 'queued',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
};

/** Turns a file route's path into the link an answer carries (signed when access control is on). */
export type FileUrlSigner = (path: string) => string;
const unsigned: FileUrlSigner = (path) => path;

export const fileUrls = (meetingId: string, filename: string, sign: FileUrlSigner = unsigned) => {
  const base = `/api/recordings/${encodeURIComponent(meetingId)}/${encodeURIComponent(filename)}`;
  return { downloadUrl: sign(`${base}/download`), streamUrl: sign(`${base}/stream`) };
};

export function sessionView(snapshot: AnyMachineSnapshot, times: StreamTimes | undefined) {
  const c = snapshot.context as RecordingContext;
  const startedAt = c.startedAt ?? times?.first ?? 0;
  const updatedAt = Math.max(times?.last ?? 0, c.stoppedAt ?? 0, startedAt);
  return {
    id: c.recordingId,
    connectionId: c.roomId,
    status: SESSION_STATUS[String(snapshot.value)] ?? 'recording',
    /** The machine state, finer than status (stopping vs stopped). */
    state: String(snapshot.value),
    layout: c.layout,
    format: c.format,
    createdAt: iso(times?.first ?? startedAt),
    startedAt: iso(startedAt),
    updatedAt: iso(updatedAt),
    ...(c.stoppedAt !== null ? { stoppedAt: iso(c.stoppedAt) } : {}),
    ...(c.error ? { error: c.error } : {}),
    stopReason: c.stopReason,
    compose: c.compose,
    compositionJobId: c.compositionJobId,
    participants: Object.entries(c.participants).map(([participantId, p]) => ({ participantId, ...p })),
    segments: c.segments,
  };
}
export type SessionView = ReturnType<typeof sessionView>;

export function jobView(snapshot: AnyMachineSnapshot, times: StreamTimes | undefined, inputFiles: string[], sign: FileUrlSigner = unsigned) {
  const c = snapshot.context as CompositionContext;
  const status = JOB_STATUS[String(snapshot.value)] ?? 'queued';
  const created = times?.first ?? 0;
  const filename = c.output ? path.basename(c.output.file) : null;
  return {
    id: c.jobId,
    recordingId: c.recordingId,
    meetingId: c.meetingId,
    status,
    state: String(snapshot.value),
    layout: c.layout,
    format: c.format,
    createdAt: iso(created),
    updatedAt: iso(times?.last ?? created),
    inputFiles,
    ...(c.error && status !== 'completed' ? { error: c.error } : {}),
    ...(c.output && filename
      ? {
          output: {
            meetingId: c.meetingId,
            filename,
            ...fileUrls(c.meetingId, filename, sign),
            durationMs: c.output.durationMs,
            sizeBytes: c.output.sizeBytes,
          },
        }
      : {}),
    progress: c.percent,
    attempts: c.attempt,
    workerId: c.workerId,
    maxAttempts: c.maxAttempts,
    failures: c.failures,
    skipped: c.skipped,
  };
}
export type JobView = ReturnType<typeof jobView>;
