import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parseBody, startRecordingBodySchema } from '../../events/wire.js';
import { compositionStream, recordingStream, roomStream, stopCompositionJobId, uploadStream } from '../../machines/actions.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Caller } from './access.js';
import { HttpError, readJson, sendJson } from './respond.js';
import { jobView, sessionView, type FileUrlSigner, type StreamTimes } from './views.js';

export interface ApiContext {
  runtime: Runtime;
  logger: Logger;
  newId: () => string;
  times: (stream: string) => StreamTimes | undefined;
  /** How long DELETE waits for the session to finish stopping before answering. */
  stopWaitMs: number;
  /** Signs file links when access control is on. */
  fileUrl: FileUrlSigner;
  /** Presigned links of uploaded objects (object storage configured). */
  objectUrl?: (key: string) => string | null;
}

export function sessionOf(ctx: ApiContext, recordingId: string) {
  const stream = recordingStream(recordingId);
  const s = ctx.runtime.get(stream);
  return s ? sessionView(s, ctx.times(stream)) : null;
}

export function jobOf(ctx: ApiContext, jobId: string) {
  const stream = compositionStream(jobId);
  const s = ctx.runtime.get(stream);
  if (!s) return null;
  const recording = ctx.runtime.get(recordingStream(s.context.recordingId));
  const inputs: string[] = (recording?.context.segments ?? []).map((x: { file: string }) => x.file);
  // Times seen since this process started; after a restart, the recording's stop is the best known.
  const stoppedAt: number | null = recording?.context.stoppedAt ?? recording?.context.startedAt ?? null;
  const upload = ctx.runtime.get(uploadStream(jobId));
  return jobView(s, ctx.times(stream) ?? (stoppedAt !== null ? { first: stoppedAt, last: stoppedAt } : undefined), inputs, ctx.fileUrl, upload && { snapshot: upload, objectUrl: ctx.objectUrl });
}

/** POST /api/recording-sessions */
export async function startSession(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, who: Caller) {
  const parsed = parseBody(startRecordingBodySchema, await readJson(req));
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  const { connectionId, layout, format } = parsed.body;
  who.control(connectionId);
  const recordingId = ctx.newId();
  const r = await ctx.runtime.dispatch(
    { stream: roomStream(connectionId), type: 'room.recording.requested', data: { recordingId, layout, format } },
    { mustExist: true },
  );
  if (!r.accepted) {
    const room = r.snapshot ?? ctx.runtime.get(roomStream(connectionId));
    const active = room?.value === 'open' && room.context.activeRecordingId ? sessionOf(ctx, room.context.activeRecordingId) : null;
    if (active) throw new HttpError(409, `room ${connectionId} is already recording`, { session: active });
    throw new HttpError(404, `no live room ${connectionId}`);
  }
  const session = sessionOf(ctx, recordingId);
  if (!session) throw new HttpError(500, `recording ${recordingId} did not start`);
  ctx.logger.info({ roomId: connectionId, recordingId, layout, format }, 'recording started via API');
  sendJson(res, 201, { success: true, session });
}

/** DELETE /api/recording-sessions/:id — idempotent: stopping a stopped session answers 200 with it. */
export async function stopSession(ctx: ApiContext, res: ServerResponse, recordingId: string, compose: boolean, who: Caller) {
  const stream = recordingStream(recordingId);
  const known = ctx.runtime.get(stream);
  if (!known) throw new HttpError(404, `unknown recording session ${recordingId}`);
  who.control(known.context.roomId ?? "");
  const r = await ctx.runtime.dispatch(
    { stream, type: 'recording.stop.requested', data: { reason: 'api', compose, compositionJobId: stopCompositionJobId(recordingId) } },
    { mustExist: true },
  );
  if (!r.accepted && r.reason !== 'rejected') throw new HttpError(404, `unknown recording session ${recordingId}`);
  const done = (await ctx.runtime.waitFor(stream, (s) => s.status === 'done', ctx.stopWaitMs)) ?? ctx.runtime.get(stream)!;
  const jobId: string | null = done.context.compositionJobId;
  if (done.value === 'stopped' && done.context.compose && jobId) {
    // The stopped session requests its composition right after it settles.
    await ctx.runtime.waitFor(compositionStream(jobId), () => true, 5_000);
  }
  ctx.logger.info({ recordingId, compose, accepted: r.accepted }, 'recording stop via API');
  sendJson(res, 200, { success: true, session: sessionOf(ctx, recordingId), compositionJob: jobId ? jobOf(ctx, jobId) : null });
}

/** GET /api/recording-sessions[?connectionId=] */
export function listSessions(ctx: ApiContext, res: ServerResponse, connectionId: string | null, who: Caller) {
  const sessions = ctx.runtime
    .list('recording')
    .map((a) => sessionView(a.snapshot, ctx.times(a.stream)))
    .filter((s) => (connectionId === null || s.connectionId === connectionId) && who.sees(s.connectionId ?? ''))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  sendJson(res, 200, { success: true, sessions, totalCount: sessions.length });
}

/** GET /api/recording-sessions/:id */
export function getSession(ctx: ApiContext, res: ServerResponse, recordingId: string, who: Caller) {
  const session = sessionOf(ctx, recordingId);
  if (!session) throw new HttpError(404, `unknown recording session ${recordingId}`);
  who.view(session.connectionId ?? '');
  sendJson(res, 200, { success: true, session, compositionJob: session.compositionJobId ? jobOf(ctx, session.compositionJobId) : null });
}
