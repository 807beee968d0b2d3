import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { envelopeSchema, type NewEvent } from '../../events/envelope.js';

/** One event the log did not take, as the outbox file keeps it. */
export interface KeptEvent {
  stream: string;
  draft: NewEvent;
  /** The stream position the event was stepped on. */
  expectedPosition: number;
}

const lineSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('kept'), expectedPosition: z.number().int().nonnegative(), draft: envelopeSchema.omit({ position: true }) }),
  z.object({ op: z.literal('done'), id: z.string().min(1) }),
]);

export interface OutboxFileOptions {
  file: string;
  logger: Logger;
  /** fdatasync after each write that keeps an event (default true). */
  fsync?: boolean;
}

/**
 * The outbox's events on the local disk, so a process that dies while the log
 * is down loses none of them: one append-only JSONL file of `kept` lines (an
 * event, fsynced before the outbox answers) and `done` lines (the log took it,
 * or it was stepped again). The next process reads what is kept and not done
 * (`pending`) and hands it to the runtime again. Once nothing is kept the file
 * is cut back to empty. A torn last line (a crash mid-write) is skipped.
 */
export async function openOutboxFile({ file, logger, fsync = true }: OutboxFileOptions) {
  await mkdir(dirname(file), { recursive: true });
  const pending = new Map<string, KeptEvent>();
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let parsed;
    try {
      parsed = lineSchema.safeParse(JSON.parse(line));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) {
      skipped++;
      continue;
    }
    const l = parsed.data;
    if (l.op === 'kept') pending.set(l.draft.id, { stream: l.draft.stream, draft: l.draft, expectedPosition: l.expectedPosition });
    else pending.delete(l.id);
  }
  if (skipped > 0) logger.warn({ file, skipped }, 'outbox file: unreadable lines skipped (a write torn by a crash)');
  const found = [...pending.values()];
  if (found.length > 0) logger.warn({ file, events: found.length }, 'outbox file holds events an earlier process could not append');

  const fh: FileHandle = await open(file, 'a');
  // A torn tail would glue onto the next line: start on a fresh one.
  if (text.length > 0 && !text.endsWith('\n')) await fh.write('\n');
  /** The file holds lines: cut back once nothing is pending. */
  let dirty = text.length > 0;
  let closed = false;
  let last: Promise<void> = Promise.resolve();
  type Op = { line: string; sync: boolean; resolve: () => void; reject: (e: unknown) => void };
  let queue: Op[] = [];
  let pumping = false;

  /** Writes queued lines together, one fdatasync per batch that keeps an event; empty again once nothing is pending. */
  async function pump() {
    if (pumping) return;
    pumping = true;
    try {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        try {
          const chunk = batch.map((o) => o.line).join('');
          await fh.write(chunk);
          dirty = true;
          if (fsync && batch.some((o) => o.sync)) await fh.datasync();
          if (pending.size === 0 && queue.length === 0 && dirty) {
            await fh.truncate(0);
            dirty = false;
          }
          for (const o of batch) o.resolve();
        } catch (err) {
          for (const o of batch) o.reject(err);
        }
      }
    } finally {
      pumping = false;
    }
  }

  function write(line: object, sync: boolean): Promise<void> {
    if (closed) return Promise.reject(new Error(`outbox file ${file} is closed`));
    const p = new Promise<void>((resolve, reject) => {
      queue.push({ line: `${JSON.stringify(line)}\n`, sync, resolve, reject });
      void pump();
    });
    last = p.catch(() => {});
    return p;
  }

  return {
    file,
    /** What an earlier process kept and the log never took (read at open, not handled since), in the order it was kept. */
    pending: (): KeptEvent[] => found.filter((e) => pending.get(e.draft.id) === e),
    /** Resolves once the event is on disk. */
    keep(e: KeptEvent): Promise<void> {
      pending.set(e.draft.id, e);
      return write({ op: 'kept', expectedPosition: e.expectedPosition, draft: e.draft }, true);
    },
    /** The event is in the log (or was stepped again under its id): the next start does not hand it back. */
    done(id: string): Promise<void> {
      if (!pending.delete(id)) return Promise.resolve();
      // Not synced: a `done` lost to a crash only makes the next start look the event up in the log.
      return write({ op: 'done', id }, false);
    },
    holds: (id: string) => pending.has(id),
    async close() {
      if (closed) return;
      closed = true;
      await last;
      await fh.close();
    },
  };
}

export type OutboxFile = Awaited<ReturnType<typeof openOutboxFile>>;
