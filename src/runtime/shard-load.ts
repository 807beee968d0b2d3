import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openShard, type ShardReadReport, type ShardTask } from '../log/shard-read.js';
import type { EventLog } from '../log/types.js';
import { createActorTable } from './actors.js';
import type { Checkpoint } from './checkpoint.js';
import { toCheckpointActors } from './fold.js';

/**
 * Rebuilding every actor from a long file log on several cores at once.
 *
 * Actors never read each other's state while folding, so the log can be split
 * by stream (src/log/shard-read.ts): thread k folds the streams whose name
 * hashes to k. Each thread hands back its actors in checkpoint form, and the
 * runtime restores them as it restores a checkpoint. A shard whose split
 * cannot be trusted (a foreign writer's key order) makes the result unusable:
 * the runtime then folds the log in one thread as before.
 */

export type { ShardTask };

export interface ShardResult extends ShardReadReport {
  actors: Checkpoint['actors'];
}

/** Folds one shard of the file (in whichever thread calls it), as a load of that shard alone would. */
export async function foldShard(task: ShardTask): Promise<ShardResult> {
  const { log, report } = openShard(task);
  const table = createActorTable(log);
  await table.foldAll(log.readBatches({}));
  await table.resyncStale();
  return { ...report, actors: report.mismatch ? [] : toCheckpointActors(table.actors.values()) };
}

const here = import.meta.url;
/** tsx's ESM register API, as a URL a worker can import whatever its working directory. */
function tsxEsmApi(): string {
  const viaImport = (import.meta as { resolve?: (s: string) => string }).resolve?.('tsx/esm/api');
  return viaImport ?? pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
}
/** Runs foldShard in a worker thread; under tsx (no build step) the worker registers tsx first. */
function foldInWorker(task: ShardTask): Promise<ShardResult> {
  const underTsx = here.endsWith('.ts');
  const tsxApi = underTsx ? tsxEsmApi() : null;
  const boot = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      ${tsxApi ? `(await import(${JSON.stringify(tsxApi)})).register();` : ''}
      const m = await import(${JSON.stringify(here)});
      parentPort.postMessage({ ok: await m.foldShard(workerData) });
    })().catch((err) => parentPort.postMessage({ error: String((err && err.stack) || err) }));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(boot, { eval: true, workerData: task });
    worker.once('message', (m: { ok?: ShardResult; error?: string }) => {
      void worker.terminate();
      if (m.ok) resolve(m.ok);
      else reject(new Error(m.error ?? 'fold worker failed'));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`fold worker exited (${code})`)));
  });
}

export interface ShardedLoadOptions {
  /** Logs shorter than this are folded in one thread (worker start-up costs ~0.3 s under tsx). Default 64 MiB. */
  minBytes?: number;
  /** Threads to fold with, this one included. Default: the cores available, at most 4. */
  threads?: number;
}

/**
 * Folds the log in shards when it is a local file long enough to be worth
 * it; null when it is not, or when the split could not be trusted (the caller
 * then folds it in one thread).
 */
export async function loadInShards(log: EventLog, options: ShardedLoadOptions = {}): Promise<ShardResult[] | null> {
  const source = log.localFile?.();
  const threads = options.threads ?? Math.min(availableParallelism(), 4);
  if (!source || threads < 2 || source.end < (options.minBytes ?? 64 * 1024 * 1024)) return null;
  const tasks = Array.from({ length: threads }, (_, shard) => ({ file: resolve(source.file), end: source.end, shard, shards: threads }));
  // Every shard settles before anything is decided: a failed one must not leave the others folding beside a fallback.
  const settled = await Promise.allSettled([foldShard(tasks[0]!), ...tasks.slice(1).map(foldInWorker)]);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const results = settled.map((r) => (r as PromiseFulfilledResult<ShardResult>).value);
  return results.some((r) => r.mismatch) ? null : results;
}

/** Every shard's actors, in the order of their first event in the log. */
export function actorsInLogOrder(results: ShardResult[]): Checkpoint['actors'] {
  return results.flatMap((r) => r.actors.map((a) => ({ a, line: r.firstLines[a.stream] ?? 0 }))).sort((x, y) => x.line - y.line).map(({ a }) => a);
}
