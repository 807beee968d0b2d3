import type { Logger } from 'pino';
import { initialTransition, type AnyMachineSnapshot } from 'xstate';
import { isEventType, parseEventData, type EventType } from '../../events/catalog.js';
import { SCHEMA_VERSION, type NewEvent, type StoredEvent } from '../../events/envelope.js';
import { isStreamId, parseStream, type StreamKind } from '../../events/streams.js';
import { MACHINES_VERSION, machines, steppers, type EffectParams, type EffectType, type EmitSpec } from '../../machines/index.js';
import { CheckpointMismatchError, ConcurrencyError, type EventLog, type LoggedEvent } from '../log/types.js';
import type { Checkpoint } from './checkpoint.js';
import { actorsInLogOrder, loadInShards, type ShardedLoadOptions } from './shard-load.js';

/** An event as an adapter or an effect hands it in: the runtime adds id, time and position. */
export interface EventInput {
  stream: string;
  type: EventType | string;
  data: unknown;
  causationId?: string | null;
  correlationId?: string | null;
}

export type DispatchResult =
  | { accepted: true; event: StoredEvent; snapshot: AnyMachineSnapshot }
  | { accepted: false; reason: 'invalid' | 'unknown-stream' | 'rejected'; message: string; snapshot?: AnyMachineSnapshot };

export interface Actor {
  stream: string;
  kind: StreamKind;
  snapshot: AnyMachineSnapshot;
  position: number;
  /** Times of the stream's first and last event (ms since epoch; 0 before any). */
  firstTime: number;
  lastTime: number;
}

export interface AppliedEvent {
  event: StoredEvent;
  before: AnyMachineSnapshot | undefined;
  after: AnyMachineSnapshot;
  /** Appended by this process (its effects ran here) rather than observed from another one. */
  local: boolean;
}

export interface EffectContext {
  event: StoredEvent;
  runtime: Runtime;
}
export type EffectHandlers = {
  [K in Exclude<EffectType, 'emit' | 'scheduleTimer' | 'cancelTimer'>]?: (
    params: EffectParams[K],
    ctx: EffectContext,
  ) => void | Promise<void>;
};

export interface RuntimeOptions {
  log: EventLog;
  logger: Logger;
  clock?: () => number;
  newId?: () => string;
  effects?: EffectHandlers;
  /** Folding a long file log on several threads at start (false: never). */
  shardedLoad?: ShardedLoadOptions | false;
}

export type Runtime = ReturnType<typeof createRuntime>;


/** Correlation: the recording an event belongs to, where there is one. */
function correlationFor(kind: StreamKind, id: string, snapshot: AnyMachineSnapshot | undefined, data: any): string | null {
  if (kind === 'recording') return id;
  if (kind === 'peer') return data?.recordingId ?? snapshot?.context.recordingId ?? id.split('.')[0] ?? null;
  if (kind === 'composition') return data?.recordingId ?? (snapshot?.context.recordingId || null);
  return data?.recordingId ?? snapshot?.context.activeRecordingId ?? null;
}

/**
 * Hosts one actor per stream. `dispatch` validates an event, computes the
 * machine's transition, appends the event to the log, and only once it is
 * durable runs the effects the transition named (emits become further
 * dispatches). Loading folds the log through the same pure transitions and
 * runs nothing.
 */
