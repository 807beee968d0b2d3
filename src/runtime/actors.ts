import type { AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';
import type { EventLog, LoggedEvent } from '../log/types.js';
import type { Checkpoint } from './checkpoint.js';
import { actorOf, applyEvent, restoreActors, type FoldedActor } from './fold.js';

export type ActorTable = ReturnType<typeof createActorTable>;

/**
 * One runtime's actors, one per stream, and how far into the log they are
 * folded. Events are folded in stream order: one already folded is skipped,
 * one after a gap marks its stream stale, to be read again from the log.
 */
export function createActorTable(log: EventLog) {
  const actors = new Map<string, FoldedActor>();
  /** Streams whose in-memory actor missed events appended elsewhere. */
  const stale = new Set<string>();
  /** The newest event known durable in the log (what a checkpoint covers). */
  const cursor = { seq: 0, eventId: '' };

  /**
   * Pure fold of one stored event; used by load, resync and foreign events.
   * Returns the snapshot before it, or null when the event was not applied
   * (already folded, or out of order: the stream is then resynced).
   */
  function fold(e: StoredEvent): AnyMachineSnapshot | null {
    const actor = actorOf(actors, e.stream);
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

  /** Reads one stream again from the log, from its first event. */
  async function resync(stream: string) {
    actors.delete(stream);
    stale.delete(stream);
    for await (const { event } of log.read({ stream })) fold(event);
  }

  /** Every stale stream read again. */
  async function resyncStale() {
    for (const s of stale) await resync(s);
  }

  return {
    actors,
    stale,
    cursor,
    fold,
    foldAll,
    resync,
    resyncStale,
    restore: (list: Checkpoint['actors']) => restoreActors(actors, list),
  };
}
