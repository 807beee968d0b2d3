import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { isId } from '../../events/ids.js';
import { handleItem, startConsumer } from './consume.js';
import type { CompositionQueue, QueueEntry, QueueItem } from './types.js';

export interface NatsQueueOptions {
  servers: string | string[];
  /** Credentials and TLS (src/nats-options.ts). */
  connectOptions?: Partial<NodeConnectionOptions>;
  /** JetStream work-queue stream; created when missing (default MR_COMPOSE). */
  stream?: string;
  subject?: string;
  /** A delivered item without ack or working() for this long is handed to another worker (default 30 s). */
  ackWaitMs?: number;
  maxDeliver?: number;
  logger?: Logger;
}

/** The one durable consumer every composer worker pulls from. */
const DURABLE = 'composers';

/** An entry as it travels: `{ jobId, position }`; entries from before `position` existed read as position 1. */
export function parseEntry(text: string): QueueEntry | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const { jobId, position } = raw as { jobId?: unknown; position?: unknown };
  if (!isId(jobId)) return null;
  if (position !== undefined && !(Number.isSafeInteger(position) && (position as number) >= 1)) return null;
  return { jobId: jobId as string, position: (position as number | undefined) ?? 1 };
}

function itemOf(msg: JsMsg, entry: QueueEntry, logger: Logger): QueueItem {
  let settled = false;
  const once = (fn: () => void) => () => {
    if (settled) return;
    settled = true;
    fn();
  };
  return {
    ...entry,
    delivery: msg.info.deliveryCount,
    working: () => void (settled || msg.working()),
    ack: once(() => msg.ack()),
    nak: (delayMs?: number) => once(() => msg.nak(delayMs))(),
    // nats-server 2.9 takes `+TERM <reason>` for an unknown ack and redelivers: the reason goes to the log instead.
    term: (reason?: string) =>
      once(() => {
        logger.warn({ jobId: entry.jobId, reason }, 'work item terminated');
        msg.term();
      })(),
  };
}

/**
 * JetStream work queue shared by every composer worker: one durable consumer,
 * explicit acks, redelivery after ackWait when a worker goes silent (died).
 */
export async function createNatsQueue(opts: NatsQueueOptions): Promise<CompositionQueue> {
  const name = opts.stream ?? 'MR_COMPOSE';
  const subject = opts.subject ?? 'mr.compose.jobs';
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ natsStream: name });
  const nc: NatsConnection = await connect({ ...opts.connectOptions, servers: opts.servers, name: 'meeting-recorder-compose-queue', maxReconnectAttempts: -1 });
  try {
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(name);
    } catch {
      await jsm.streams.add({ name, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    }
    try {
      await jsm.consumers.info(name, DURABLE);
    } catch {
      await jsm.consumers.add(name, {
        durable_name: DURABLE,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(ackWaitMs),
        max_deliver: opts.maxDeliver ?? 10,
        deliver_policy: DeliverPolicy.All,
        filter_subject: subject,
      });
    }
  } catch (err) {
    await nc.close();
    throw err;
  }
  const js = jetstream(nc);
  const stoppers = new Set<() => Promise<void>>();
  let closing: Promise<void> | null = null;

  return {
    durable: true,
    ackWaitMs,
    async enqueue(entry, dedupeId) {
      if (closing) throw new Error('composition queue is closed');
      // msgID: the same queue entry published twice (a retried effect) within the duplicate window is one item;
      // a later entry for the same job (re-queued, retried) is a new one.
      await js.publish(subject, JSON.stringify({ jobId: entry.jobId, position: entry.position }), { msgID: dedupeId });
    },
    consume(handler, concurrency) {
      const idle = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // One pull loop per slot; whatever breaks it (no connection, the consumer or the stream gone), it starts again.
      return startConsumer(
        concurrency,
        async (running) => {
          let delay = 500;
          while (running()) {
            try {
              await pull(running);
              delay = 500;
            } catch (err) {
              if (!running()) break;
              logger.warn({ err: (err as Error).message, retryInMs: delay }, 'compose queue consumer failed; starting it again');
              await idle(delay);
              delay = Math.min(10_000, delay * 2);
            }
          }
        },
        { stoppers, closing: () => closing !== null },
      );
      async function pull(running: () => boolean) {
        const consumer = await js.consumers.get(name, DURABLE);
        let failures = 0;
        while (running()) {
          let msg: JsMsg | null = null;
          try {
            msg = await consumer.next({ expires: 1_000 });
            failures = 0;
          } catch (err) {
            if (!running()) break;
            // Again and again: look the consumer up afresh (the outer loop).
            if (++failures >= 3) throw err;
            logger.warn({ err: (err as Error).message }, 'compose queue fetch failed; retrying');
            await idle(1_000);
            continue;
          }
          if (!msg) continue;
          const entry = parseEntry(msg.string());
          if (!entry) {
            logger.warn({ seq: msg.seq }, 'malformed work item: terminated');
            msg.term();
            continue;
          }
          await handleItem(itemOf(msg, entry, logger), handler, logger);
        }
      }
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...stoppers].map((s) => s()));
        await nc.drain().catch(() => {});
      })();
      return closing;
    },
  };
}
