import { initialTransition, type AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';
import { parseStream, type StreamKind } from '../../events/streams.js';
import { machines, steppers } from '../../machines/index.js';
import type { Checkpoint } from './checkpoint.js';

/**
 * The fold: one stream's state rebuilt event by event through its machine's
 * pure transition (initialState, then foldEvent per event). The runtime
 * (load, resync, foreign events) and the operator's replay (src/replay) both
 * fold through these two functions, so they cannot drift.
 */

/** One stream's folded state. Snapshots are typed per kind at the runtime's API (see types.ts). */
export interface FoldedActor {
  stream: string;
  kind: StreamKind;
  snapshot: AnyMachineSnapshot;
  position: number;
  /** Times of the stream's first and last event (ms since epoch; 0 before any). */
  firstTime: number;
  lastTime: number;
}

/** A stream's state before its first event: its machine's initial state, for the stream's id. */
export function initialState(stream: string): { kind: StreamKind; snapshot: AnyMachineSnapshot } {
  const { kind, id } = parseStream(stream);
  return { kind, snapshot: initialTransition(machines[kind], { id })[0] };
}

/** The state after one more stored event: the machine's pure transition, running none of its actions. */
export function foldEvent(kind: StreamKind, snapshot: AnyMachineSnapshot, e: StoredEvent): AnyMachineSnapshot {
  return steppers[kind](snapshot, e)[0];
}

/** A stream's actor before its first event. */
export function newActor(stream: string): FoldedActor {
  const { kind, snapshot } = initialState(stream);
  return { stream, kind, snapshot, position: 0, firstTime: 0, lastTime: 0 };
}

/** The stream's actor in `actors`, created (initial state) on its first event. */
export function actorOf(actors: Map<string, FoldedActor>, stream: string): FoldedActor {
  let actor = actors.get(stream);
  if (!actor) {
    actor = newActor(stream);
    actors.set(stream, actor);
  }
  return actor;
}

/** Folds one stored event into its actor; returns the snapshot before it. */
export function applyEvent(actor: FoldedActor, e: StoredEvent): AnyMachineSnapshot {
  const before = actor.snapshot;
  actor.snapshot = foldEvent(actor.kind, before, e);
  actor.position = e.position;
  if (!actor.firstTime) actor.firstTime = e.time;
  actor.lastTime = e.time;
  return before;
}

/** Actors as a checkpoint holds them (only those that have seen an event). */
export function toCheckpointActors(actors: Iterable<FoldedActor>): Checkpoint['actors'] {
  const out: Checkpoint['actors'] = [];
  for (const a of actors) {
    if (a.position <= 0) continue;
    out.push({
      stream: a.stream,
      position: a.position,
      firstTime: a.firstTime,
      lastTime: a.lastTime,
      value: a.snapshot.value,
      context: a.snapshot.context as Record<string, unknown>,
    });
  }
  return out;
}

/** Puts actors back as a checkpoint (or a shard of a rebuild) holds them. */
export function restoreActors(actors: Map<string, FoldedActor>, list: Checkpoint['actors']): void {
  for (const a of list) {
    const { kind } = parseStream(a.stream);
    const snapshot = machines[kind].resolveState({ value: a.value as never, context: a.context });
    actors.set(a.stream, { stream: a.stream, kind, snapshot, position: a.position, firstTime: a.firstTime, lastTime: a.lastTime });
  }
}
