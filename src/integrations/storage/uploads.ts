import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { sidecarOf, trackFileOf } from '../../../events/files.js';
import { compositionStream, uploadStream, type EffectParams } from '../../../machines/actions.js';
import type { UploadContext } from '../../../machines/upload.js';
import type { EffectContext, EffectHandlers, Runtime } from '../../runtime/runtime.js';
import type { ObjectStore } from './s3.js';
import { objectKey, type StorageConfig } from './types.js';

export interface UploadsOptions {
  store: ObjectStore;
  config: StorageConfig;
  /** The recordings root: files are `<root>/<meetingId>/<file>`, keys `<prefix><meetingId>/<file>`. */
  root: string;
  workerId: string;
  logger: Logger;
}

/**
 * Object-storage uploads as jobs in the log. A composition that completes
 * here asks for the upload of its files (`upload.requested` on
 * `upload:<jobId>`); the machine names `runUpload` for each attempt, which
 * this runs: claim it (`upload.started`), send every file, read each back
 * (HeadObject: size and ETag), and report `upload.completed` or
 * `upload.failed` (the machine retries after a backoff). Only after the
 * completion is durable, and only with deleteLocal, are local files removed.
 */
export function createUploads(opts: UploadsOptions) {
  const { store, config, root, logger } = opts;
  const log = logger.child({ module: 'uploads' });

  /** The files of a completed job: the composed file and its metadata, and with uploadTracks every track file of the recording. */
  async function filesOf(meetingId: string, recordingId: string, output: string) {
    const names = [output, sidecarOf(output)];
    if (config.uploadTracks) {
      const all = await readdir(join(root, meetingId)).catch(() => [] as string[]);
      names.push(...all.filter((f) => trackFileOf(f, recordingId) !== null).sort());
    }
    const files: { file: string; key: string; sizeBytes: number }[] = [];
    for (const file of names) {
      const s = await stat(join(root, meetingId, file)).catch(() => null);
      if (s?.isFile()) files.push({ file, key: objectKey(config.prefix, meetingId, file), sizeBytes: s.size });
    }
    return files;
  }

  async function request(runtime: Runtime, jobId: string) {
    const job = runtime.get(compositionStream(jobId));
    if (job?.value !== 'completed' || !job.context.output) return;
    if (runtime.get(uploadStream(jobId))) return;
    const { meetingId, recordingId } = job.context;
    const output = job.context.output.file.split('/').pop()!;
    const files = await filesOf(meetingId, recordingId, output);
    if (files.length === 0) return log.warn({ jobId, recordingId, roomId: meetingId }, 'composed files not found: nothing to upload');
    const r = await runtime.dispatch({
      stream: uploadStream(jobId),
      type: 'upload.requested',
      correlationId: recordingId,
      data: { jobId, recordingId, meetingId, bucket: store.bucket, files: files.slice(0, 500), retry: config.retry },
    });
    if (r.accepted) log.info({ jobId, recordingId, roomId: meetingId, files: files.length }, 'upload requested');
  }

  async function runUpload(p: EffectParams['runUpload'], { runtime }: EffectContext) {
    const stream = uploadStream(p.jobId);
    const ctx = runtime.get(stream)?.context as UploadContext | undefined;
    if (!ctx) return;
    const ids = { jobId: p.jobId, recordingId: ctx.recordingId, roomId: ctx.meetingId, attempt: p.attempt };
    const claim = await runtime.dispatch({ stream, type: 'upload.started', correlationId: ctx.recordingId, data: { attempt: p.attempt, workerId: opts.workerId } });
    if (!claim.accepted) return log.debug({ ...ids, why: claim.message }, 'upload attempt not claimed');
    const started = Date.now();
    let at: string | null = null;
    try {
      const objects = [];
      let bytes = 0;
      for (const f of ctx.files) {
        at = f.key;
        objects.push(await store.put(join(root, ctx.meetingId, f.file), f.key));
        bytes += objects[objects.length - 1].sizeBytes;
      }
      const done = await runtime.dispatch({
        stream,
        type: 'upload.completed',
        correlationId: ctx.recordingId,
        data: { attempt: p.attempt, objects, deleteLocal: config.deleteLocal },
      });
      const ms = Date.now() - started;
      log.info({ ...ids, objects: objects.length, bytes, ms, mbPerSecond: Number((bytes / 1e6 / Math.max(ms / 1000, 0.001)).toFixed(2)) }, 'upload completed and verified');
      if (done.accepted && config.deleteLocal) {
        for (const f of ctx.files) {
          await unlink(join(root, ctx.meetingId, f.file)).catch((err) => log.warn({ ...ids, file: f.file, err: (err as Error).message }, 'local file not deleted'));
        }
      }
    } catch (err) {
      const error = String((err as Error).message || (err as Error).name || err).slice(0, 4000);
      log.warn({ ...ids, key: at, err: error }, 'upload attempt failed; local files kept');
      await runtime.dispatch({ stream, type: 'upload.failed', correlationId: ctx.recordingId, data: { attempt: p.attempt, error, key: at } });
    }
  }

  const handlers = { runUpload } satisfies EffectHandlers;

  return {
    handlers,
    /**
     * Asks for the upload of each composition this process completes, and of
     * every completed one the log holds without an upload (a crash between
     * the two, or a bucket configured later). Returns the unsubscribe.
     */
    async attach(runtime: Runtime): Promise<() => void> {
      const off = runtime.onEvent((a) => {
        if (a.type !== 'composition.completed' || !a.local) return;
        request(runtime, a.after.context.jobId).catch((err) => log.error({ err, jobId: a.after.context.jobId }, 'upload not requested'));
      });
      for (const job of runtime.list('composition')) {
        if (job.snapshot.value !== 'completed' || runtime.get(uploadStream(job.snapshot.context.jobId))) continue;
        await request(runtime, job.snapshot.context.jobId).catch((err) => log.error({ err, jobId: job.snapshot.context.jobId }, 'upload not requested'));
      }
      return off;
    },
    /** A presigned GET link of a key (null without static credentials). */
    presign: (key: string) => store.presign(key),
  };
}
export type Uploads = ReturnType<typeof createUploads>;
