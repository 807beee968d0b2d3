import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { MACHINES_VERSION } from '../../machines/index.js';

/**
 * Every live actor's state at one point of the log: a restart restores it and folds
 * only the events after `eventId` (at global sequence `seq`), instead of the
 * whole history. Only ever an optimisation: a checkpoint that does not match
 * the log is ignored and the log is folded from the start, and so is one
 * taken with machines whose contexts had another shape.
 */
const actorSchema = z.object({
  stream: z.string(),
  position: z.number().int().positive(),
  firstTime: z.number().int().nonnegative(),
  lastTime: z.number().int().nonnegative(),
  value: z.unknown(),
  context: z.record(z.string(), z.unknown()),
});

export const checkpointSchema = z.object({
  version: z.literal(1),
  machines: z.literal(MACHINES_VERSION, { error: `taken with machines version other than ${MACHINES_VERSION}` }),
  seq: z.number().int().positive(),
  eventId: z.string().min(1),
  takenAt: z.number().int().nonnegative(),
  /** The live actors: those evicted are only in the log. */
  actors: z.array(actorSchema),
  /** The recently finished actors the API lists (bounded, see src/runtime/actors.ts); absent in older checkpoints. */
  kept: z.array(actorSchema).optional(),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

export interface CheckpointStore {
  load(): Promise<Checkpoint | null>;
  save(cp: Checkpoint): Promise<void>;
}

/** A checkpoint in one JSON file, replaced atomically (write, fsync, rename). */
export function createFileCheckpointStore(file: string, onProblem: (msg: string) => void = () => {}): CheckpointStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        return null;
      }
      try {
        const r = checkpointSchema.safeParse(JSON.parse(text));
        if (r.success) return r.data;
        onProblem(`checkpoint ${file} ignored: ${r.error.issues[0]?.message}`);
      } catch (err) {
        onProblem(`checkpoint ${file} ignored: ${(err as Error).message}`);
      }
      return null;
    },
    async save(cp) {
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(cp));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    },
  };
}

export interface CheckpointSchedulerOptions {
  /** What is checkpointed: the runtime (only these two of it). */
  runtime: { checkpoint(): Checkpoint | null; readonly lastSeq: number };
  store: CheckpointStore;
  logger: Logger;
  /** How often to look (default 60 s). */
  everyMs?: number;
  /** Events since the last checkpoint that make a new one worth writing (default 1,000). */
  minEvents?: number;
}

/**
 * When checkpoints are taken: one at start, then every `everyMs` once
 * `minEvents` more are durable, and a last one at shutdown. A failed write is
 * logged and tried again next time: a checkpoint is only an optimisation.
 */
export function createCheckpointScheduler(opts: CheckpointSchedulerOptions) {
  const { runtime, store, logger } = opts;
  let savedSeq = 0;
  let timer: NodeJS.Timeout | null = null;

  async function take() {
    const cp = runtime.checkpoint();
    if (!cp || cp.seq === savedSeq) return;
    await store.save(cp);
    savedSeq = cp.seq;
  }
  const takeLogged = () => take().catch((err) => logger.warn({ err }, 'could not write a checkpoint'));
  function pause() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  return {
    /** Takes one now, then keeps taking them. */
    async start() {
      await takeLogged();
      timer = setInterval(() => {
        if (runtime.lastSeq - savedSeq >= (opts.minEvents ?? 1_000)) void takeLogged();
      }, opts.everyMs ?? 60_000);
      timer.unref();
    },
    /** No more on schedule. */
    pause,
    /** No more on schedule, and a last one of whatever the runtime holds now. */
    async stop() {
      pause();
      await takeLogged();
    },
  };
}
