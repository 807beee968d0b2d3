import { compositionStream, recordingStream } from '../../machines/actions.js';
import type { FoldedActor } from './fold.js';

/** How long a finished actor stays in memory by default (ms). */
export const ACTOR_GRACE_MS = 10_000;

/**
 * Whether an actor is finished: nothing it does later than now can be
 * caused by its own state, so it may leave memory (an event that still comes
 * reads it back from the log first). `live` looks up other live actors: a
 * stopped recording stays while its composition is still to run, because
 * the composition's views and the composer read the recording.
 */
export function isFinished(a: FoldedActor, live: (stream: string) => FoldedActor | undefined): boolean {
  const value = String(a.snapshot.value);
  const c = a.snapshot.context;
  switch (a.kind) {
    case 'room':
      return value === 'closed' && !c.activeRecordingId;
    case 'peer':
      return value === 'closed';
    case 'composition':
    case 'upload':
      return value === 'completed' || value === 'failed';
    case 'recording': {
      if (value !== 'stopped' && value !== 'failed') return false;
      if (!c.compose || !c.compositionJobId) return true;
      // Not live: finished and gone already, or never requested (a failed recording).
      const job = live(compositionStream(c.compositionJobId));
      return !job || isFinished(job, live);
    }
    default:
      return false; // kinds with long lives of their own (a webhook endpoint's cursor) stay
  }
}

export interface EvictorOptions {
  graceMs: number;
  clock: () => number;
  live: (stream: string) => FoldedActor | undefined;
  /** A dispatch to this stream is under way: not now. */
  busy: (stream: string) => boolean;
  evict: (stream: string) => void;
}

/**
 * Keeps the finished actors and since when they are: `touch` after every
 * event a stream folds, `sweep` takes out those finished for longer than the
 * grace period. Holds only live streams.
 */
export function createEvictor(opts: EvictorOptions) {
  const { graceMs, clock, live } = opts;
  const since = new Map<string, number>();
  let evicted = 0;

  function touch(stream: string) {
    const a = live(stream);
    if (a && isFinished(a, live)) {
      if (!since.has(stream)) since.set(stream, clock());
    } else since.delete(stream);
    // A composition that ends may finish its recording too.
    if (a?.kind === 'composition' && a.snapshot.context.recordingId) {
      const rec = recordingStream(a.snapshot.context.recordingId);
      if (rec !== stream && live(rec)) touch(rec);
    }
  }

  function sweep(now = clock()) {
    for (const [stream, t] of since) {
      if (now - t < graceMs || opts.busy(stream)) continue;
      const a = live(stream);
      since.delete(stream);
      if (!a || !isFinished(a, live)) continue;
      opts.evict(stream);
      evicted++;
    }
  }

  return {
    touch,
    sweep,
    forget: (stream: string) => since.delete(stream),
    get pending() {
      return since.size;
    },
    get evicted() {
      return evicted;
    },
  };
}
