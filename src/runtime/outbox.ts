import type { Logger } from 'pino';
import type { NewEvent, StoredEvent } from '../../events/envelope.js';
import { ConcurrencyError, type EventLog } from '../log/types.js';

/** What a client is told while the log takes nothing: nothing it asked for was dropped, but it must ask again. */
export const LOG_UNAVAILABLE = 'event log unavailable, retry';

/** One event the log did not take yet, with what to do once it has. */
export interface OutboxEntry {
  stream: string;
  draft: NewEvent;
  /** The stream position the event was stepped on (its own is this + 1). */
  expectedPosition: number;
  /** Runs once the event is durable: notify, then the transition's actions. */
  appended(event: StoredEvent): Promise<void> | void;
}

export interface OutboxOptions {
  log: EventLog;
  logger: Logger;
  /**
   * The log holds another event at this stream's next position (another
   * writer, or one of these was stored longer ago than the duplicate window):
   * the entries are handed back, in order, to be stepped again on fresh state.
   */
  conflicted(stream: string, entries: OutboxEntry[]): Promise<void>;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Events that are decided (stepped, possibly already folded into an actor)
 * but not durable: the log refused them (NATS down, a failed file write).
 * Each stream's entries are appended again in position order with backoff,
 * under their own ids, so an append that timed out but was stored is
 * answered as a duplicate and not written twice. Effects run once an entry
 * is appended, never before.
 */
export function createOutbox(opts: OutboxOptions) {
  const { log, logger } = opts;
  const minDelayMs = opts.minDelayMs ?? 100;
  const maxDelayMs = opts.maxDelayMs ?? 2_000;
  const queues = new Map<string, OutboxEntry[]>();
  const draining = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let size = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  /** Keeps an entry; a stream's entries stay in position order whatever order their failures arrive in. */
  function add(entry: OutboxEntry): void {
    const q = queues.get(entry.stream) ?? [];
    let i = q.length;
    while (i > 0 && q[i - 1].expectedPosition > entry.expectedPosition) i--;
    q.splice(i, 0, entry);
    queues.set(entry.stream, q);
    size++;
    logger.warn({ stream: entry.stream, eventId: entry.draft.id, eventType: entry.draft.type, recordingId: entry.draft.correlationId, pending: size }, 'event kept in the outbox until the log takes it');
    void drain(entry.stream, minDelayMs);
  }

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  async function drain(stream: string, firstDelayMs: number): Promise<void> {
    if (draining.has(stream)) return;
    draining.add(stream);
    let delay = firstDelayMs;
    try {
      // The failure that filled the outbox is fresh: give the log a moment before the first retry.
      await wait(delay);
      for (let q = queues.get(stream); q && q.length > 0 && !closed; q = queues.get(stream)) {
        const head = q[0];
        let stored: StoredEvent;
        try {
          [stored] = (await log.append(stream, [head.draft], { expectedPosition: head.expectedPosition })) as [StoredEvent];
        } catch (err) {
          if (closed) return;
          if (err instanceof ConcurrencyError) {
            queues.delete(stream);
            size -= q.length;
            logger.error({ stream, events: q.length, err: err.message }, 'outbox: the stream moved on in the log; stepping its events again');
            await opts.conflicted(stream, q).catch((e) => logger.error({ err: e, stream }, 'outbox: stepping events again failed'));
            continue;
          }
          logger.warn({ stream, eventId: head.draft.id, err: (err as Error).message, retryInMs: delay }, 'outbox: the log still refuses');
          await wait(delay);
          delay = Math.min(maxDelayMs, delay * 2);
          continue;
        }
        q.shift();
        size--;
        if (q.length === 0) queues.delete(stream);
        delay = minDelayMs;
        logger.info({ stream, eventId: stored.id, eventType: stored.type, position: stored.position, pending: size }, 'outbox: event appended');
        try {
          await head.appended(stored);
        } catch (err) {
          logger.error({ err, stream, eventId: stored.id }, 'outbox: acting on an appended event failed');
        }
      }
    } finally {
      draining.delete(stream);
      if (size === 0) {
        const w = idleWaiters;
        idleWaiters = [];
        for (const r of w) r();
      }
    }
  }

  return {
    add,
    /** Whether an event of this stream waits: a later one must wait behind it. */
    has: (stream: string) => (queues.get(stream)?.length ?? 0) > 0,
    /** Events waiting, over every stream. */
    get size() {
      return size;
    },
    /** Resolves once nothing waits. */
    idle(): Promise<void> {
      return size === 0 ? Promise.resolve() : new Promise((r) => idleWaiters.push(r));
    },
    /** Stops retrying; what is still kept is reported (it was never durable, so a restart does not know of it). */
    close(): void {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (size > 0) {
        for (const [stream, q] of queues) {
          for (const e of q) logger.error({ stream, eventId: e.draft.id, eventType: e.draft.type }, 'outbox closed with an event the log never took');
        }
      }
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
