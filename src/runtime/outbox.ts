import type { Logger } from 'pino';
import type { NewEvent, StoredEvent } from '../../events/envelope.js';
import { ConcurrencyError, type EventLog } from '../log/types.js';
import type { KeptEvent, OutboxFile } from './outbox-file.js';
import type { DispatchResult } from './types.js';

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
  /** Where kept events are written before the outbox answers (a restart hands them back); none: memory only. */
  file?: OutboxFile | null;
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
 * is appended, never before. With a file, an entry is on the local disk
 * before `add` resolves, so a process that dies meanwhile loses none of them
 * (`redeliverKept` hands them to the next one).
 */
export function createOutbox(opts: OutboxOptions) {
  const { log, logger } = opts;
  const file = opts.file ?? null;
  const minDelayMs = opts.minDelayMs ?? 100;
  const maxDelayMs = opts.maxDelayMs ?? 2_000;
  const queues = new Map<string, OutboxEntry[]>();
  const draining = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let size = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  /** Keeps an entry (on disk too, before it resolves); a stream's entries stay in position order whatever order their failures arrive in. */
  async function add(entry: OutboxEntry): Promise<void> {
    const q = queues.get(entry.stream) ?? [];
    let i = q.length;
    while (i > 0 && q[i - 1].expectedPosition > entry.expectedPosition) i--;
    q.splice(i, 0, entry);
    queues.set(entry.stream, q);
    size++;
    void drain(entry.stream, minDelayMs);
    const fields = { stream: entry.stream, eventId: entry.draft.id, eventType: entry.draft.type, recordingId: entry.draft.correlationId };
    // Said once it is true: with a file, "kept" means on the local disk, which a process killed right
    // after this line cannot take back (an operator, or a test that kills the process, reads it so).
    if (file) {
      try {
        await file.keep({ stream: entry.stream, draft: entry.draft, expectedPosition: entry.expectedPosition });
      } catch (err) {
        logger.error({ err, file: file.file, ...fields }, 'outbox: could not keep the event on disk; only memory holds it');
        return;
      }
    }
    logger.warn({ ...fields, onDisk: file !== null, pending: size }, 'event kept in the outbox until the log takes it');
  }

  /** The event is in the log, or stepped again under its id: off the disk. */
  const settle = (id: string) => {
    file?.done(id).catch((err) => logger.warn({ err, eventId: id }, 'outbox: could not mark an event done on disk (the next start looks it up in the log)'));
  };

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
        settle(stored.id);
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
    /** Whether this very event waits (in memory). */
    holds: (stream: string, id: string) => queues.get(stream)?.some((e) => e.draft.id === id) ?? false,
    settle,
    /** Events waiting, over every stream. */
    get size() {
      return size;
    },
    /** Resolves once nothing waits. */
    idle(): Promise<void> {
      return size === 0 ? Promise.resolve() : new Promise((r) => idleWaiters.push(r));
    },
    /** Stops retrying; what is still kept is reported (with a file, the next start appends it; without, it is lost). */
    close(): void {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (size > 0) {
        for (const [stream, q] of queues) {
          for (const e of q) {
            const ids = { stream, eventId: e.draft.id, eventType: e.draft.type, recordingId: e.draft.correlationId };
            if (file) logger.warn(ids, 'outbox closed with an event the log never took; it is kept on disk for the next start');
            else logger.error(ids, 'outbox closed with an event the log never took');
          }
        }
      }
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;

export interface RedeliverOptions {
  /** What an earlier process kept and the log never took (its outbox file). */
  kept: readonly KeptEvent[];
  log: EventLog;
  logger: Logger;
  /** Steps the event again on the stream's state now, under its own id and time. */
  dispatch(e: KeptEvent): Promise<DispatchResult>;
  /** Whether the event waits in this process's outbox again (the log refused it once more). */
  waits(e: KeptEvent): boolean;
  /** The event was handled (found in the log, appended, refused): off the disk. */
  settle(e: KeptEvent): void;
}

/**
 * After a restart: each stream's kept events, in position order. One the log
 * already holds (an append that was stored after all: same id) is not appended
 * again; any other is dispatched again on the state folded from the log, so it
 * is appended once and its transition's actions run (or it is refused, and
 * reported, if that state no longer takes it).
 */
export async function redeliverKept({ kept, log, logger, dispatch, waits, settle }: RedeliverOptions) {
  const summary = { kept: kept.length, inLog: 0, appended: 0, waiting: 0, refused: 0, left: 0 };
  if (kept.length === 0) return summary;
  const byStream = new Map<string, KeptEvent[]>();
  for (const e of kept) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e]);
  for (const [stream, entries] of byStream) {
    entries.sort((a, b) => a.expectedPosition - b.expectedPosition);
    const inLog = new Set<string>();
    try {
      for await (const { event } of log.read({ stream })) inLog.add(event.id);
    } catch (err) {
      summary.left += entries.length;
      logger.error({ err, stream, events: entries.length }, 'outbox file: could not read the stream; its events stay on disk for the next start');
      continue;
    }
    for (const [i, e] of entries.entries()) {
      const ids = { stream, eventId: e.draft.id, eventType: e.draft.type, recordingId: e.draft.correlationId };
      if (inLog.has(e.draft.id)) {
        summary.inLog++;
        logger.info(ids, 'outbox file: event already in the log; not appended again');
        settle(e);
        continue;
      }
      let r: DispatchResult;
      try {
        r = await dispatch(e);
      } catch (err) {
        // Those behind it were stepped on it: they wait with it.
        summary.left += entries.length - i;
        logger.error({ err, ...ids }, 'outbox file: handing an event back failed; it and those behind it stay on disk for the next start');
        break;
      }
      if (waits(e)) {
        summary.waiting++;
        continue;
      }
      if (r.accepted) summary.appended++;
      else {
        summary.refused++;
        logger.error({ ...ids, why: r.message }, 'outbox file: event an earlier process decided is refused on the state in the log');
      }
      settle(e);
    }
  }
  logger.info(summary, 'outbox file: events of an earlier process handed back');
  return summary;
}
