import type { Logger } from 'pino';
import type { AnyMachineSnapshot } from 'xstate';
import { isEventType, parseEventData } from '../../events/catalog.js';
import { SCHEMA_VERSION, type NewEvent, type StoredEvent } from '../../events/envelope.js';
import { isStreamId, parseStream, type StreamKind } from '../../events/streams.js';
import { steppers } from '../../machines/index.js';
import type { ExecutableAction } from '../../machines/step.js';
import { ConcurrencyError, type EventLog, type Lineage } from '../log/types.js';
import type { ActorTable } from './actors.js';
import { newActor } from './fold.js';
import type { KeptEvent, OutboxFile } from './outbox-file.js';
import { createOutbox, LOG_UNAVAILABLE, type OutboxEntry } from './outbox.js';
import type { AppliedEvent, DispatchOptions, DispatchResult, UncheckedEventInput } from './types.js';

export interface DispatcherOptions {
  log: EventLog;
  logger: Logger;
  table: ActorTable;
  clock: () => number;
  newId: () => string;
  notify: (a: AppliedEvent & { type: string }) => void;
  /** Runs the actions of a transition whose event is durable. */
  act: (event: StoredEvent, actions: readonly ExecutableAction[]) => Promise<void>;
  isClosed: () => boolean;
  /** Outbox retry pacing (tests). */
  outbox?: { minDelayMs?: number; maxDelayMs?: number };
  /** Where the outbox keeps its events on disk (see outbox-file.ts). */
  outboxFile?: OutboxFile | null;
}

/** Correlation: the recording an event belongs to, where there is one. */
function correlationFor(kind: StreamKind, id: string, snapshot: AnyMachineSnapshot | undefined, data: any): string | null {
  if (kind === 'recording') return id;
  if (kind === 'peer') return data?.recordingId ?? snapshot?.context.recordingId ?? id.split('.')[0] ?? null;
  if (kind === 'composition') return data?.recordingId ?? (snapshot?.context.recordingId || null);
  return data?.recordingId ?? snapshot?.context.activeRecordingId ?? null;
}

/** Conflicts one dispatch retries before it gives up (each on the stream's fresh state; from the third on, after a short random pause). */
const MAX_CONFLICT_RETRIES = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Checked = { ok: true; kind: StreamKind; id: string; data: Record<string, unknown> } | { ok: false; message: string };

