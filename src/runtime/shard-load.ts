import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { checkLine } from '../log/embedded-index.js';
import { readLines } from '../log/lines.js';
import { eachOf, type EventLog, type LoggedEvent, type ReadOptions } from '../log/types.js';
import type { Checkpoint } from './checkpoint.js';

/**
 * Rebuilding every actor from a long file log on several cores at once.
 *
 * Actors never read each other's state while folding, so the log can be split
 * by stream: thread k folds the streams whose name hashes to k, reading the
 * whole file but parsing only its own lines (the stream is found in the raw
 * line, where our writer always puts it). Each thread hands back its actors in
 * checkpoint form, and the runtime restores them as it restores a checkpoint.
 * A line whose parsed stream is not the one found in the raw text (a foreign
 * writer's key order) makes the result unusable: the runtime then folds the
 * log in one thread as before.
 */

export interface ShardTask {
  file: string;
  end: number;
  shard: number;
  shards: number;
}

export interface ShardResult {
  actors: Checkpoint['actors'];
  /** The line of each actor's first event: restored in that order, actors are listed as after a fold in one thread. */
  firstLines: Record<string, number>;
  /** Valid events this shard folded. */
  count: number;
  /** The shard's last valid event: its line (1-based) and id. */
  last: { line: number; eventId: string } | null;
  /** Lines of this shard that failed to parse, with the message the sequential read would give. */
  problems: { line: number; problem: string }[];
  /** A line's parsed stream belonged to another shard: the split cannot be trusted. */
  mismatch: boolean;
}

const STREAM_KEY = '"stream":"';

/** FNV-1a: which shard a stream is folded by. */
export function shardOf(stream: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < stream.length; i++) {
    h ^= stream.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** The shard a raw line goes to: by the stream written in it, or 0 (which parses and reports it) if none is found. */
function ownerOf(text: string, shards: number): number {
  const i = text.indexOf(STREAM_KEY);
  if (i === -1) return 0;
  const j = text.indexOf('"', i + STREAM_KEY.length);
  return j === -1 ? 0 : shardOf(text.slice(i + STREAM_KEY.length, j), shards);
}

/** Folds one shard of the file (in whichever thread calls it). */
export async function foldShard({ file, end, shard, shards }: ShardTask): Promise<ShardResult> {
  const result: ShardResult = { actors: [], firstLines: {}, count: 0, last: null, problems: [], mismatch: false };
  // A read-only view of the shard's events, numbered by line (unique and in log order).
  async function* readBatches(options: ReadOptions = {}): AsyncGenerator<LoggedEvent[]> {
    const whole = options.stream === undefined;
    let lineNo = 0;
    for await (const lines of readLines(file, 0, end)) {
      const batch: LoggedEvent[] = [];
      for (const line of lines) {
        lineNo++;
        if (ownerOf(line.text, shards) !== shard) continue;
        const event = checkLine(line, lineNo, (problem) => whole && result.problems.push({ line: lineNo, problem }));
        if (!event) continue;
        if (shardOf(event.stream, shards) !== shard) {
          result.mismatch = true;
          return;
        }
        if (!whole && event.stream !== options.stream) continue;
        batch.push({ seq: lineNo, event });
        if (whole) {
          result.firstLines[event.stream] ??= lineNo;
          result.count++;
          result.last = { line: lineNo, eventId: event.id };
        }
      }
      if (batch.length > 0) yield batch;
    }
  }
  const view: EventLog = {
    kind: 'embedded',
    readBatches,
    read: (options) => eachOf(readBatches(options)),
    append: () => Promise.reject(new Error('read-only shard view')),
    position: () => Promise.reject(new Error('read-only shard view')),
    subscribe: () => () => {},
    close: async () => {},
  };
  const { createRuntime } = await import('./runtime.js'); // here, not at the top: runtime.ts imports this module
  const rt = createRuntime({ log: view, logger: pino({ level: 'silent' }) });
  await rt.load();
  if (!result.mismatch) result.actors = rt.checkpoint()?.actors ?? [];
  await rt.close();
  return result;
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
