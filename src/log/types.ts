import type { NewEvent, StoredEvent } from '../../events/envelope.js';

/** Raised when an append's expected stream position does not match the log. */
export class ConcurrencyError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`stream ${stream}: expected position ${expected}, log is at ${actual}`);
    this.name = 'ConcurrencyError';
  }
}

export interface AppendOptions {
  /**
   * The position of the last event the writer knows in this stream (0 = the
   * stream must be empty). When given and stale, the append fails with a
   * ConcurrencyError and nothing is written.
   */
  expectedPosition?: number;
  /**
   * Appends to one stream decided one on top of the other (optimistically,
   * before the earlier ones were durable) share one lineage. Once the log
   * refuses one of them for concurrency it marks the lineage broken and
   * refuses the later ones too, whatever position they expect: another
   * writer's event may fill the refused one's position, and the later ones
   * were decided on a state that never happened.
   */
  lineage?: Lineage;
}

/** See AppendOptions.lineage. */
export interface Lineage {
  broken: boolean;
}

export interface ReadOptions {
  /** Only events of this stream. */
  stream?: string;
  /** Only events whose correlationId equals this (a recording id). */
  correlationId?: string;
  /** Stop after the event with this global sequence (1-based, in log order). */
  untilSeq?: number;
  /**
   * Start after this event, which must be the log's event at that sequence
   * (a checkpoint's last event). If it is not, read throws a
   * CheckpointMismatchError before yielding anything.
   */
  after?: { seq: number; eventId: string };
}

/** The log does not hold the event a read was asked to start after. */
export class CheckpointMismatchError extends Error {
  constructor(seq: number, eventId: string, why: string) {
    super(`log has no event ${eventId} at sequence ${seq}: ${why}`);
    this.name = 'CheckpointMismatchError';
  }
}

export interface LoggedEvent {
  /** Global 1-based order of the event in the log. */
  seq: number;
  event: StoredEvent;
}

/**
 * The durable, ordered event log that doubles as the bus. Two implementations
 * (embedded JSONL file + in-process delivery; NATS JetStream) pass one
 * contract suite (test/contract/log.contract.ts).
 */
export interface EventLog {
  readonly kind: 'embedded' | 'nats';
  /**
   * Appends events to one stream in order and resolves once they are durable.
   * Positions are assigned by the log (last position + 1, …). Appends to the
   * same stream are applied in call order; appends to different streams may
   * proceed concurrently. An event whose id was already appended is dropped
   * (idempotent retry) and its stored copy returned, within the log's
   * duplicate window (embedded: the last 100,000 events; JetStream: 2 min).
   */
  append(stream: string, events: NewEvent[], options?: AppendOptions): Promise<StoredEvent[]>;
  /** Last position of a stream (0 when empty). */
  position(stream: string): Promise<number>;
  /**
   * Reads the whole log (or the filtered part) in global order. Lines or
   * messages that fail the envelope schema are skipped and reported through
   * onInvalid, never thrown.
   */
  read(options?: ReadOptions, onInvalid?: (problem: string) => void): AsyncIterable<LoggedEvent>;
  /**
   * The same events as read(), handed over in arrays (whatever the log has at
   * hand: a file chunk, a run of messages). Folding a whole log one awaited
   * event at a time costs more than the fold; restarts use this.
   */
  readBatches(options?: ReadOptions, onInvalid?: (problem: string) => void): AsyncIterable<LoggedEvent[]>;
  /**
   * A file log: the file and the byte length its reads cover now, so other
   * threads can read the same events (restarts fold a long log on several
   * cores). Absent for logs that are not a local file.
   */
  localFile?(): { file: string; end: number };
  /** Live delivery of every event appended after subscribing (from any process in NATS mode). */
  subscribe(handler: (e: LoggedEvent) => void): () => void;
  close(): Promise<void>;
}

/** read() on top of readBatches(): one implementation of the reading per log. */
export async function* eachOf<T>(batches: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const batch of batches) yield* batch;
}
