import type { Logger } from 'pino';
import { FAILED_ITEM_DELAY_MS, type QueueItem } from './types.js';

/**
 * The port's rule for one delivery (types.ts): a handler that returns leaves
 * its item acked, one that throws leaves it nak'd with FAILED_ITEM_DELAY_MS
 * (both no-ops when the handler settled the item itself).
 */
export async function handleItem(item: QueueItem, handler: (item: QueueItem) => Promise<void>, logger: Logger): Promise<void> {
  try {
    await handler(item);
    item.ack();
  } catch (err) {
    logger.error({ err, jobId: item.jobId }, 'work item failed; handing it back');
    item.nak(FAILED_ITEM_DELAY_MS);
  }
}

export interface ConsumerSlots {
  /** The queue's stop functions: its close() stops every consumer through them. */
  stoppers: Set<() => Promise<void>>;
  /** The queue is closing: every slot ends. */
  closing: () => boolean;
  /** Called once stop was asked for, before it waits for the slots (wake the idle ones). */
  onStop?: () => void;
}

/**
 * One consumer of `consume(handler, concurrency)`: `concurrency` slots, each
 * running `slot` while `running()` holds. The returned stop ends them and
 * waits for the handlers under way; it is registered with the queue until it
 * has run.
 */
export function startConsumer(concurrency: number, slot: (running: () => boolean) => Promise<void>, opts: ConsumerSlots): () => Promise<void> {
  let stopped = false;
  const running = () => !stopped && !opts.closing();
  const slots = Array.from({ length: concurrency }, () => slot(running));
  const stop = async () => {
    stopped = true;
    opts.onStop?.();
    await Promise.allSettled(slots);
    opts.stoppers.delete(stop);
  };
  opts.stoppers.add(stop);
  return stop;
}
