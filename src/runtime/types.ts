import type { Logger } from 'pino';
import type { AnyMachineSnapshot } from 'xstate';
import type { z } from 'zod';
import type { EventOf, EventType, eventSchemas } from '../../events/catalog.js';
import type { StoredEvent } from '../../events/envelope.js';
import type { StreamId, StreamKind } from '../../events/streams.js';
import type { EffectParams, EffectType, SnapshotOf } from '../../machines/index.js';
import type { EventLog } from '../log/types.js';
import type { Checkpoint } from './checkpoint.js';
import type { OutboxFile } from './outbox-file.js';
import type { ShardedLoadOptions } from './shard-load.js';

export type { SnapshotOf };

/** The stream kind an event type belongs to: the part before its first dot. */
export type KindOfType<T extends EventType> = T extends `${infer K extends StreamKind}.${string}` ? K : never;

/** An event's data as a caller hands it in (before the catalog's schema has parsed it). */
export type EventDataInput<T extends EventType> = z.input<(typeof eventSchemas)[T]>;

/** An event as an adapter or an effect hands it in: the runtime adds id, time and position. */
export interface EventInput<T extends EventType = EventType> {
  stream: string;
  type: T;
  data: EventDataInput<T>;
  causationId?: string | null;
  correlationId?: string | null;
}

/** Input nobody has checked yet (an edge that reads the type off the wire): validated all the same. */
export interface UncheckedEventInput<S extends string = string> {
  stream: string;
  type: S;
  data: unknown;
  causationId?: string | null;
  correlationId?: string | null;
}

/** `string` itself, or a name outside the catalog: a catalog literal is `never` here. */
export type OnlyWide<S extends string> = string extends S ? unknown : S extends EventType ? never : unknown;

export interface DispatchOptions {
  /** Refuse (`unknown-stream`) instead of starting a new actor. */
  mustExist?: boolean;
  /**
   * A client's command (HTTP, socket): while the log takes nothing it is
   * answered `unavailable` (ask again) instead of being kept for later.
   */
  command?: boolean;
  /**
   * An event decided before but never made durable (the outbox's, or an earlier
   * process's outbox file): stepped again under its own id and time, so the log
   * can tell it from a new one.
   */
  original?: { id: string; time: number };
  /** Conflicts on the expected position this dispatch has already retried (internal). */
  retried?: number;
}

export type DispatchResult<S extends AnyMachineSnapshot = AnyMachineSnapshot> =
  | { accepted: true; event: StoredEvent; snapshot: S }
  | { accepted: false; reason: 'invalid' | 'unknown-stream' | 'rejected' | 'unavailable'; message: string; snapshot?: S };

/** What `dispatch` of an event of type T answers: the snapshot of its stream's kind. */
export type DispatchResultOf<T extends EventType> = DispatchResult<SnapshotOf<KindOfType<T>>>;

export interface Actor<K extends StreamKind = StreamKind> {
  stream: string;
  kind: K;
  snapshot: SnapshotOf<K>;
  position: number;
  /** Times of the stream's first and last event (ms since epoch; 0 before any). */
  firstTime: number;
  lastTime: number;
}

export interface AppliedEvent {
  event: StoredEvent;
  before: AnyMachineSnapshot | undefined;
  after: AnyMachineSnapshot;
  /** Appended by this process (its effects ran here) rather than observed from another one. */
  local: boolean;
}

/**
 * What `onEvent` hands a listener: an AppliedEvent typed by its event type.
 * Narrowing on `type` types the event's data and its stream kind's snapshots
 * (every event the runtime applies has passed the catalog's schema).
 */
export type AppliedDomainEvent = {
  [T in EventType]: {
    type: T;
    event: EventOf<T>;
    before: SnapshotOf<KindOfType<T>> | undefined;
    after: SnapshotOf<KindOfType<T>>;
    local: boolean;
  };
}[EventType];

export interface EffectContext {
  event: StoredEvent;
  runtime: Runtime;
}
export type EffectHandlers = {
  [K in Exclude<EffectType, 'emit' | 'scheduleTimer' | 'cancelTimer'>]?: (params: EffectParams[K], ctx: EffectContext) => void | Promise<void>;
};

export interface RuntimeOptions {
  log: EventLog;
  logger: Logger;
  clock?: () => number;
  newId?: () => string;
  effects?: EffectHandlers;
  /** Folding a long file log on several threads at start (false: never). */
  shardedLoad?: ShardedLoadOptions | false;
  /**
   * How long a finished actor (closed room or peer, stopped recording whose
   * composition is done or was not asked for, completed or failed job) stays
   * in memory before it is evicted and read back from the log when asked for
   * (default 10 s; Infinity: never).
   */
  actorGraceMs?: number;
  /** Evicted recordings and compositions kept for the API's lists, per kind (default 500, see src/runtime/actors.ts). */
  keepFinished?: number;
  /** The outbox on disk: events the log refused survive a crash (`redeliver` hands them back at start). Opened and closed by the caller. */
  outboxFile?: OutboxFile | null;
  /**
   * NATS mode: timers armed by other nodes' events are shadowed here, due
   * `graceMs` after the original; a shadow fires only while `fires()` (this
   * node is the one that takes over lost nodes' work). Its event meets the
   * same machine guards as the original, so a timer its owner already fired
   * is refused.
   */
  shadowTimers?: { graceMs: number; fires: () => boolean };
}

