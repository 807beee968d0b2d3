import type { Logger } from 'pino';
import { CheckpointMismatchError, type EventLog, type LoggedEvent } from '../log/types.js';
import type { ActorTable } from './actors.js';
import type { Checkpoint } from './checkpoint.js';
import { actorsInLogOrder, loadInShards, type ShardedLoadOptions } from './shard-load.js';
import type { AppliedEvent, LoadResult } from './types.js';

export interface LoaderOptions {
  log: EventLog;
  logger: Logger;
  table: ActorTable;
  notify: (a: AppliedEvent & { type: string }) => void;
  shardedLoad?: ShardedLoadOptions | false;
  /** A stream read again from the log after a gap in the live feed. */
  onResynced?: (stream: string) => void;
}

/**
 * Where the actors come from: a checkpoint and the log's tail after it, else
 * the whole log (on several threads when it is a long local file), and then
 * the live feed of what other processes append. Runs no effects.
 */
export function createLoader(opts: LoaderOptions) {
  const { log, logger, table } = opts;
  const { cursor } = table;
  let unsubscribe: (() => void) | null = null;

  /** The whole log, on several threads when worth it; returns the events folded. */
  async function foldWhole(onInvalid?: (problem: string) => void): Promise<number> {
    const shards =
      opts.shardedLoad === false
        ? null
        : await loadInShards(log, opts.shardedLoad).catch((err) => {
            logger.warn({ err }, 'rebuilding on several threads failed: folding in one');
            return null;
          });
    if (!shards) return table.foldAll(log.readBatches({}, onInvalid));
    table.restore(actorsInLogOrder(shards));
    const n = shards.reduce((sum, s) => sum + s.count, 0);
    const last = shards.map((s) => s.last).reduce((a, b) => (b && (!a || b.line > a.line) ? b : a), null);
    if (last) {
      cursor.seq = n; // the log numbers valid events 1, 2, …: the last one's is their count
      cursor.eventId = last.eventId;
    }
    const report = onInvalid ?? ((problem: string) => logger.warn(problem));
    for (const p of shards.flatMap((s) => s.problems).sort((a, b) => a.line - b.line)) report(p.problem);
    logger.info({ events: n, threads: shards.length }, 'rebuilt on several threads');
    return n;
  }

  return {
    async load(onInvalid?: (problem: string) => void, checkpoint?: Checkpoint | null): Promise<LoadResult> {
      let n = 0;
      let fromCheckpoint = false;
      if (checkpoint) {
        table.restore(checkpoint.actors);
        table.restoreKept(checkpoint.kept ?? []);
        try {
          n = await table.foldAll(log.readBatches({ after: { seq: checkpoint.seq, eventId: checkpoint.eventId } }, onInvalid));
          if (!cursor.eventId) {
            cursor.seq = checkpoint.seq;
            cursor.eventId = checkpoint.eventId;
          }
          fromCheckpoint = true;
        } catch (err) {
          if (!(err instanceof CheckpointMismatchError)) throw err;
          logger.warn({ err: err.message }, 'checkpoint does not match the log: folding it from the start');
          table.clear();
          n = 0;
        }
      }
      if (!fromCheckpoint) n = await foldWhole(onInvalid);
      await table.resyncStale();
      return { folded: n, fromCheckpoint };
    },

    follow() {
      unsubscribe = log.subscribe(({ seq, event }: LoggedEvent) => {
        if (seq > cursor.seq) {
          cursor.seq = seq;
          cursor.eventId = event.id;
        }
        const before = table.fold(event);
        if (before) opts.notify({ type: event.type, event, before, after: table.actors.get(event.stream)!.snapshot, local: false });
        // A gap: events this table missed, or a stream it evicted that another process wrote to. Read it back now.
        else if (table.stale.has(event.stream)) {
          table.resync(event.stream).then(
            () => opts.onResynced?.(event.stream),
            (err) => logger.warn({ err, stream: event.stream }, 'could not read a stream again; it is read at its next event'),
          );
        }
      });
    },

    unfollow() {
      unsubscribe?.();
    },
  };
}
