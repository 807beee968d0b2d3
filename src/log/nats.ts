import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { pino, type Logger } from 'pino';
import type { NewEvent, StoredEvent } from '../../events/envelope.js';
import { CheckpointMismatchError, ConcurrencyError, eachOf, type AppendOptions, type EventLog, type Lineage, type LoggedEvent, type ReadOptions } from './types.js';
import { subjectOf } from './subject.js';
import { boundedMap } from './bounded-map.js';
import { parseNewEvents, parseStored, serialize, toStored } from './validate.js';

export interface NatsLogOptions {
  servers: string | string[];
  /** JetStream stream holding the log; created when missing. */
  stream?: string;
  /** Subjects are `<prefix>.<kind>.<encoded id>`. */
  subjectPrefix?: string;
  /** How long JetStream remembers event ids for duplicate-drop (default 2 min). */
  duplicateWindowMs?: number;
  /** Credentials and TLS (src/nats-options.ts). */
  connectOptions?: Partial<NodeConnectionOptions>;
  logger?: Logger;
}

/** Position and stream sequence of a stream's last event (0, 0 when empty). */
interface Tip {
  position: number;
  seq: number;
  /** The subject's last event, when the tip was read from the server. */
  last?: StoredEvent;
}

/** An expectation no subject can meet: the server then answers only duplicates (it checks msgID first). */
const UNMEETABLE = Number.MAX_SAFE_INTEGER;
/** Bound on re-tries of an append without expectation that keeps losing races to other processes. */
const MAX_RACES = 100;
/** Events per array handed out by readBatches. */
const READ_BATCH = 1024;
/** Tips cached (between this and twice this many, of the streams appended to last): a missing one is asked of the server. */
const TIPS_KEPT = 10_000;

/**
 * Event log on a JetStream stream, one subject per event stream. Appends to one
 * stream are queued in this process and guarded across processes by the
 * expected last subject sequence; JetStream's sequence is the global order.
 */
