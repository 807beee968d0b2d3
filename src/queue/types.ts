/** What a queue entry asks for: run this composition job. */
export interface QueueEntry {
  jobId: string;
  /**
   * The position, in the job's stream, of the event that asked for this entry.
   * A worker whose runtime has not folded the job that far yet (its log
   * follower lags behind the queue) waits for it instead of judging the job by
   * an older state. Entries written before this field existed read as 1.
   */
  position: number;
}

/** One delivery of an entry to a consumer. Settling it twice is a no-op. */
export interface QueueItem extends QueueEntry {
  /** 1 for the first delivery; higher after a nak or after a silent consumer's item was handed on. */
  readonly delivery: number;
  /** Tells the queue the consumer is alive: restarts the ack wait. */
  working(): void;
  /** Done with it: the entry leaves the queue. */
  ack(): void;
  /** Hands the entry back; it is delivered again (delivery + 1) after `delayMs`, up to the queue's maxDeliver. */
  nak(delayMs?: number): void;
  /** Gives up on the entry: it is never delivered again. */
  term(reason?: string): void;
}

/**
 * The composition queue: work distribution among composer workers. Two
 * implementations (in-process memory; a JetStream work queue) pass one
 * contract suite (test/contract/queue/queue.contract.ts).
 *
 * Delivery is at least once: an item that is neither settled nor kept alive
 * with working() for `ackWaitMs` is delivered again, to this consumer or
 * another one. A handler that returns leaves its item acked; one that throws
 * leaves it nak'd with a delay (unless it settled the item itself).
 */
export interface CompositionQueue {
  /** Survives a process restart (JetStream): recovery need not re-enqueue. */
  readonly durable: boolean;
  /** How long a delivered item may go without settle or working() before it is handed on. */
  readonly ackWaitMs: number;
  /**
   * Adds an entry. `dedupeId` names it (the event that asked for it): the
   * same dedupeId twice within the queue's duplicate window is one entry; a
   * new dedupeId for the same job is a new entry.
   */
  enqueue(entry: QueueEntry, dedupeId: string): Promise<void>;
  /**
   * Runs `handler` for items, at most `concurrency` at once, until the
   * returned stop function is called; stop waits for the handlers under way.
   */
  consume(handler: (item: QueueItem) => Promise<void>, concurrency: number): () => Promise<void>;
  /** Stops every consumer and releases the queue; safe to call twice. enqueue then rejects. */
  close(): Promise<void>;
}

/** How long a handler's failure keeps its item away before it is delivered again. */
export const FAILED_ITEM_DELAY_MS = 5_000;

