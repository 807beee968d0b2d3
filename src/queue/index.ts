import type { Logger } from 'pino';
import { createMemoryQueue } from './memory.js';
import { createNatsQueue } from './nats.js';
import type { CompositionQueue } from './types.js';
import type { NatsQueueOptions } from './nats.js';

export type { CompositionQueue, QueueEntry, QueueItem } from './types.js';
export { FAILED_ITEM_DELAY_MS } from './types.js';
export { createMemoryQueue, type MemoryQueueOptions } from './memory.js';
export { createNatsQueue, type NatsQueueOptions } from './nats.js';

export interface CompositionQueueConfig {
  /** When set, the queue is a JetStream work queue on this server. */
  natsUrl?: string;
  /** JetStream stream of the queue; its subject is `<stream lower-cased>.jobs`. */
  natsStream: string;
  /** A delivered item without ack or working() for this long goes to another worker. */
  ackWaitMs: number;
  logger: Logger;
  /** Credentials and TLS for the NATS connection (src/nats-options.ts). */
  connectOptions?: NatsQueueOptions['connectOptions'];
}

/** The one place that picks the queue: JetStream when natsUrl is set, else in memory. */
export function createCompositionQueue({ natsUrl, natsStream, ackWaitMs, logger, connectOptions }: CompositionQueueConfig): Promise<CompositionQueue> {
  if (natsUrl) {
    return createNatsQueue({ servers: natsUrl, connectOptions, stream: natsStream, subject: `${natsStream.toLowerCase()}.jobs`, ackWaitMs, logger });
  }
  return Promise.resolve(createMemoryQueue({ ackWaitMs, logger }));
}
