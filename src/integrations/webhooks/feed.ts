import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AnyMachineSnapshot } from 'xstate';
import { kindOf, STREAM_KINDS, type StreamKind } from '../../../events/streams.js';
import type { EventLog, LoggedEvent } from '../../log/types.js';
import { foldEvent, initialState } from '../../runtime/fold.js';
import type { Runtime } from '../../runtime/runtime.js';
import { makesWebhooks, webhooksOf, type MappingOptions } from './mapping.js';
import type { FeedMessage } from './types.js';

/** The `webhook-id` of one message: the same for every attempt, on every node, after any restart. */
export function messageIdOf(endpointId: string, sourceEventId: string, index: number): string {
  return `msg_${createHash('sha256').update(`${endpointId}\n${sourceEventId}\n${index}`).digest('base64url').slice(0, 27)}`;
}

export interface FeedOptions {
  log: EventLog;
  /** Seeds the fold with the state the runtime loaded (so a restart reads back only what a backlog needs). */
  runtime: Pick<Runtime, 'list'>;
  endpointId: string;
  /** Read the log after this event (null: from its first). */
  from: { seq: number; eventId: string } | null;
  mapping: Omit<MappingOptions, 'lookup'> & { lookup?: MappingOptions['lookup'] };
  logger: Logger;
}

export interface Feed {
  /** The next message after `from`, in log order; waits for one. Null once closed. */
  next(): Promise<FeedMessage | null>;
  close(): void;
}

/**
 * The log after a cursor, as webhook messages: the part already written is
 * read, then what is appended live (subscribed before the read, so nothing
 * falls in between). Events of the kinds that make webhooks are folded here
 * through the runtime's own pure fold, so every mapper sees the state just
 * before and after its event, however far behind the cursor is.
 */
export function createFeed(opts: FeedOptions): Feed {
  const { log, endpointId, logger } = opts;
  const states = new Map<string, { snapshot: AnyMachineSnapshot; position: number }>();
  for (const kind of STREAM_KINDS) {
    if (!makesWebhooks(kind)) continue;
    for (const a of opts.runtime.list(kind)) states.set(a.stream, { snapshot: a.snapshot, position: a.position });
  }
  const mapping: MappingOptions = { ...opts.mapping, lookup: (s) => states.get(s)?.snapshot ?? opts.mapping.lookup?.(s) };

  const ready: FeedMessage[] = [];
  const live: LoggedEvent[] = [];
  let readUpTo = 0;
  let closed = false;
  const pumpWaits = signal();
  const readerWaits = signal();

  const unsubscribe = log.subscribe((e) => {
    if (!makesWebhooks(kindOf(e.event.stream))) return;
    live.push(e);
    pumpWaits.fire();
  });

  /** The stream's state just before `e`: the fold's, or read again from the log when the fold is not there. */
  async function stateBefore({ seq, event }: LoggedEvent): Promise<AnyMachineSnapshot> {
    const known = states.get(event.stream);
    if (known && known.position === event.position - 1) return known.snapshot;
    let { kind, snapshot } = initialState(event.stream);
    if (event.position > 1) {
      for await (const { event: earlier } of log.read({ stream: event.stream, untilSeq: seq - 1 })) snapshot = foldEvent(kind, snapshot, earlier);
    }
    return snapshot;
  }

  async function take(e: LoggedEvent) {
    readUpTo = Math.max(readUpTo, e.seq);
    const kind = kindOf(e.event.stream);
    if (!makesWebhooks(kind)) return;
    const before = await stateBefore(e);
    const after = foldEvent(kind, before, e.event);
    states.set(e.event.stream, { snapshot: after, position: e.event.position });
    const payloads = webhooksOf({ event: e.event, before, after }, mapping);
    payloads.forEach((payload, index) => {
      ready.push({
        id: messageIdOf(endpointId, e.event.id, index),
        payload,
        source: { seq: e.seq, eventId: e.event.id, index, last: index === payloads.length - 1 },
      });
    });
  }

  const pump = (async () => {
    try {
      for await (const e of log.read(opts.from ? { after: opts.from } : {})) {
        if (closed) return;
        await take(e);
        if (ready.length) readerWaits.fire();
      }
      while (!closed) {
        const e = live.shift();
        if (!e) {
          await pumpWaits.wait();
          continue;
        }
        if (e.seq > readUpTo) await take(e);
        if (ready.length) readerWaits.fire();
      }
    } catch (err) {
      logger.error({ err, endpointId }, 'webhook feed stopped reading the log');
    }
  })();

  return {
    async next() {
      while (!closed) {
        const m = ready.shift();
        if (m) return m;
        await readerWaits.wait();
      }
      return null;
    },
    close() {
      closed = true;
      unsubscribe();
      pumpWaits.fire();
      readerWaits.fire();
      void pump;
    },
  };
}

/** One waiter at a time, woken by the next fire (a fire with nobody waiting is not kept: callers re-check first). */
function signal() {
  let resolve: (() => void) | null = null;
  return {
    wait: () => new Promise<void>((r) => (resolve = r)),
    fire() {
      const r = resolve;
      resolve = null;
      r?.();
    },
  };
}
