import { pino, type Logger } from 'pino';
import { handleItem, startConsumer } from './consume.js';
import type { CompositionQueue, QueueEntry, QueueItem } from './types.js';

export interface MemoryQueueOptions {
  /** An item neither settled nor kept alive for this long is delivered again (default 30 s). */
  ackWaitMs?: number;
  /** Deliveries of one entry at most (default 10, as the JetStream queue). */
  maxDeliver?: number;
  /** How many dedupe ids are remembered (default 100,000). */
  duplicateWindow?: number;
  logger?: Logger;
}

interface Pending {
  entry: QueueEntry;
  /** Deliveries made so far. */
  deliveries: number;
}

/**
 * In-process queue for the embedded mode, with the JetStream queue's delivery
 * rules (ack wait, nak delay, max deliver, dedupe ids) so that workers see one
 * behaviour. Entries die with the process: recovery re-enqueues them.
 */
export function createMemoryQueue(opts: MemoryQueueOptions = {}): CompositionQueue {
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const maxDeliver = opts.maxDeliver ?? 10;
  const duplicateWindow = opts.duplicateWindow ?? 100_000;
  const logger = opts.logger ?? pino({ level: 'silent' });
  const ready: Pending[] = [];
  const seen = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<() => void>();
  const stoppers = new Set<() => Promise<void>>();
  let closing: Promise<void> | null = null;

  function later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  }

  function wake() {
    for (const w of waiters) w();
    waiters.clear();
  }

  function offer(p: Pending) {
    if (closing) return;
    if (p.deliveries >= maxDeliver) {
      logger.warn({ jobId: p.entry.jobId, deliveries: p.deliveries }, 'queue entry reached its last delivery: dropped');
      return;
    }
    ready.push(p);
    wake();
  }

  function handOut(p: Pending): QueueItem {
    p.deliveries++;
    let settled = false;
    let ackTimer = later(ackWaitMs, expire);
    function expire() {
      if (settled) return;
      settled = true;
      offer(p);
    }
    function settle(): boolean {
      if (settled) return false;
      settled = true;
      clearTimeout(ackTimer);
      timers.delete(ackTimer);
      return true;
    }
    return {
      ...p.entry,
      delivery: p.deliveries,
      working() {
        if (settled) return;
        clearTimeout(ackTimer);
        timers.delete(ackTimer);
        ackTimer = later(ackWaitMs, expire);
      },
      ack: () => void settle(),
      nak(delayMs = 0) {
        if (!settle()) return;
        if (delayMs > 0) later(delayMs, () => offer(p));
        else offer(p);
      },
      term: () => void settle(),
    };
  }

  return {
    durable: false,
    ackWaitMs,
    async enqueue(entry, dedupeId) {
      if (closing) throw new Error('composition queue is closed');
      if (seen.has(dedupeId)) return;
      seen.add(dedupeId);
      if (seen.size > duplicateWindow) seen.delete(seen.values().next().value as string);
      offer({ entry: { jobId: entry.jobId, position: entry.position }, deliveries: 0 });
    },
    consume(handler, concurrency) {
      return startConsumer(
        concurrency,
        async (running) => {
          while (running()) {
            const p = ready.shift();
            if (!p) {
              await new Promise<void>((r) => waiters.add(r));
              continue;
            }
            await handleItem(handOut(p), handler, logger);
          }
        },
        { stoppers, closing: () => closing !== null, onStop: wake },
      );
    },
    close() {
      closing ??= (async () => {
        wake();
        await Promise.all([...stoppers].map((s) => s()));
        for (const t of timers) clearTimeout(t);
        timers.clear();
        ready.length = 0;
      })();
      return closing;
    },
  };
}
