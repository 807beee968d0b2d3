import path from 'node:path';
import type { AnyMachineSnapshot } from 'xstate';
import type { CompositionContext } from '../../machines/composition.js';
import type { RecordingContext } from '../../machines/recording.js';
import type { UploadContext } from '../../machines/upload.js';

/** Times of a stream's first and last event (ms since epoch), when known. */
export interface StreamTimes {
  first: number;
  last: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const filenameOf = (c: CompositionContext) => (c.output ? path.basename(c.output.file) : null);

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

/** A live composition's progress (src/composer/live), as the session view shows it. */
export interface LiveCompositionView {
  state: string;
  /** Recording time composed so far: "composed up to 12:30". */
  composedUpToMs: number;
  /** How far the composition is behind the recording's real time. */
  lagMs: number;
  chunks: number;
  /** From the log (recording.live.progressed), where another process composes it: who, and when it said so. */
  workerId?: string;
  reportedAt?: string;
}

/** The live progress the log last recorded (another process composes it, or this one restarted). */
function recordedLive(l: NonNullable<RecordingContext['live']>, state: string): LiveCompositionView {
  return {
    state: state === 'recording' ? 'recording' : 'finishing',
    composedUpToMs: l.composedUpToMs,
    lagMs: l.lagMs,
    chunks: l.chunks,
    workerId: l.workerId,
    reportedAt: iso(l.at),
  };
}

export function sessionView(snapshot: AnyMachineSnapshot, times: StreamTimes | undefined, live?: LiveCompositionView | null) {
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
    ...(live ? { liveComposition: live } : c.live ? { liveComposition: recordedLive(c.live, String(snapshot.value)) } : {}),
  };
}
export type SessionView = ReturnType<typeof sessionView>;

/** A job's upload to object storage, when one was asked for: its state, and each object's key (with a presigned link once verified). */
export function uploadView(snapshot: AnyMachineSnapshot, objectUrl?: (key: string) => string | null) {
  const u = snapshot.context as UploadContext;
  const state = String(snapshot.value);
  const verified = new Map(u.objects.map((o) => [o.key, o]));
  return {
    state,
    bucket: u.bucket,
    attempts: u.attempt,
    ...(u.error && state !== 'completed' ? { error: u.error } : {}),
    failures: u.failures,
    deletedLocal: state === 'completed' && u.deleteLocal,
    objects: u.files.map((f) => {
      const o = verified.get(f.key);
      const url = o ? (objectUrl?.(f.key) ?? null) : null;
      return { file: f.file, objectKey: f.key, sizeBytes: f.sizeBytes, uploaded: !!o, ...(o ? { etag: o.etag } : {}), ...(url ? { presignedUrl: url } : {}) };
    }),
  };
}

export function jobView(
  snapshot: AnyMachineSnapshot,
  times: StreamTimes | undefined,
  inputFiles: string[],
  sign: FileUrlSigner = unsigned,
  upload?: { snapshot: AnyMachineSnapshot; objectUrl?: (key: string) => string | null },
) {
  const c = snapshot.context as CompositionContext;
  const up = upload ? uploadView(upload.snapshot, upload.objectUrl) : null;
  const stored = filenameOf(c) ? up?.objects.find((o) => o.file === filenameOf(c)) : undefined;
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
            // Object storage: the key once asked for; a presigned link once the upload is verified.
            ...(stored ? { objectKey: stored.objectKey, uploaded: stored.uploaded, ...(stored.presignedUrl ? { presignedUrl: stored.presignedUrl } : {}) } : {}),
          },
        }
      : {}),
    ...(up ? { upload: up } : {}),
    progress: c.percent,
    attempts: c.attempt,
    workerId: c.workerId,
    maxAttempts: c.maxAttempts,
    failures: c.failures,
    skipped: c.skipped,
  };
}
export type JobView = ReturnType<typeof jobView>;
