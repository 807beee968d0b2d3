import path from 'node:path';
import type { AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../../events/envelope.js';
import { parseStream, recordingStream, type StreamKind } from '../../../events/streams.js';
import type { CompositionContext } from '../../../machines/composition.js';
import type { RecordingContext } from '../../../machines/recording.js';
import type { RoomContext } from '../../../machines/room.js';
import type { UploadContext } from '../../../machines/upload.js';
import type { StopReason, WebhookPayload, WebhookType } from './types.js';

/**
 * Domain events → webhook payloads, pure. A mapper sees one event with its
 * stream's state before and after it (folded in log order by feed.ts), and
 * may look up other streams (the recording a composition composed).
 *
 * A new source of webhooks plugs in here: a mapper for its stream kind, named
 * in `mappers` (the feed then folds that kind's events too, to hand the mapper
 * its before/after snapshots); the upload job's is the latest.
 */
export interface MappingOptions {
  /** Another stream's state (the feed's fold, else the runtime's). */
  lookup: (stream: string) => AnyMachineSnapshot | undefined;
  /** Absolute download / stream links of a recording file (signed when access control is on). */
  fileUrls: (meetingId: string, filename: string) => { downloadUrl: string; streamUrl: string };
  /** The object-storage key of a composed file, once uploaded (null until uploads exist). */
  objectKeyOf?: (jobId: string) => string | null;
}

export interface AppliedSource {
  event: StoredEvent;
  before?: AnyMachineSnapshot;
  after?: AnyMachineSnapshot;
}

type Made = { type: WebhookType; data: Record<string, unknown> };
type Mapper = (a: Required<AppliedSource>, o: MappingOptions) => Made[];

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const d = (e: StoredEvent) => e.data as Record<string, any>;

function room({ event: e, before, after }: Required<AppliedSource>): Made[] {
  const b = before.context as RoomContext;
  const roomId = parseStream(e.stream).id;
  const left = (participantId: string, reason: string): Made => ({
    type: 'participant.left',
    data: { roomId, participantId, role: b.members[participantId]?.role ?? 'participant', name: b.members[participantId]?.name ?? null, reason },
  });
  /** The room is gone: every member left, `first` (the host leaving) for its own reason, the others with the room. */
  const everyoneLeft = (reason: string, first?: string) =>
    Object.keys(b.members)
      .sort((x, y) => Number(y === first) - Number(x === first))
      .map((p) => left(p, first === undefined || p === first ? reason : 'room-finished'));
  switch (e.type) {
    case 'room.member.joined': {
      const opened = before.value !== 'open';
      const joined: Made = {
        type: 'participant.joined',
        data: { roomId, participantId: d(e).participantId, role: opened ? 'host' : 'participant', name: d(e).name, nodeId: d(e).nodeId },
      };
      if (!opened) return [joined];
      return [{ type: 'room.started', data: { roomId, hostId: d(e).participantId, nodeId: d(e).nodeId, startedAt: iso(e.time) } }, joined];
    }
    case 'room.member.left': {
      if (!b.members[d(e).participantId]) return [];
      if (after.value !== 'closed') return [left(d(e).participantId, d(e).reason)];
      return [
        ...everyoneLeft(d(e).reason, d(e).participantId),
        { type: 'room.finished', data: { roomId, reason: 'host-left', hostId: b.hostId, finishedAt: iso(e.time) } },
      ];
    }
    case 'room.closed':
      return [
        ...everyoneLeft(d(e).reason),
        { type: 'room.finished', data: { roomId, reason: d(e).reason, hostId: b.hostId, finishedAt: iso(e.time) } },
      ];
    default:
      return [];
  }
}

const STOP_REASONS: Record<string, StopReason> = { api: 'requested' };

function recording({ event: e, before, after }: Required<AppliedSource>): Made[] {
  const c = after.context as RecordingContext;
  const base = { recordingId: c.recordingId, roomId: c.roomId, layout: c.layout, format: c.format };
  const participants = () => Object.entries(c.participants).map(([participantId, p]) => ({ participantId, role: p.role, name: p.name }));
  if (e.type === 'recording.started') {
    return [{ type: 'recording.started', data: { ...base, startedAt: iso(c.startedAt), participants: participants() } }];
  }
  if (before.value !== 'stopped' && after.value === 'stopped') {
    return [
      {
        type: 'recording.stopped',
        data: {
          ...base,
          reason: STOP_REASONS[c.stopReason ?? ''] ?? c.stopReason,
          startedAt: iso(c.startedAt),
          stoppedAt: iso(c.stoppedAt),
          durationMs: Math.max(0, (c.stoppedAt ?? 0) - (c.startedAt ?? 0)),
          compose: c.compose,
          compositionJobId: c.compose ? c.compositionJobId : null,
          participants: Object.entries(c.participants).map(([participantId, p]) => ({
            participantId,
            role: p.role,
            name: p.name,
            outcome: p.outcome,
          })),
          tracks: c.segments.length,
        },
      },
    ];
  }
  if (before.value !== 'failed' && after.value === 'failed') {
    return [{ type: 'recording.failed', data: { ...base, error: c.error, startedAt: iso(c.startedAt) } }];
  }
  return [];
}

function composition({ event: e, before, after }: Required<AppliedSource>, o: MappingOptions): Made[] {
  const c = after.context as CompositionContext;
  const base = { jobId: c.jobId, recordingId: c.recordingId, roomId: c.meetingId, layout: c.layout, format: c.format };
  if (e.type === 'composition.started' && before.value !== 'running' && after.value === 'running') {
    return [{ type: 'composition.started', data: { ...base, attempt: c.attempt, maxAttempts: c.maxAttempts, workerId: c.workerId } }];
  }
  if (e.type === 'composition.completed' && after.value === 'completed' && c.output) {
    const rec = o.lookup(recordingStream(c.recordingId))?.context as RecordingContext | undefined;
    const filename = path.basename(c.output.file);
    return [
      {
        type: 'composition.completed',
        data: {
          ...base,
          attempt: c.attempt,
          output: {
            filename,
            sizeBytes: c.output.sizeBytes,
            durationMs: c.output.durationMs,
            format: c.format,
            layout: c.layout,
            ...o.fileUrls(c.meetingId, filename),
            objectKey: o.objectKeyOf?.(c.jobId) ?? null,
          },
          tracks: (rec?.segments ?? []).map((s) => ({
            participantId: s.participantId,
            role: rec?.participants[s.participantId]?.role ?? null,
            name: rec?.participants[s.participantId]?.name ?? null,
            kind: s.kind,
            file: s.file,
            segmentIndex: s.segmentIndex,
            offsetMs: s.offsetMs,
            durationMs: s.durationMs,
            codec: s.codec,
          })),
          skipped: c.skipped,
        },
      },
    ];
  }
  const failedRun = (e.type === 'composition.failed' || e.type === 'composition.timed-out') && before.value === 'running';
  if (failedRun && (after.value === 'retrying' || after.value === 'failed')) {
    return [
      {
        type: 'composition.failed',
        data: { ...base, attempt: c.attempt, maxAttempts: c.maxAttempts, error: c.error, willRetry: after.value === 'retrying' },
      },
    ];
  }
  return [];
}

function upload({ event: e, before, after }: Required<AppliedSource>): Made[] {
  const c = after.context as UploadContext;
  const base = { jobId: c.jobId, recordingId: c.recordingId, meetingId: c.meetingId, bucket: c.bucket, attempt: c.attempt };
  if (e.type === 'upload.completed' && after.value === 'completed' && before.value !== 'completed') {
    return [{ type: 'upload.completed', data: { ...base, objects: c.objects, deleteLocal: c.deleteLocal } }];
  }
  if (e.type === 'upload.failed' && before.value === 'uploading' && after.value !== 'uploading') {
    return [{ type: 'upload.failed', data: { ...base, error: d(e).error, key: d(e).key ?? null, maxAttempts: c.retry.maxAttempts, willRetry: after.value !== 'failed' } }];
  }
  return [];
}

/** The stream kinds that make webhooks, each with its mapper. */
const mappers: Partial<Record<StreamKind, Mapper>> = { room, recording, composition, upload };

/** Whether events of this stream kind can make webhooks (the feed folds these and skips the others). */
export const makesWebhooks = (kind: StreamKind) => mappers[kind] !== undefined;

/** The webhook payloads one applied event makes, in the order they are to be delivered. */
export function webhooksOf(a: AppliedSource, o: MappingOptions): WebhookPayload[] {
  const mapper = mappers[parseStream(a.event.stream).kind];
  if (!mapper || !a.before || !a.after || a.before === a.after) return [];
  const timestamp = new Date(a.event.time).toISOString();
  return mapper(a as Required<AppliedSource>, o).map((m) => ({ type: m.type, timestamp, data: m.data }));
}
