import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RecordingContext } from '../../machines/recording.js';
import { stopCompositionJobId } from '../../machines/actions.js';
import type { Runtime } from './runtime.js';
import { sidecarOf, trackFileOf } from '../../events/files.js';
import { segmentMetaSchema } from '../../events/segment.js';
import { isId } from '../../events/ids.js';
import { peerStream, recordingStream, roomStream } from '../../events/streams.js';

export interface RecoveryOptions {
  /** Only rooms opened by this node are resolved (in NATS mode others may be alive). */
  nodeId: string;
  /** The composition queue survived the restart (JetStream): queued jobs are still in it. */
  queueIsDurable: boolean;
  /** Recordings root: the newest write to a recording's files tells when it really ended. */
  root: string;
  logger: Logger;
}

/**
 * When an interrupted recording was last known alive: its newest media (a
 * finalized segment's end, as its sidecar says — a drain finalizes after the
 * media stopped; else the file's last write), and its streams' last events.
 */
async function lastAlive(runtime: Runtime, root: string, ctx: RecordingContext): Promise<number> {
  let t = runtime.times(recordingStream(ctx.recordingId))?.last ?? 0;
  for (const pid of Object.keys(ctx.participants)) t = Math.max(t, runtime.times(peerStream(ctx.recordingId, pid))?.last ?? 0);
  if (ctx.roomId && isId(ctx.roomId)) {
    const dir = join(root, ctx.roomId);
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (trackFileOf(f, ctx.recordingId) !== 'media') continue;
      t = Math.max(t, (await finalizedEnd(join(dir, sidecarOf(f)))) ?? Math.round((await stat(join(dir, f)).catch(() => null))?.mtimeMs ?? 0));
    }
  }
  return t;
}

async function finalizedEnd(sidecar: string): Promise<number | null> {
  try {
    const meta = segmentMetaSchema.safeParse(JSON.parse(await readFile(sidecar, 'utf8')));
    return meta.success && meta.data.finalized ? meta.data.endedAt : null;
  } catch {
    return null;
  }
}

/**
 * After a restart every actor is rebuilt from the log, but sockets, recorder
 * peers, timers and an in-memory queue died with the old process. This turns
 * each such loose end into an explicit, logged event:
 * - an open room of this node is closed (`server-restart`), which stops its
 *   recording as `interrupted`; the recorder-peer effect finds no live peer,
 *   reports it closed with the segment files found on disk, and the stop
 *   requests a composition of everything kept;
 * - a recording still stopping is timed out (its peers are gone);
 * - a composition that was running (or queued, with an in-memory queue) is
 *   re-queued; one waiting for its retry backoff is retried now;
 * - an upload that was running here, or waiting for its runner or its backoff, is run again.
 */
/**
 * A room whose host's process is gone (this one before a restart, or a lost
 * node): its running recording is stopped first, as `interrupted` at the time
 * its media was last written, and composed; closing the room then finds it
 * stopping.
 */
async function closeRoomOfDeadHost(
  runtime: Runtime,
  stream: string,
  activeRecordingId: string | null | undefined,
  root: string,
  reason: 'server-restart' | 'node-lost',
  summary: { roomsClosed: number; recordingsStopped: number },
) {
  const rec = activeRecordingId ? runtime.get(recordingStream(activeRecordingId)) : undefined;
  if (rec?.value === 'recording') {
    const recCtx = rec.context;
    const r = await runtime.dispatch({
      stream: recordingStream(recCtx.recordingId),
      type: 'recording.stop.requested',
      data: { reason: 'interrupted', compose: true, compositionJobId: stopCompositionJobId(recCtx.recordingId), stoppedAt: await lastAlive(runtime, root, recCtx) },
    });
    if (r.accepted) summary.recordingsStopped++;
  }
  const r = await runtime.dispatch({ stream, type: 'room.closed', data: { reason } });
  if (r.accepted) summary.roomsClosed++;
}

