import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** One unit of composition work as a worker receives it. */
export interface WorkItem {
  jobId: string;
  /** 1 for the first delivery; higher when a silent worker's item was handed on. */
  delivery: number;
  /** Tells the queue the worker is alive (keeps a long job from being redelivered). */
  working(): void;
}

export interface CompositionQueue {
  /** Survives a process restart (JetStream): recovery need not re-enqueue. */
  readonly durable: boolean;
  /** `dedupeId` names this queue entry (the event that asked for it): the same entry twice is one item. */
  enqueue(jobId: string, dedupeId: string): Promise<void>;
  /** Runs `handler` for items, at most `concurrency` at once; returns a stop function. */
  consume(handler: (item: WorkItem) => Promise<void>, concurrency: number): () => Promise<void>;
  close(): Promise<void>;
}

/** In-process queue for the embedded mode. */
export function createMemoryQueue(): CompositionQueue {
  const items: string[] = [];
  let wake: (() => void) | null = null;
  let stopped = false;
  return {
    durable: false,
    async enqueue(jobId) {
      if (!items.includes(jobId)) items.push(jobId);
      wake?.();
    },
    consume(handler, concurrency) {
      stopped = false;
      const loops = Array.from({ length: concurrency }, async () => {
        while (!stopped) {
          const jobId = items.shift();
          if (!jobId) {
            await new Promise<void>((r) => (wake = r));
            wake = null;
            continue;
          }
          await handler({ jobId, delivery: 1, working: () => {} });
        }
      });
      return async () => {
        stopped = true;
        wake?.();
        await Promise.allSettled(loops);
      };
    },
    async close() {
      stopped = true;
      wake?.();
    },
  };
}

export interface NatsQueueOptions {
  servers: string | string[];
  /** Credentials and TLS (src/nats-options.ts). */
  connectOptions?: Partial<NodeConnectionOptions>;
  stream?: string;
  subject?: string;
  /** A worker that stops calling working() for this long loses its item to another worker. */
  ackWaitMs?: number;
  maxDeliver?: number;
  logger: Logger;
}

/**
 * JetStream work queue shared by every composer worker: one durable consumer,
 * explicit acks, redelivery after ackWait when a worker goes silent (died).
 */
export async function createNatsQueue(opts: NatsQueueOptions): Promise<CompositionQueue> {
  const name = opts.stream ?? 'MR_COMPOSE';
  const subject = opts.subject ?? 'mr.compose.jobs';
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const nc: NatsConnection = await connect({ ...opts.connectOptions, servers: opts.servers, name: 'meeting-recorder-compose-queue', maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(name);
  } catch {
    await jsm.streams.add({ name, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  }
  const durable = 'composers';
  try {
    await jsm.consumers.info(name, durable);
  } catch {
    await jsm.consumers.add(name, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      max_deliver: opts.maxDeliver ?? 10,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subject,
    });
  }
  const js = jetstream(nc);
  let stoppers: (() => Promise<void>)[] = [];

  return {
    durable: true,
    async enqueue(jobId, dedupeId) {
      // msgID: the same queue entry published twice (a retried effect) within the duplicate window is one item;
      // a later entry for the same job (re-queued, retried) is a new one.
      await js.publish(subject, JSON.stringify({ jobId }), { msgID: dedupeId });
    },
    consume(handler, concurrency) {
      let stopped = false;
      const loops = Array.from({ length: concurrency }, async () => {
        const consumer = await js.consumers.get(name, durable);
        while (!stopped) {
          let msg: JsMsg | null = null;
          try {
            msg = await consumer.next({ expires: 1_000 });
          } catch (err) {
            if (stopped) break;
            opts.logger.warn({ err }, 'compose queue fetch failed; retrying');
            await new Promise((r) => setTimeout(r, 1_000));
            continue;
          }
          if (!msg) continue;
          let jobId: string;
          try {
            jobId = (JSON.parse(msg.string()) as { jobId: string }).jobId;
            if (typeof jobId !== 'string') throw new Error('no jobId');
          } catch {
            msg.term('malformed work item');
            continue;
          }
          const m = msg;
          const beat = setInterval(() => m.working(), Math.max(1_000, ackWaitMs / 3));
          try {
            await handler({ jobId, delivery: m.info.deliveryCount, working: () => m.working() });
            m.ack();
          } catch (err) {
            opts.logger.error({ err, jobId }, 'compose work item failed; handing it back');
            m.nak(5_000);
          } finally {
            clearInterval(beat);
          }
        }
      });
      const stop = async () => {
        stopped = true;
        await Promise.allSettled(loops);
      };
      stoppers.push(stop);
      return stop;
    },
    async close() {
      await Promise.all(stoppers.map((s) => s()));
      stoppers = [];
      await nc.drain();
    },
  };
}
