import type { IncomingMessage, ServerResponse } from 'node:http';
import { composeBodySchema, parseBody } from '../../events/wire.js';
import { compositionStream, nextCompositionJobId, recordingStream } from '../../machines/actions.js';
import { COMPOSITION_MAX_ATTEMPTS } from '../../machines/recording.js';
import type { DispatchResult } from '../runtime/runtime.js';
import type { Caller } from './access.js';
import { HttpError, readJson, sendJson, throwIfUnavailable } from './respond.js';
import { jobOf, jobViewOf, type ApiContext } from './sessions.js';

/** POST /api/recording-compositions — compose (again) from the kept track files. */
export async function requestComposition(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, who: Caller) {
  const parsed = parseBody(composeBodySchema, await readJson(req));
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  const { meetingId, recordingId } = parsed.body;
  who.control(meetingId);
  const rec = (await ctx.runtime.read(recordingStream(recordingId)))?.snapshot;
  if (!rec || rec.context.roomId !== meetingId) throw new HttpError(404, `no recording ${recordingId} in meeting ${meetingId}`);
  if (rec.value !== 'stopped') throw new HttpError(409, `recording ${recordingId} is not stopped (${String(rec.value)})`);
  // One composition of a recording at a time (checked and queued without a pause between).
  const busy = ctx.runtime
    .list('composition')
    .find((a) => a.snapshot.context.recordingId === recordingId && ['new', 'queued', 'running', 'retrying'].includes(String(a.snapshot.value)));
  if (busy) throw new HttpError(409, `recording ${recordingId} already has composition ${busy.snapshot.context.jobId} ${String(busy.snapshot.value)}`);
  // Job ids taken, evicted ones included (read back from the log).
  const taken = new Set<string>();
  const known = (id: string) => taken.has(id) || ctx.runtime.get(compositionStream(id)) !== undefined;
  const takenAfter = async () => {
    for (let id = nextCompositionJobId(recordingId, known); (await ctx.runtime.read(compositionStream(id))) !== undefined; id = nextCompositionJobId(recordingId, known)) {
      taken.add(id);
    }
  };
  let jobId: string;
  let r: DispatchResult;
  // A request on another node may take the same job id first: the refusal then names a job, and the next id is free.
  for (let tries = 1; ; tries++) {
    await takenAfter();
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
  sendJson(res, 202, { success: true, job: await jobOf(ctx, jobId) });
}

/**
 * GET /api/recording-compositions[?meetingId=] — the live jobs and the
 * recently finished ones the runtime keeps; an older one is still answered by id.
 */
export async function listCompositions(ctx: ApiContext, res: ServerResponse, meetingId: string | null, who: Caller) {
  const views = [];
  for (const a of ctx.runtime.list('composition')) {
    const recording = (await ctx.runtime.read(recordingStream(a.snapshot.context.recordingId)))?.snapshot;
    views.push(jobViewOf(ctx, a.snapshot, a.position > 0 ? { first: a.firstTime, last: a.lastTime } : undefined, recording));
  }
  const jobs = views
    .filter((j): j is NonNullable<typeof j> => j !== null && (meetingId === null || j.meetingId === meetingId) && who.sees(j.meetingId))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  sendJson(res, 200, { success: true, jobs, totalCount: jobs.length });
}

/** GET /api/recording-compositions/:id */
export async function getComposition(ctx: ApiContext, res: ServerResponse, jobId: string, who: Caller) {
  const job = await jobOf(ctx, jobId);
  if (!job) throw new HttpError(404, `unknown composition job ${jobId}`);
  who.view(job.meetingId);
  sendJson(res, 200, { success: true, job });
}
