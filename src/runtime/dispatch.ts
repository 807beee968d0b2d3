import type { Logger } from 'pino';
import type { AnyMachineSnapshot } from 'xstate';
import { isEventType, parseEventData } from '../../events/catalog.js';
import { SCHEMA_VERSION, type NewEvent, type StoredEvent } from '../../events/envelope.js';
import { isStreamId, parseStream, type StreamKind } from '../../events/streams.js';
import { steppers } from '../../machines/index.js';
import type { ExecutableAction } from '../../machines/step.js';
import { ConcurrencyError, type EventLog } from '../log/types.js';
import type { ActorTable } from './actors.js';
import { newActor } from './fold.js';
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
}

/** Correlation: the recording an event belongs to, where there is one. */
function correlationFor(kind: StreamKind, id: string, snapshot: AnyMachineSnapshot | undefined, data: any): string | null {
  if (kind === 'recording') return id;
  if (kind === 'peer') return data?.recordingId ?? snapshot?.context.recordingId ?? id.split('.')[0] ?? null;
  if (kind === 'composition') return data?.recordingId ?? (snapshot?.context.recordingId || null);
  return data?.recordingId ?? snapshot?.context.activeRecordingId ?? null;
}

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
  /** Dispatches under way: a checkpoint is only taken when none is. */
  let inflight = 0;

  async function dispatch(input: UncheckedEventInput, options: DispatchOptions = {}): Promise<DispatchResult> {
    if (opts.isClosed()) return { accepted: false, reason: 'rejected', message: 'runtime is closed' };
    inflight++;
    try {
      return await dispatchOne(input, options);
    } finally {
      inflight--;
    }
  }

  async function dispatchOne(input: UncheckedEventInput, options: DispatchOptions): Promise<DispatchResult> {
    const v = validate(input);
    if (!v.ok) return { accepted: false, reason: 'invalid', message: v.message };
    if (stale.has(input.stream)) await table.resync(input.stream);
    let actor = actors.get(input.stream);
    if (!actor) {
      if (options.mustExist) return { accepted: false, reason: 'unknown-stream', message: `no such ${v.kind}: ${v.id}` };
      actor = newActor(input.stream);
    }
    // The log assigns the position (the one expected below); the machines never read it.
    const draft: NewEvent = {
      id: newId(),
      type: input.type,
      stream: input.stream,
      time: clock(),
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
    actor.snapshot = after;
    actor.position = expectedPosition + 1;
    if (!actor.firstTime) actor.firstTime = draft.time;
    actor.lastTime = draft.time;
    actors.set(input.stream, actor);
    let event: StoredEvent;
    try {
      [event] = (await log.append(input.stream, [draft], { expectedPosition })) as [StoredEvent];
    } catch (err) {
      await table.resync(input.stream).catch(() => stale.add(input.stream));
      if (err instanceof ConcurrencyError && !options.retried) {
        logger.warn({ stream: input.stream, eventType: input.type }, 'stream moved on elsewhere; retrying on fresh state');
        return dispatchOne(input, { ...options, retried: true });
      }
      throw err;
    }
    notify({ type: event.type, event, before, after, local: true });
    await act(event, actions);
    return { accepted: true, event, snapshot: actors.get(input.stream)?.snapshot ?? after };
  }

  return {
    dispatch,
    get inflight() {
      return inflight;
    },
  };
}
