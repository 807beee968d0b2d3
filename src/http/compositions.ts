import type { IncomingMessage, ServerResponse } from 'node:http';
import { composeBodySchema, parseBody } from '../../events/wire.js';
import { compositionStream, nextCompositionJobId, recordingStream } from '../../machines/actions.js';
import { COMPOSITION_MAX_ATTEMPTS } from '../../machines/recording.js';
import type { DispatchResult } from '../runtime/runtime.js';
import type { Caller } from './access.js';
import { HttpError, readJson, sendJson, throwIfUnavailable } from './respond.js';
import { jobOf, type ApiContext } from './sessions.js';

/** POST /api/recording-compositions — compose (again) from the kept track files. */
export async function requestComposition(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, who: Caller) {
  const parsed = parseBody(composeBodySchema, await readJson(req));
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  const { meetingId, recordingId } = parsed.body;
  who.control(meetingId);
  const rec = ctx.runtime.get(recordingStream(recordingId));
  if (!rec || rec.context.roomId !== meetingId) throw new HttpError(404, `no recording ${recordingId} in meeting ${meetingId}`);
  if (rec.value !== 'stopped') throw new HttpError(409, `recording ${recordingId} is not stopped (${String(rec.value)})`);
  // One composition of a recording at a time (checked and queued without a pause between).
  const busy = ctx.runtime
    .list('composition')
    .find((a) => a.snapshot.context.recordingId === recordingId && ['new', 'queued', 'running', 'retrying'].includes(String(a.snapshot.value)));
  if (busy) throw new HttpError(409, `recording ${recordingId} already has composition ${busy.snapshot.context.jobId} ${String(busy.snapshot.value)}`);
  const known = (id: string) => ctx.runtime.get(compositionStream(id)) !== undefined;
  let jobId: string;
  let r: DispatchResult;
  // A request on another node may take the same job id first: the refusal then names a job, and the next id is free.
  for (let tries = 1; ; tries++) {
    jobId = nextCompositionJobId(recordingId, known);
    r = await ctx.runtime.dispatch({
      stream: compositionStream(jobId),
      type: 'composition.requested',
      correlationId: recordingId,
      data: {
        jobId,
        recordingId,
        meetingId,
        layout: parsed.body.layout ?? rec.context.layout,
        format: parsed.body.format ?? rec.context.format,
        durationMs: Math.max(0, (rec.context.stoppedAt ?? 0) - (rec.context.startedAt ?? 0)),
        maxAttempts: COMPOSITION_MAX_ATTEMPTS,
      },
    }, { command: true });
    if (r.accepted || !known(jobId) || tries === 5) break;
  }
  throwIfUnavailable(r);
  if (!r.accepted) throw new HttpError(500, `composition not queued: ${r.message}`);
  ctx.logger.info({ recordingId, roomId: meetingId, jobId }, 'composition requested via API');
  sendJson(res, 202, { success: true, job: jobOf(ctx, jobId) });
}

/** GET /api/recording-compositions[?meetingId=] */
export function listCompositions(ctx: ApiContext, res: ServerResponse, meetingId: string | null, who: Caller) {
  const jobs = ctx.runtime
    .list('composition')
    .map((a) => jobOf(ctx, a.snapshot.context.jobId))
    .filter((j): j is NonNullable<typeof j> => j !== null && (meetingId === null || j.meetingId === meetingId) && who.sees(j.meetingId))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  sendJson(res, 200, { success: true, jobs, totalCount: jobs.length });
}

/** GET /api/recording-compositions/:id */
export function getComposition(ctx: ApiContext, res: ServerResponse, jobId: string, who: Caller) {
  const job = jobOf(ctx, jobId);
  if (!job) throw new HttpError(404, `unknown composition job ${jobId}`);
  who.view(job.meetingId);
  sendJson(res, 200, { success: true, job });
}