export async function createNatsLog({
  servers,
  stream: name = 'MR_EVENTS',
  subjectPrefix: prefix = 'mr.ev',
  duplicateWindowMs = 120_000,
  connectOptions,
  logger,
}: NatsLogOptions): Promise<EventLog> {
  const log = (logger ?? pino({ level: 'silent' })).child({ natsStream: name });
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) throw new Error(`invalid subject prefix ${prefix}`);
  // noAsyncTraces: capturing a stack per publish costs a fifth of the append CPU.
  const nc = await connect({ ...connectOptions, servers, name: 'meeting-recorder-eventlog', maxReconnectAttempts: -1, noAsyncTraces: true });
  let jsm: JetStreamManager;
  let lastKnownSeq: number;
  try {
    jsm = await jetstreamManager(nc);
    lastKnownSeq = await ensureStream(jsm, name, `${prefix}.>`, duplicateWindowMs, log);
  } catch (err) {
    await nc.close();
    throw err;
  }
  const js = jetstream(nc);

  const tips = boundedMap<string, Tip>(TIPS_KEPT);
  const queues = new Map<string, Promise<unknown>>();
  let closing: Promise<void> | null = null;

  /** Runs fn after every earlier call queued for the same stream. */
  function enqueue<T>(stream: string, fn: () => Promise<T>): Promise<T> {
    const run = (queues.get(stream) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => {});
    queues.set(stream, tail);
    void tail.then(() => {
      if (queues.get(stream) === tail) queues.delete(stream);
    });
    return run;
  }

  async function refresh(stream: string): Promise<Tip> {
    const m = await jsm.streams.getMessage(name, { last_by_subj: subjectOf(prefix, stream) });
    let tip: Tip = { position: 0, seq: 0 };
    if (m) {
      const p = parseStored(m.string());
      if (p.ok) tip = { position: p.event.position, seq: m.seq, last: p.event };
      else {
        // The expectation is on the subject's last message, the position on its last valid event.
        log.warn({ stream, seq: m.seq }, `last message unreadable (${p.problem}); replaying the stream for its position`);
        let position = 0;
        for await (const { event } of read({ stream }, (problem) => log.warn({ stream }, problem))) position = event.position;
        tip = { position, seq: m.seq };
      }
    }
    tips.set(stream, tip);
    return tip;
  }

  async function storedCopy(seq: number): Promise<StoredEvent> {
    const m = await jsm.streams.getMessage(name, { seq });
    const p = m ? parseStored(m.string()) : { ok: false as const, problem: 'message not found' };
    if (!p.ok) throw new Error(`duplicate's stored copy (seq ${seq}) unreadable: ${p.problem}`);
    return p.event;
  }

  async function appendQueued(stream: string, input: NewEvent[], expected: number | undefined, lineage: Lineage | undefined): Promise<StoredEvent[]> {
    const subject = subjectOf(prefix, stream);
    let tip = tips.get(stream) ?? (await refresh(stream));
    if (lineage?.broken) throw new ConcurrencyError(stream, expected ?? tip.position, tip.position);
    if (expected !== undefined && expected !== tip.position) tip = await refresh(stream);
    // With a stale expectation only a retry of events already stored may pass.
    const stale = expected !== undefined && expected !== tip.position;
    const out: StoredEvent[] = [];
    let races = 0;
    for (let i = 0; i < input.length; i++) {
      // A retry of the stream's last event (a publish that timed out but was stored), older than the
      // duplicate window: the stored copy, not a second one.
      if (tip.last?.id === input[i].id) {
        out.push(tip.last);
        continue;
      }
      const stored = toStored(input[i], tip.position + 1);
      let ack;
      try {
        ack = await js.publish(subject, serialize(stored), {
          msgID: stored.id,
          expect: { lastSubjectSequence: stale ? UNMEETABLE : tip.seq },
        });
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence)) {
          tips.delete(stream); // a timeout may or may not have stored it: ask the server next time
          throw err;
        }
        if (expected !== undefined && lineage) lineage.broken = true;
        const actual = await refresh(stream);
        if (expected !== undefined) throw new ConcurrencyError(stream, expected, actual.position);
        if (++races > MAX_RACES) throw new Error(`stream ${stream}: lost ${MAX_RACES} races to other writers`);
        tip = actual;
        i--;
        continue;
      }
      lastKnownSeq = Math.max(lastKnownSeq, ack.seq);
      if (ack.duplicate) {
        out.push(await storedCopy(ack.seq));
        continue;
      }
      tip = { position: stored.position, seq: ack.seq };
      tips.set(stream, tip);
      out.push(stored);
    }
    return out;
  }

  async function append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    if (closing) throw new Error(`event log ${name} is closed`);
    const input = parseNewEvents(stream, events);
    for (const e of input) serialize(toStored(e, 1)); // refuse unserializable data before anything is published
    if (input.length === 0) return [];
    return enqueue(stream, () => appendQueued(stream, input, options.expectedPosition, options.lineage));
  }

  async function position(stream: string): Promise<number> {
    return (await enqueue(stream, () => refresh(stream))).position;
  }

  async function* readBatches(options: ReadOptions = {}, onInvalid?: (problem: string) => void): AsyncGenerator<LoggedEvent[]> {
    const report = onInvalid ?? ((problem: string) => log.warn(problem));
    const { stream, correlationId, untilSeq, after } = options;
    if (untilSeq !== undefined && untilSeq < 1) return;
    if (after) {
      // The checkpoint's event must be where it says, or the checkpoint is not of this log.
      const m = await jsm.streams.getMessage(name, { seq: after.seq }).catch(() => null);
      const p = m ? parseStored(new TextDecoder().decode(m.data)) : null;
      if (!p || !p.ok || p.event.id !== after.eventId) {
        throw new CheckpointMismatchError(after.seq, after.eventId, m ? 'another event is there' : 'no message at that sequence');
      }
    }
    const consumer = await js.consumers.get(name, {
      filter_subjects: stream ? subjectOf(prefix, stream) : `${prefix}.>`,
      ...(after ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after.seq + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    try {
      if ((await consumer.info(true)).num_pending === 0) return;
      const msgs = await consumer.consume({ max_messages: 4096 });
      let batch: LoggedEvent[] = [];
      try {
        for await (const m of msgs) {
          if (untilSeq !== undefined && m.seq > untilSeq) break;
          const p = parseStored(m.string());
          if (!p.ok) report(`message ${m.seq} on ${m.subject} skipped: ${p.problem}`);
          else if (stream !== undefined && p.event.stream !== stream) {
            report(`message ${m.seq} on ${m.subject} skipped: carries stream ${p.event.stream}`);
          } else if (correlationId === undefined || p.event.correlationId === correlationId) {
            batch.push({ seq: m.seq, event: p.event });
          }
          if (m.info.pending === 0 || (untilSeq !== undefined && m.seq >= untilSeq)) break;
          if (batch.length >= READ_BATCH) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length > 0) yield batch;
      } finally {
        await msgs.close();
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
  }

  // One live ordered consumer feeds every subscriber; each sees only events after its subscribe().
  const subscribers = new Set<{ handler: (e: LoggedEvent) => void; after: number }>();
  let feed: { stop(): Promise<void> } | null = null;

  /**
   * The live feed: an ordered consumer from `startSeq`. Whatever ends its loop
   * (the server restarted, the connection dropped, the consumer vanished), it
   * starts again after the last message it delivered, with backoff, until stopped.
   */
  function startFeed(startSeq: number): { stop(): Promise<void> } {
    let stopped = false;
    let msgs: ConsumerMessages | undefined;
    let next = startSeq;
    let wake: (() => void) | null = null;
    const pause = (ms: number) =>
      new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });

    async function runOnce(): Promise<void> {
      const consumer = await js.consumers.get(name, { filter_subjects: `${prefix}.>`, opt_start_seq: next });
      try {
        if (stopped) return;
        msgs = await consumer.consume({ max_messages: 1024 });
        if (stopped) await msgs.close();
        for await (const m of msgs) {
          if (stopped) break; // a feed started after this one serves the subscribers now
          next = m.seq + 1;
          lastKnownSeq = Math.max(lastKnownSeq, m.seq);
          const p = parseStored(m.string());
          if (!p.ok) {
            log.warn({ seq: m.seq, subject: m.subject }, `live message skipped: ${p.problem}`);
            continue;
          }
          const e: LoggedEvent = { seq: m.seq, event: p.event };
          for (const s of subscribers) {
            if (m.seq <= s.after) continue;
            try {
              s.handler(e);
            } catch (err) {
              log.error({ err, eventId: e.event.id, stream: e.event.stream }, 'subscriber threw');
            }
          }
        }
      } finally {
        await consumer.delete().catch(() => {});
      }
    }

    const done = (async () => {
      let delay = 250;
      while (!stopped && !closing) {
        const before = next;
        try {
          await runOnce();
          if (!stopped) log.warn({ next }, 'live feed ended; starting it again');
        } catch (err) {
          if (stopped) break;
          log.error({ err: (err as Error).message, next }, 'live feed failed; starting it again');
        }
        if (stopped || closing) break;
        delay = next > before ? 250 : Math.min(5_000, delay * 2);
        await pause(delay);
      }
    })();
    return {
      async stop() {
        stopped = true;
        wake?.();
        await msgs?.close();
        await done;
      },
    };
  }

  function subscribe(handler: (e: LoggedEvent) => void): () => void {
    const entry = { handler, after: lastKnownSeq };
    subscribers.add(entry);
    feed ??= startFeed(lastKnownSeq + 1);
    return () => {
      subscribers.delete(entry);
      if (subscribers.size === 0 && feed) {
        void feed.stop();
        feed = null;
      }
    };
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      await Promise.all(queues.values());
      subscribers.clear();
      await feed?.stop();
      feed = null;
      await nc.drain();
    })();
    return closing;
  }

  const read = (options?: ReadOptions, onInvalid?: (problem: string) => void) => eachOf(readBatches(options, onInvalid));

  return { kind: 'nats', append, position, read, readBatches, subscribe, close };
}

const STREAM_NAME_IN_USE = 10058;

/** Creates the stream when missing (another process may win that race); returns its last sequence. */
async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subjects: string,
  duplicateWindowMs: number,
  log: Logger,
): Promise<number> {
  const existing = async () => {
    const info = await jsm.streams.info(name);
    if (!info.config.subjects?.includes(subjects)) {
      throw new Error(`JetStream stream ${name} exists without subject ${subjects} (has ${info.config.subjects?.join(', ')})`);
    }
    return info.state.last_seq;
  };
  try {
    return await existing();
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    const info = await jsm.streams.add({
      name,
      subjects: [subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: duplicateWindowMs * 1_000_000,
    });
    log.info({ subjects }, 'JetStream stream created');
    return info.state.last_seq;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) return existing();
    throw err;
  }
}