export function createRuntime(opts: RuntimeOptions) {
  const { log, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const newId = opts.newId ?? (() => crypto.randomUUID());
  const effects: EffectHandlers = opts.effects ?? {};
  const actors = new Map<string, Actor>();
  const listeners = new Set<(a: AppliedEvent) => void>();
  const timers = new Map<string, NodeJS.Timeout>();
  /** Streams whose in-memory actor missed events appended elsewhere. */
  const stale = new Set<string>();
  let unsubscribe: (() => void) | null = null;
  let closed = false;
  /** The newest event known durable in the log (what a checkpoint covers). */
  let lastSeq = 0;
  let lastEventId = '';
  /** Dispatches under way: a checkpoint is only taken when none is. */
  let inflight = 0;

  function newActor(stream: string): Actor {
    const { kind, id } = parseStream(stream);
    const [snapshot] = initialTransition(machines[kind], { id });
    return { stream, kind, snapshot, position: 0, firstTime: 0, lastTime: 0 };
  }

  /**
   * Pure fold of one stored event; used by load, resync and foreign events.
   * Returns the snapshot before it, or null when the event was not applied
   * (already folded, or out of order: the stream is then resynced).
   */
  function fold(e: StoredEvent): AnyMachineSnapshot | null {
    let actor = actors.get(e.stream);
    if (!actor) {
      actor = newActor(e.stream);
      actors.set(e.stream, actor);
    }
    if (e.position <= actor.position) return null;
    if (e.position !== actor.position + 1) {
      stale.add(e.stream);
      return null;
    }
    const before = actor.snapshot;
    actor.snapshot = steppers[actor.kind](before, e)[0];
    actor.position = e.position;
    if (!actor.firstTime) actor.firstTime = e.time;
    actor.lastTime = e.time;
    return before;
  }

  /** Puts actors back as a checkpoint (or a shard of a rebuild) holds them. */
  function restore(list: Checkpoint['actors']) {
    for (const a of list) {
      const { kind } = parseStream(a.stream);
      const snapshot = machines[kind].resolveState({ value: a.value as never, context: a.context });
      actors.set(a.stream, { stream: a.stream, kind, snapshot, position: a.position, firstTime: a.firstTime, lastTime: a.lastTime });
    }
  }

  /** Folds what a read hands over; returns how many events it held. */
  async function foldAll(batches: AsyncIterable<LoggedEvent[]>): Promise<number> {
    let n = 0;
    for await (const batch of batches) {
      for (const { event } of batch) fold(event);
      const last = batch[batch.length - 1];
      if (last) {
        lastSeq = last.seq;
        lastEventId = last.event.id;
      }
      n += batch.length;
    }
    return n;
  }

  async function resync(stream: string) {
    actors.delete(stream);
    stale.delete(stream);
    for await (const { event } of log.read({ stream })) fold(event);
  }

  function notify(a: AppliedEvent) {
    for (const l of listeners) {
      try {
        l(a);
      } catch (err) {
        logger.error({ err, eventType: a.event.type }, 'event listener failed');
      }
    }
  }

  function validate(input: EventInput): { ok: true; kind: StreamKind; id: string; data: Record<string, unknown> } | { ok: false; message: string } {
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

  async function dispatch(input: EventInput, opts: { mustExist?: boolean; retried?: boolean } = {}): Promise<DispatchResult> {
    if (closed) return { accepted: false, reason: 'rejected', message: 'runtime is closed' };
    inflight++;
    try {
      return await dispatchOne(input, opts);
    } finally {
      inflight--;
    }
  }

  async function dispatchOne(input: EventInput, opts: { mustExist?: boolean; retried?: boolean }): Promise<DispatchResult> {
    const v = validate(input);
    if (!v.ok) return { accepted: false, reason: 'invalid', message: v.message };
    if (stale.has(input.stream)) await resync(input.stream);
    let actor = actors.get(input.stream);
    if (!actor) {
      if (opts.mustExist) return { accepted: false, reason: 'unknown-stream', message: `no such ${v.kind}: ${v.id}` };
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
      await resync(input.stream).catch(() => stale.add(input.stream));
      if (err instanceof ConcurrencyError && !opts.retried) {
        logger.warn({ stream: input.stream, eventType: input.type }, 'stream moved on elsewhere; retrying on fresh state');
        return dispatchOne(input, { ...opts, retried: true });
      }
      throw err;
    }
    notify({ event, before, after, local: true });
    await act(event, actions as { type: string; params?: unknown }[]);
    return { accepted: true, event, snapshot: actors.get(input.stream)?.snapshot ?? after };
  }

  async function act(event: StoredEvent, actions: { type: string; params?: unknown }[]) {
    for (const a of actions) {
      const type = a.type as EffectType;
      if (type === 'emit') {
        for (const spec of (a.params as EffectParams['emit']).events) await emit(event, spec);
      } else if (type === 'scheduleTimer') {
        const p = a.params as EffectParams['scheduleTimer'];
        const key = `${event.stream}#${p.key}`;
        clearTimeout(timers.get(key));
        timers.set(
          key,
          setTimeout(() => {
            timers.delete(key);
            dispatch({ stream: event.stream, type: p.type, data: p.data, causationId: event.id }).catch((err) =>
              logger.error({ err, stream: event.stream, timer: p.key }, 'timer event failed'),
            );
          }, p.delayMs),
        );
      } else if (type === 'cancelTimer') {
        const key = `${event.stream}#${(a.params as EffectParams['cancelTimer']).key}`;
        clearTimeout(timers.get(key));
        timers.delete(key);
      } else if (type in effects) {
        const handler = effects[type as keyof EffectHandlers] as (p: unknown, c: EffectContext) => void | Promise<void>;
        // Effects report back through events; one that throws is logged, never fatal to the runtime.
        Promise.resolve()
          .then(() => handler(a.params, { event, runtime }))
          .catch((err) => logger.error({ err, effect: type, stream: event.stream, recordingId: event.correlationId }, 'effect failed'));
      } else if (!type.startsWith('xstate.')) {
        logger.warn({ effect: type, stream: event.stream }, 'no handler for effect');
      }
    }
  }

  async function emit(cause: StoredEvent, spec: EmitSpec) {
    const r = await dispatch({
      stream: spec.stream,
      type: spec.type,
      data: spec.data,
      causationId: cause.id,
      correlationId: spec.correlationId,
    });
    if (!r.accepted) logger.debug({ stream: spec.stream, eventType: spec.type, why: r.message }, 'emitted event not accepted');
  }

  const runtime = {
    dispatch,
    /**
     * Rebuilds every actor from the log; runs no effects. With a checkpoint
     * that matches the log, restores it and folds only the events after it.
     * Returns the number of events folded.
     */
    async load(onInvalid?: (problem: string) => void, checkpoint?: Checkpoint | null): Promise<{ folded: number; fromCheckpoint: boolean }> {
      let n = 0;
      let fromCheckpoint = false;
      if (checkpoint) {
        restore(checkpoint.actors);
        try {
          n = await foldAll(log.readBatches({ after: { seq: checkpoint.seq, eventId: checkpoint.eventId } }, onInvalid));
          if (!lastEventId) {
            lastSeq = checkpoint.seq;
            lastEventId = checkpoint.eventId;
          }
          fromCheckpoint = true;
        } catch (err) {
          if (!(err instanceof CheckpointMismatchError)) throw err;
          logger.warn({ err: err.message }, 'checkpoint does not match the log: folding it from the start');
          actors.clear();
          n = 0;
        }
      }
      if (!fromCheckpoint) {
        const shards =
          opts.shardedLoad === false
            ? null
            : await loadInShards(log, opts.shardedLoad).catch((err) => {
                logger.warn({ err }, 'rebuilding on several threads failed: folding in one');
                return null;
              });
        if (shards) {
          restore(actorsInLogOrder(shards));
          n = shards.reduce((sum, s) => sum + s.count, 0);
          const last = shards.map((s) => s.last).reduce((a, b) => (b && (!a || b.line > a.line) ? b : a), null);
          if (last) {
            lastSeq = n; // the log numbers valid events 1, 2, …: the last one's is their count
            lastEventId = last.eventId;
          }
          const report = onInvalid ?? ((problem: string) => logger.warn(problem));
          for (const p of shards.flatMap((s) => s.problems).sort((a, b) => a.line - b.line)) report(p.problem);
          logger.info({ events: n, threads: shards.length }, 'rebuilt on several threads');
        } else n = await foldAll(log.readBatches({}, onInvalid));
      }
      for (const s of stale) await resync(s);
      return { folded: n, fromCheckpoint };
    },
    /**
     * Follows the log: events other processes append are folded in (NATS mode),
     * and every durable event advances what a checkpoint covers.
     */
    follow() {
      unsubscribe = log.subscribe(({ seq, event }: LoggedEvent) => {
        if (seq > lastSeq) {
          lastSeq = seq;
          lastEventId = event.id;
        }
        const before = fold(event);
        if (before) notify({ event, before, after: actors.get(event.stream)!.snapshot, local: false });
      });
    },
    /** Every actor's state, when no dispatch is under way (else null: try again later). */
    checkpoint(clockNow = clock()): Checkpoint | null {
      if (inflight > 0 || lastSeq === 0) return null;
      return {
        version: 1,
        machines: MACHINES_VERSION,
        seq: lastSeq,
        eventId: lastEventId,
        takenAt: clockNow,
        actors: [...actors.values()]
          .filter((a) => a.position > 0)
          .map((a) => ({
            stream: a.stream,
            position: a.position,
            firstTime: a.firstTime,
            lastTime: a.lastTime,
            value: a.snapshot.value,
            context: a.snapshot.context as Record<string, unknown>,
          })),
      };
    },
    /** Events known durable since the given sequence (for deciding when a checkpoint is worth it). */
    get lastSeq() {
      return lastSeq;
    },
    get(stream: string): AnyMachineSnapshot | undefined {
      return actors.get(stream)?.snapshot;
    },
    position(stream: string): number {
      return actors.get(stream)?.position ?? 0;
    },
    /** First and last event time of a stream, survives restarts (folded from the log). */
    times(stream: string): { first: number; last: number } | undefined {
      const a = actors.get(stream);
      return a && a.position > 0 ? { first: a.firstTime, last: a.lastTime } : undefined;
    },
    list(kind: StreamKind): Actor[] {
      return [...actors.values()].filter((a) => a.kind === kind);
    },
    onEvent(listener: (a: AppliedEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** Resolves with the snapshot once `predicate` holds for the stream (or null after timeoutMs). */
    waitFor(stream: string, predicate: (s: AnyMachineSnapshot) => boolean, timeoutMs: number): Promise<AnyMachineSnapshot | null> {
      const now = actors.get(stream)?.snapshot;
      if (now && predicate(now)) return Promise.resolve(now);
      return new Promise((resolve) => {
        const off = runtime.onEvent((a) => {
          if (a.event.stream === stream && predicate(a.after)) {
            clearTimeout(t);
            off();
            resolve(a.after);
          }
        });
        const t = setTimeout(() => {
          off();
          resolve(null);
        }, timeoutMs);
      });
    },
    async close() {
      closed = true;
      unsubscribe?.();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
  return runtime;
}
