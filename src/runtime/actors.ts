import type { AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';
import { parseStream, type StreamKind } from '../../events/streams.js';
import { boundedMap, type BoundedMap } from '../log/bounded-map.js';
import type { EventLog, LoggedEvent } from '../log/types.js';
import type { Checkpoint } from './checkpoint.js';
import { applyEvent, newActor, restoreActors, type FoldedActor } from './fold.js';

export type ActorTable = ReturnType<typeof createActorTable>;

/** Kinds the API lists: their finished actors are kept (bounded) after eviction, so lists still show the recent ones. */
export const LISTED_KINDS: readonly StreamKind[] = ['recording', 'composition'];
/** Finished actors kept per listed kind by default (between this and twice this many, the most recently evicted). */
export const KEEP_FINISHED = 500;

export interface ActorTableOptions {
  /** Finished actors of each listed kind kept after eviction (see KEEP_FINISHED). */
  keepFinished?: number;
}

/**
 * One runtime's actors, one per stream, and how far into the log they are
 * folded. Events are folded in stream order: one already folded is skipped,
 * one after a gap marks its stream stale, to be read again from the log.
 *
 * Two tiers: `actors`, the live ones, and `kept`, the most recently evicted
 * finished actors of the listed kinds (bounded). Anything else that was
 * evicted is only in the log: `reload` and `readBack` read its stream again.
 */
export function createActorTable(log: EventLog, opts: ActorTableOptions = {}) {
  const actors = new Map<string, FoldedActor>();
  const keep = opts.keepFinished ?? KEEP_FINISHED;
  const kept = new Map<StreamKind, BoundedMap<string, FoldedActor>>(keep > 0 ? LISTED_KINDS.map((k) => [k, boundedMap(keep)]) : []);
  /** Streams whose in-memory actor missed events appended elsewhere. */
  const stale = new Set<string>();
  /** The newest event known durable in the log (what a checkpoint covers). */
  const cursor = { seq: 0, eventId: '' };
  /** Streams being read again from the log: one read per stream at a time. */
  const reading = new Map<string, Promise<void>>();

  const keptOf = (stream: string) => (kept.size > 0 ? kept.get(parseStream(stream).kind) : undefined);

  /** A kept (evicted, finished) actor made live again: it takes events from where it was. */
  function revive(stream: string): FoldedActor | undefined {
    const tier = keptOf(stream);
    const a = tier?.get(stream);
    if (!a) return undefined;
    tier!.delete(stream);
    actors.set(stream, a);
    return a;
  }

  /** The live actor of a stream, revived from the kept ones or created (initial state) on its first event. */
  function live(stream: string): FoldedActor {
    let actor = actors.get(stream) ?? revive(stream);
    if (!actor) {
      actor = newActor(stream);
      actors.set(stream, actor);
    }
    return actor;
  }

  /**
   * Pure fold of one stored event; used by load, resync and foreign events.
   * Returns the snapshot before it, or null when the event was not applied
   * (already folded, or out of order: the stream is then resynced).
   */
  function fold(e: StoredEvent): AnyMachineSnapshot | null {
    const actor = live(e.stream);
    if (e.position <= actor.position) return null;
    if (e.position !== actor.position + 1) {
      stale.add(e.stream);
      return null;
    }
    return applyEvent(actor, e);
  }

  /** Folds what a read hands over; returns how many events it held. */
  async function foldAll(batches: AsyncIterable<LoggedEvent[]>): Promise<number> {
    let n = 0;
    for await (const batch of batches) {
      for (const { event } of batch) fold(event);
      const last = batch[batch.length - 1];
      if (last) {
        cursor.seq = last.seq;
        cursor.eventId = last.event.id;
      }
      n += batch.length;
    }
    return n;
  }

  /** Reads one stream again from the log, from its first event (concurrent calls share one read). */
  function resync(stream: string): Promise<void> {
    let r = reading.get(stream);
    if (!r) {
      r = (async () => {
        actors.delete(stream);
        keptOf(stream)?.delete(stream);
        stale.delete(stream);
        try {
          for await (const { event } of log.read({ stream })) fold(event);
        } catch (err) {
          stale.add(stream); // read again at its next event
          throw err;
        }
      })().finally(() => reading.delete(stream));
      reading.set(stream, r);
    }
    return r;
  }

  /** Every stale stream read again. */
  async function resyncStale() {
    for (const s of stale) await resync(s);
  }

  /** The actor of a stream, live or kept (no log read). */
  const get = (stream: string): FoldedActor | undefined => actors.get(stream) ?? keptOf(stream)?.get(stream);

  return {
    actors,
    stale,
    cursor,
    fold,
    foldAll,
    resync,
    resyncStale,
    get,
    /** The stream is being read again from the log (not to be evicted half folded). */
    isReading: (stream: string) => reading.has(stream),
    /** Live and kept actors of one kind. */
    *ofKind(kind: StreamKind): Generator<FoldedActor> {
      for (const a of actors.values()) if (a.kind === kind) yield a;
      const tier = kept.get(kind);
      if (tier) yield* tier.values();
    },
    /** Before a dispatch: a stale stream is read again, a kept one made live. */
    async prepare(stream: string): Promise<void> {
      const r = reading.get(stream);
      if (r) await r;
      if (stale.has(stream)) await resync(stream);
      else if (!actors.has(stream)) revive(stream);
    },
    /**
     * A stream this table does not hold that the log does (it was evicted):
     * read back and made live. False when the log has nothing either.
     */
    async reload(stream: string): Promise<boolean> {
      if (get(stream)) return false;
      if ((await log.position(stream)) === 0) return false;
      await resync(stream);
      return actors.has(stream);
    },
    /** A stream's actor without keeping it: from memory, else folded from its events in the log. */
    async readBack(stream: string): Promise<FoldedActor | undefined> {
      const r = reading.get(stream);
      if (r) await r;
      const known = get(stream);
      if (known) return known;
      const a = newActor(stream);
      for await (const { event } of log.read({ stream })) if (event.position === a.position + 1) applyEvent(a, event);
      return a.position > 0 ? a : undefined;
    },
    /** Takes a finished actor out of memory: a listed kind is kept (bounded), any other is only in the log now. */
    evict(stream: string): void {
      const a = actors.get(stream);
      if (!a) return;
      actors.delete(stream);
      kept.get(a.kind)?.set(stream, a);
    },
    /** Kept actors of every listed kind (what a checkpoint carries beside the live ones). */
    *keptActors(): Generator<FoldedActor> {
      for (const tier of kept.values()) yield* tier.values();
    },
    keptCount: () => [...kept.values()].reduce((n, t) => n + t.size, 0),
    restore: (list: Checkpoint['actors']) => restoreActors(actors, list),
    /** Forgets every actor, live and kept (a checkpoint that did not match the log). */
    clear() {
      actors.clear();
      for (const tier of kept.values()) for (const a of [...tier.values()]) tier.delete(a.stream);
    },
    /** Kept actors as a checkpoint holds them. */
    restoreKept(list: Checkpoint['actors']) {
      const m = new Map<string, FoldedActor>();
      restoreActors(m, list);
      for (const a of m.values()) kept.get(a.kind)?.set(a.stream, a);
    },
  };
}
