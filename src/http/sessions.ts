import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parseBody, startRecordingBodySchema } from '../../events/wire.js';
import { compositionStream, recordingStream, roomStream, stopCompositionJobId, uploadStream } from '../../machines/actions.js';
import type { Runtime, SnapshotOf } from '../runtime/runtime.js';
import type { Caller } from './access.js';
import { HttpError, readJson, sendJson, throwIfUnavailable } from './respond.js';
import { jobView, sessionView, type FileUrlSigner, type LiveCompositionView, type StreamTimes } from './views.js';

export interface ApiContext {
  runtime: Runtime;
  logger: Logger;
  newId: () => string;
  times: (stream: string) => StreamTimes | undefined;
  /** How long DELETE waits for the session to finish stopping before answering. */
  stopWaitMs: number;
  /** Signs file links when access control is on. */
  fileUrl: FileUrlSigner;
  /** Why a new recording cannot be stored now (disk below the reserve), or null. */
  storageRefusal?: () => Promise<string | null>;
  /** True while the process drains (SIGTERM): no new recording starts here. */
  draining?: () => boolean;
  /** Presigned links of uploaded objects (object storage configured). */
  objectUrl?: (key: string) => string | null;
  /** A recording's live composition in this process, when it has one. */
  liveStatus?: (recordingId: string) => LiveCompositionView | null;
}

const timesOf = (a: { position: number; firstTime: number; lastTime: number }): StreamTimes | undefined =>
  a.position > 0 ? { first: a.firstTime, last: a.lastTime } : undefined;

/** A session as the API shows it; an evicted one is read back from the log. */
export async function sessionOf(ctx: ApiContext, recordingId: string) {
  const a = await ctx.runtime.read(recordingStream(recordingId));
  return a ? sessionView(a.snapshot, timesOf(a), ctx.liveStatus?.(recordingId)) : null;
}

/** A composition job as the API shows it; an evicted one (and its recording) read back from the log. */
export async function jobOf(ctx: ApiContext, jobId: string) {
  const a = await ctx.runtime.read(compositionStream(jobId));
  if (!a) return null;
  const recording = (await ctx.runtime.read(recordingStream(a.snapshot.context.recordingId)))?.snapshot;
  return jobViewOf(ctx, a.snapshot, timesOf(a), recording);
}

/** The job's view from its snapshot and its recording's. */
export function jobViewOf(ctx: ApiContext, s: SnapshotOf<'composition'>, times: StreamTimes | undefined, recording: SnapshotOf<'recording'> | undefined) {
  const inputs: string[] = (recording?.context.segments ?? []).map((x: { file: string }) => x.file);
  // Times seen since this process started; after a restart, the recording's stop is the best known.
  const stoppedAt: number | null = recording?.context.stoppedAt ?? recording?.context.startedAt ?? null;
  const upload = ctx.runtime.get(uploadStream(s.context.jobId));
  return jobView(s, times ?? (stoppedAt !== null ? { first: stoppedAt, last: stoppedAt } : undefined), inputs, ctx.fileUrl, upload && { snapshot: upload, objectUrl: ctx.objectUrl });
}

/** POST /api/recording-sessions */
export async function startSession(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, who: Caller) {
  const parsed = parseBody(startRecordingBodySchema, await readJson(req));
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  const { connectionId, layout, format } = parsed.body;
  who.control(connectionId);
  if (ctx.draining?.()) {
    throw new HttpError(503, 'this server is shutting down: no new recording starts here; retry in a few seconds', {}, { 'retry-after': '5' });
  }
  const refusal = await ctx.storageRefusal?.();
  if (refusal) throw new HttpError(507, `not enough disk space to record: ${refusal}`);
  const recordingId = ctx.newId();
  const r = await ctx.runtime.dispatch(
    { stream: roomStream(connectionId), type: 'room.recording.requested', data: { recordingId, layout, format } },
    { mustExist: true, command: true },
  );
  throwIfUnavailable(r);
  if (!r.accepted) {
    const room = r.snapshot ?? ctx.runtime.get(roomStream(connectionId));
    const active = room?.value === 'open' && room.context.activeRecordingId ? await sessionOf(ctx, room.context.activeRecordingId) : null;
    if (active) throw new HttpError(409, `room ${connectionId} is already recording`, { session: active });
    throw new HttpError(404, `no live room ${connectionId}`);
  }
  const session = await sessionOf(ctx, recordingId);
  if (!session) throw new HttpError(500, `recording ${recordingId} did not start`);
  ctx.logger.info({ roomId: connectionId, recordingId, layout, format }, 'recording started via API');
  sendJson(res, 201, { success: true, session });
}

/** DELETE /api/recording-sessions/:id — idempotent: stopping a stopped session answers 200 with it. */
export async function stopSession(ctx: ApiContext, res: ServerResponse, recordingId: string, compose: boolean, who: Caller) {
  const stream = recordingStream(recordingId);
  const known = (await ctx.runtime.read(stream))?.snapshot;
  if (!known) throw new HttpError(404, `unknown recording session ${recordingId}`);
  who.control(known.context.roomId ?? "");
  const r = await ctx.runtime.dispatch(
    { stream, type: 'recording.stop.requested', data: { reason: 'api', compose, compositionJobId: stopCompositionJobId(recordingId) } },
    { mustExist: true, command: true },
  );
  throwIfUnavailable(r);
  if (!r.accepted && r.reason !== 'rejected') throw new HttpError(404, `unknown recording session ${recordingId}`);
  const done = (await ctx.runtime.waitFor(stream, (s) => s.status === 'done', ctx.stopWaitMs)) ?? ctx.runtime.get(stream)!;
  const jobId: string | null = done.context.compositionJobId;
  if (done.value === 'stopped' && done.context.compose && jobId && !(await ctx.runtime.read(compositionStream(jobId)))) {
    // The stopped session requests its composition right after it settles.
    await ctx.runtime.waitFor(compositionStream(jobId), () => true, 5_000);
  }
  ctx.logger.info({ recordingId, compose, accepted: r.accepted }, 'recording stop via API');
  sendJson(res, 200, { success: true, session: await sessionOf(ctx, recordingId), compositionJob: jobId ? await jobOf(ctx, jobId) : null });
}

/**
 * GET /api/recording-sessions[?connectionId=] — the live sessions and the
 * recently finished ones the runtime keeps (src/runtime/actors.ts); an older
 * one is still answered by id.
 */
export function listSessions(ctx: ApiContext, res: ServerResponse, connectionId: string | null, who: Caller) {
  const sessions = ctx.runtime
    .list('recording')
    .map((a) => sessionView(a.snapshot, ctx.times(a.stream), ctx.liveStatus?.(a.snapshot.context.recordingId)))
    .filter((s) => (connectionId === null || s.connectionId === connectionId) && who.sees(s.connectionId ?? ''))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  sendJson(res, 200, { success: true, sessions, totalCount: sessions.length });
}

/** GET /api/recording-sessions/:id */
export async function getSession(ctx: ApiContext, res: ServerResponse, recordingId: string, who: Caller) {
  const session = await sessionOf(ctx, recordingId);
  if (!session) throw new HttpError(404, `unknown recording session ${recordingId}`);
  who.view(session.connectionId ?? '');
  sendJson(res, 200, { success: true, session, compositionJob: session.compositionJobId ? await jobOf(ctx, session.compositionJobId) : null });
}