/** What the runtime holds in memory (the soak and memory tools print it). */
export interface RuntimeStats {
  /** Live actors, all kinds. */
  live: number;
  byKind: Record<StreamKind, number>;
  /** Evicted recordings and compositions kept for the lists (bounded). */
  kept: number;
  /** Live actors that are finished, waiting out the grace period. */
  finishing: number;
  /** Actors evicted since start. */
  evicted: number;
  /** Appends another process won first (NATS mode), retried on the stream's fresh state, since start. */
  conflictsRetried: number;
}

/** What `redeliver` did with an earlier process's kept events. */
export interface RedeliverSummary {
  kept: number;
  /** Stored after all (an append that timed out): not appended again. */
  inLog: number;
  appended: number;
  /** The log refused them again: in the outbox (and on disk) once more. */
  waiting: number;
  /** The state in the log no longer takes them (reported). */
  refused: number;
  /** Not handed back (the log could not be read): on disk for the next start. */
  left: number;
}

export interface LoadResult {
  folded: number;
  fromCheckpoint: boolean;
}

/**
 * Hosts one actor per stream: `dispatch` validates an event, computes the
 * machine's transition, appends the event to the log, and only once it is
 * durable runs the effects the transition named. Loading folds the log
 * through the same pure transitions and runs nothing.
 */
export interface Runtime {
  /** Typed by the event's type: its data, and the snapshot of its stream's kind in the answer. */
  dispatch<T extends EventType>(input: EventInput<T>, opts?: DispatchOptions): Promise<DispatchResultOf<T>>;
  /**
   * A type known only as a `string` (read off the wire, passed through a helper): validated as any
   * other. A catalog type written out must take the typed form above, so its data is checked.
   */
  dispatch<S extends string>(input: UncheckedEventInput<S & OnlyWide<S>>, opts?: DispatchOptions): Promise<DispatchResult>;
  /**
   * Rebuilds every actor from the log; runs no effects. With a checkpoint
   * that matches the log, restores it and folds only the events after it.
   */
  load(onInvalid?: (problem: string) => void, checkpoint?: Checkpoint | null): Promise<LoadResult>;
  /**
   * After `load`: the events an earlier process decided but the log never took
   * (the outbox file), stepped again in order per stream and appended once (one
   * the log already holds is skipped); their actions run. Before recovery.
   */
  redeliver(): Promise<RedeliverSummary>;
  /**
   * Follows the log: events other processes append are folded in (NATS mode),
   * and every durable event advances what a checkpoint covers.
   */
  follow(): void;
  /** Every actor's state, when no dispatch is under way (else null: try again later). */
  checkpoint(clockNow?: number): Checkpoint | null;
  /** The newest event known durable in the log (what a checkpoint would cover). */
  readonly lastSeq: number;
  /**
   * A stream's snapshot while it is in memory: live, or an evicted recording or
   * composition still kept for the lists. An evicted stream is undefined here:
   * `read` it.
   */
  get<K extends StreamKind>(stream: StreamId<K>): SnapshotOf<K> | undefined;
  get(stream: string): AnyMachineSnapshot | undefined;
  /** A stream's actor from memory, else folded from its events in the log (an evicted one; it is not made live again). */
  read<K extends StreamKind>(stream: StreamId<K>): Promise<Actor<K> | undefined>;
  read(stream: string): Promise<Actor | undefined>;
  position(stream: string): number;
  /** First and last event time of a stream in memory, survives restarts (folded from the log). */
  times(stream: string): { first: number; last: number } | undefined;
  /** Live actors of a kind, and the kept evicted ones of a listed kind (recordings, compositions). */
  list<K extends StreamKind>(kind: K): Actor<K>[];
  stats(): RuntimeStats;
  onEvent(listener: (a: AppliedDomainEvent) => void): () => void;
  /** Resolves with the snapshot once `predicate` holds for the stream (or null after timeoutMs). */
  waitFor<K extends StreamKind>(stream: StreamId<K>, predicate: (s: SnapshotOf<K>) => boolean, timeoutMs: number): Promise<SnapshotOf<K> | null>;
  waitFor(stream: string, predicate: (s: AnyMachineSnapshot) => boolean, timeoutMs: number): Promise<AnyMachineSnapshot | null>;
  close(): Promise<void>;
}