export async function recover(runtime: Runtime, opts: RecoveryOptions) {
  const { logger } = opts;
  const summary = { roomsClosed: 0, membersLeft: 0, recordingsStopped: 0, compositionsRequeued: 0, compositionsRetried: 0, uploadsRequeued: 0 };
  // Taken before anything is dispatched: closing rooms below moves recordings to stopping too.
  const wasStopping = new Set(runtime.list('recording').filter((a) => a.snapshot.value === 'stopping').map((a) => a.stream));

  for (const room of runtime.list('room')) {
    const ctx = room.snapshot.context;
    if (room.snapshot.value !== 'open') continue;
    if (ctx.nodeId !== opts.nodeId) {
      // Another node hosts the room (NATS mode): only the members whose sockets were here leave it.
      summary.membersLeft += await leaveMembersOf(runtime, room.stream, ctx.members, opts.nodeId, 'server-restart');
      continue;
    }
    logger.warn({ roomId: ctx.roomId, recordingId: ctx.activeRecordingId }, 'room was open when the server stopped: closing it');
    await closeRoomOfDeadHost(runtime, room.stream, ctx.activeRecordingId, opts.root, 'server-restart', summary);
  }

  for (const rec of runtime.list('recording')) {
    const ctx = rec.snapshot.context;
    const roomCtx = ctx.roomId ? runtime.get(roomStream(ctx.roomId))?.context : undefined;
    if (roomCtx && roomCtx.nodeId !== opts.nodeId) continue;
    if (rec.snapshot.value === 'recording') {
      logger.warn({ recordingId: ctx.recordingId, roomId: ctx.roomId }, 'recording was running without its room: interrupted');
      const r = await runtime.dispatch({
        stream: rec.stream,
        type: 'recording.stop.requested',
        data: { reason: 'interrupted', compose: true, compositionJobId: stopCompositionJobId(ctx.recordingId), stoppedAt: await lastAlive(runtime, opts.root, ctx) },
      });
      if (r.accepted) summary.recordingsStopped++;
    }
    if (wasStopping.has(rec.stream)) {
      await runtime.dispatch({ stream: rec.stream, type: 'recording.stop.timed-out', data: {} });
    }
  }

  for (const job of runtime.list('composition')) {
    const state = job.snapshot.value;
    if (state === 'running' || (state === 'queued' && !opts.queueIsDurable)) {
      if (state === 'running' && opts.queueIsDurable) continue; // JetStream redelivers a dead worker's item
      const r = await runtime.dispatch({ stream: job.stream, type: 'composition.requeued', data: { reason: 'server-restart' } });
      if (r.accepted) summary.compositionsRequeued++;
    } else if (state === 'retrying') {
      const r = await runtime.dispatch({ stream: job.stream, type: 'composition.retry.due', data: {} });
      if (r.accepted) summary.compositionsRetried++;
    }
  }
  // An upload attempt, or the runner or timer a pending/retrying one waited for, died with the process.
  for (const up of runtime.list('upload')) {
    const { value, context } = up.snapshot;
    if (value === 'uploading' && !context.workerId?.startsWith(`${opts.nodeId}/`)) continue;
    const type = value === 'retrying' ? 'upload.retry.due' : value === 'uploading' || value === 'pending' ? 'upload.requeued' : null;
    if (!type) continue;
    const r = await runtime.dispatch({ stream: up.stream, type, data: type === 'upload.requeued' ? { reason: 'server-restart' } : {}, correlationId: context.recordingId });
    if (r.accepted) summary.uploadsRequeued++;
  }
  logger.info(summary, 'recovery done');
  return summary;
}

/** Members of an open room whose sockets were on `nodeId` leave it (the room machine tells the recording). */
async function leaveMembersOf(
  runtime: Runtime,
  stream: string,
  members: Record<string, { participantId: string; nodeId?: string }>,
  nodeId: string,
  reason: 'server-restart' | 'node-lost',
): Promise<number> {
  let n = 0;
  for (const m of Object.values(members)) {
    if (m.nodeId !== nodeId) continue;
    const r = await runtime.dispatch({ stream, type: 'room.member.left', data: { participantId: m.participantId, reason } });
    if (r.accepted) n++;
  }
  return n;
}

export interface TakeoverOptions {
  root: string;
  logger: Logger;
  /** Reports a recorder peer its dead holder never closed, from the files on disk (src/effects/recorder.ts). */
  reportFromDisk: (recordingId: string, participantId: string, reason: string) => Promise<boolean>;
}

/**
 * What a lost node (its lease lapsed: crashed, or rescheduled under another
 * NODE_ID) owned, turned into events by the one node that takes over
 * (src/runtime/leases.ts):
 * - a room it hosted closes (`node-lost`): its recording stops as
 *   `interrupted` at the time its media was last written, and is composed;
 * - its members in rooms hosted elsewhere leave (`node-lost`): the recording
 *   goes on with the others, and their recorder peers are reported closed
 *   with what reached disk (no live node holds them);
 * - a recorder peer it held that was already closing is reported the same way.
 * Timers it had armed fire here as shadows (src/runtime/effects.ts).
 */
export async function takeOverNode(runtime: Runtime, lost: string, opts: TakeoverOptions) {
  const { logger } = opts;
  const summary = { roomsClosed: 0, membersLeft: 0, recordingsStopped: 0, peersReported: 0 };
  for (const room of runtime.list('room')) {
    const ctx = room.snapshot.context;
    if (room.snapshot.value !== 'open') continue;
    if (ctx.nodeId !== lost) {
      summary.membersLeft += await leaveMembersOf(runtime, room.stream, ctx.members, lost, 'node-lost');
      continue;
    }
    logger.warn({ roomId: ctx.roomId, recordingId: ctx.activeRecordingId, lostNode: lost }, "the host's node was lost: closing the room");
    await closeRoomOfDeadHost(runtime, room.stream, ctx.activeRecordingId, opts.root, 'node-lost', summary);
  }
  // Peers the lost node held and never reported closed.
  for (const rec of runtime.list('recording')) {
    const ctx = rec.snapshot.context;
    if (rec.snapshot.value !== 'recording' && rec.snapshot.value !== 'stopping') continue;
    for (const [pid, p] of Object.entries(ctx.participants)) {
      if (p.nodeId !== lost || !p.active) continue;
      if (runtime.get(peerStream(ctx.recordingId, pid))?.value !== 'closing') continue;
      if (await opts.reportFromDisk(ctx.recordingId, pid, 'node-lost')) summary.peersReported++;
    }
  }
  logger.info({ lostNode: lost, ...summary }, 'takeover done');
  return summary;
}

/** Node ids the log says own something live: open rooms' hosts and members, active recorder peers' holders. */
export function* referencedNodes(runtime: Runtime): Iterable<string> {
  for (const room of runtime.list('room')) {
    if (room.snapshot.value !== 'open') continue;
    const ctx = room.snapshot.context;
    if (ctx.nodeId) yield ctx.nodeId;
    for (const m of Object.values(ctx.members)) if (m.nodeId) yield m.nodeId;
  }
  for (const rec of runtime.list('recording')) {
    if (rec.snapshot.value !== 'recording' && rec.snapshot.value !== 'stopping') continue;
    for (const p of Object.values(rec.snapshot.context.participants)) if (p.active && p.nodeId) yield p.nodeId;
  }
}