/** Parses what a caller hands in: a well-formed stream, a catalog type of that stream's kind, data its schema accepts. */
function validate(input: UncheckedEventInput): Checked {
  if (!isStreamId(input.stream)) {
    return { ok: false, message: `invalid stream ${JSON.stringify(String(input.stream).slice(0, 80))}` };
  }
  if (!isEventType(input.type)) return { ok: false, message: `unknown event type ${JSON.stringify(String(input.type).slice(0, 80))}` };
  const { kind, id } = parseStream(input.stream);
  if (!input.type.startsWith(`${kind}.`)) return { ok: false, message: `${input.type} does not belong to a ${kind} stream` };
  try {
    return { ok: true, kind, id, data: parseEventData(input.type, input.data) as Record<string, unknown> };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/**
 * Append-then-act: validates an event, computes its stream's transition,
 * appends the event to the log and, only once it is durable, runs the
 * actions the transition named. A transition that takes nothing is refused
 * and never logged.
 */
export function createDispatcher(opts: DispatcherOptions) {
  const { log, logger, table, clock, newId, notify, act } = opts;
  const { actors, stale } = table;
  let conflicts = 0;
  /**
   * Per actor object: the lineage its optimistic decisions share (see
   * AppendOptions.lineage). One refused append breaks it, and every later
   * decision on that actor is refused too, until the stream is read again
   * (a fresh actor object, a fresh lineage).
   */
  const lineages = new WeakMap<object, Lineage>();
  const lineageOf = (actor: object): Lineage => {
    let l = lineages.get(actor);
    if (!l) lineages.set(actor, (l = { broken: false }));
    return l;
  };
  /** Dispatches under way: a checkpoint is only taken when none is. */
  let inflight = 0;
  /** Events decided but not durable yet (the log refused them): appended later, in order per stream. */
  const outbox = createOutbox({
    log,
    logger,
    file: opts.outboxFile,
    ...opts.outbox,
    async conflicted(stream, entries) {
      await resyncKeeping(stream);
      for (const e of entries) {
        const r = await dispatch(asInput(e), { original: e.draft });
        if (!r.accepted) logger.error({ stream, eventType: e.draft.type, eventId: e.draft.id, why: r.message }, 'outbox event refused on fresh state');
        settleUnlessWaiting(e);
      }
    },
  });
  /** A kept event as a dispatch's input (with `original: draft`, stepped again under its own id). */
  const asInput = (e: KeptEvent): UncheckedEventInput => ({ stream: e.stream, type: e.draft.type, data: e.draft.data, causationId: e.draft.causationId, correlationId: e.draft.correlationId });
  /** Handled: off the disk, unless the log refused it again and it waits once more. */
  const settleUnlessWaiting = (e: KeptEvent) => {
    if (!outbox.holds(e.stream, e.draft.id)) outbox.settle(e.draft.id);
  };

  const unavailable = (message = LOG_UNAVAILABLE): DispatchResult => ({ accepted: false, reason: 'unavailable', message });

  async function dispatch(input: UncheckedEventInput, options: DispatchOptions = {}): Promise<DispatchResult> {
    if (opts.isClosed()) return { accepted: false, reason: 'rejected', message: 'runtime is closed' };
    inflight++;
    try {
      return await dispatchOne(input, options);
    } finally {
      inflight--;
    }
  }

  /**
   * Reads a stream again from the log; when the log cannot be read, the actor
   * is kept as it was (and stays stale), never forgotten.
   */
  async function resyncKeeping(stream: string): Promise<boolean> {
    const kept = actors.get(stream);
    try {
      await table.resync(stream);
      return true;
    } catch (err) {
      if (kept) actors.set(stream, kept);
      stale.add(stream);
      logger.warn({ stream, err: (err as Error).message }, 'could not read the stream again; keeping its actor');
      return false;
    }
  }

  async function dispatchOne(input: UncheckedEventInput, options: DispatchOptions): Promise<DispatchResult> {
    const v = validate(input);
    if (!v.ok) return { accepted: false, reason: 'invalid', message: v.message };
    // A client's command is refused while the log takes nothing: it asks again, nothing half-happens.
    if (options.command && outbox.size > 0) return unavailable();
    if (stale.has(input.stream) && !outbox.has(input.stream) && !(await resyncKeeping(input.stream))) {
      if (options.command) return unavailable();
      throw new Error(`${LOG_UNAVAILABLE}: stream ${input.stream} could not be read`);
    }
    // Another dispatch's conflict is reading this stream again: its actor is gone or half folded until
    // that read ends, and a decision on it would refuse a good event ("not accepted in state idle").
    // A loop (another conflict may start a new read meanwhile), and nothing awaited between it and the decision.
    while (table.isReading(input.stream)) await table.prepare(input.stream).catch(() => {});
    let actor = actors.get(input.stream);
    if (!actor) {
      if (options.mustExist) return { accepted: false, reason: 'unknown-stream', message: `no such ${v.kind}: ${v.id}` };
      actor = newActor(input.stream);
    }
    // The log assigns the position (the one expected below); the machines never read it.
    const draft: NewEvent = {
      id: options.original?.id ?? newId(),
      type: input.type,
      stream: input.stream,
      time: options.original?.time ?? clock(),
      causationId: input.causationId ?? null,
      correlationId: input.correlationId !== undefined ? input.correlationId : correlationFor(v.kind, v.id, actor.snapshot, v.data),
      version: SCHEMA_VERSION,
      data: v.data,
    };
    const before = actor.snapshot;
    const [after, actions] = steppers[v.kind](before, draft);
    // xstate hands back the very same snapshot, with no actions, when no transition took the event.
    if (after === before && actions.length === 0) {
      return {
        accepted: false,
        reason: 'rejected',
        message: `${input.type} is not accepted by ${input.stream} in state ${JSON.stringify(before.value)}`,
        snapshot: before,
      };
    }
    // Optimistic: later dispatches to this stream build on this state while the append is in flight.
    const expectedPosition = actor.position;
    const lineage = lineageOf(actor);
    actor.snapshot = after;
    actor.position = expectedPosition + 1;
    if (!actor.firstTime) actor.firstTime = draft.time;
    actor.lastTime = draft.time;
    actors.set(input.stream, actor);
    const applied = async (event: StoredEvent) => {
      notify({ type: event.type, event, before, after, local: true });
      await act(event, actions);
    };
    const keep = async (): Promise<DispatchResult> => {
      await outbox.add({ stream: input.stream, draft, expectedPosition, appended: applied });
      // Decided and kept: an effect's result is accepted (it is appended later); a client is told to ask again.
      if (options.command) return unavailable(`${LOG_UNAVAILABLE} (the request is kept and applied once the log recovers)`);
      return { accepted: true, event: { ...draft, position: expectedPosition + 1 } as StoredEvent, snapshot: after };
    };
    // An earlier event of this stream waits in the outbox: this one goes behind it.
    if (outbox.has(input.stream)) return keep();
    let event: StoredEvent;
    try {
      [event] = (await log.append(input.stream, [draft], { expectedPosition, lineage })) as [StoredEvent];
    } catch (err) {
      const retried = options.retried ?? 0;
      if (err instanceof ConcurrencyError && retried < MAX_CONFLICT_RETRIES && !outbox.has(input.stream)) {
        // Another node appended to this stream first (normal in NATS mode): decide again on its fresh state.
        conflicts++;
        await resyncKeeping(input.stream);
        if (retried >= 2) await sleep(Math.random() * Math.min(100, 5 * 2 ** retried));
        logger.debug({ stream: input.stream, eventType: input.type, retried }, 'stream moved on elsewhere; retrying on fresh state');
        return dispatchOne(input, { ...options, retried: retried + 1 });
      }
      if (err instanceof ConcurrencyError && !outbox.has(input.stream)) {
        await resyncKeeping(input.stream);
        logger.warn({ stream: input.stream, eventType: input.type, retried }, 'stream kept moving on elsewhere; giving up');
        if (options.command) return unavailable(`${input.stream} is busy on other nodes; retry`);
        throw err;
      }
      // Not known durable (the log is down, a write failed, a publish timed out): never dropped.
      logger.warn({ stream: input.stream, eventId: draft.id, eventType: input.type, recordingId: draft.correlationId, err: (err as Error).message }, 'append failed');
      return keep();
    }
    await applied(event);
    return { accepted: true, event, snapshot: actors.get(input.stream)?.snapshot ?? after };
  }

  return {
    dispatch,
    outbox,
    asInput,
    settleUnlessWaiting,
    /** Dispatches under way and events not yet durable: a checkpoint waits for both. */
    get inflight() {
      return inflight + outbox.size;
    },
    /** Conflicts retried since start. */
    get conflictsRetried() {
      return conflicts;
    },
    close: () => outbox.close(),
  };
}
