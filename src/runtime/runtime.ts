import type { AnyMachineSnapshot } from 'xstate';
import { isStreamId, parseStream, type StreamKind } from '../../events/streams.js';
import type { StoredEvent } from '../../events/envelope.js';
import { MACHINES_VERSION, steppers } from '../../machines/index.js';
import type { ExecutableAction } from '../../machines/step.js';
import { createActorTable } from './actors.js';
import type { Checkpoint } from './checkpoint.js';
import { createDispatcher } from './dispatch.js';
import { createEffectRunner } from './effects.js';
import { ACTOR_GRACE_MS, createEvictor } from './eviction.js';
import { newActor, toCheckpointActors, type FoldedActor } from './fold.js';
import { createLoader } from './load.js';
import { redeliverKept } from './outbox.js';
import type { Actor, AppliedDomainEvent, AppliedEvent, DispatchOptions, DispatchResult, Runtime, RuntimeOptions, RuntimeStats, UncheckedEventInput } from './types.js';

export type {
  Actor,
  AppliedDomainEvent,
  AppliedEvent,
  DispatchOptions,
  DispatchResult,
  DispatchResultOf,
  EffectContext,
  EffectHandlers,
  EventInput,
  Runtime,
  RuntimeOptions,
  RuntimeStats,
  SnapshotOf,
  UncheckedEventInput,
} from './types.js';

const KINDS: readonly StreamKind[] = ['room', 'recording', 'peer', 'composition'];

/**
 * Hosts one actor per stream (see Runtime): the actor table, the dispatcher
 * (append-then-act), the effect runner (effects and timers), the loader
 * (checkpoint, log, live feed) and the evictor (finished actors leave memory
 * after a grace period and are read back from the log), composed.
 */
export function createRuntime(opts: RuntimeOptions): Runtime {
  const { log, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const table = createActorTable(log, { keepFinished: opts.keepFinished });
  const { actors, cursor } = table;
  const listeners = new Set<(a: AppliedDomainEvent) => void>();
  let closed = false;
  /** Dispatches under way per stream: such a stream is not evicted. */
  const busy = new Map<string, number>();

  const graceMs = opts.actorGraceMs ?? ACTOR_GRACE_MS;
  const evictor = createEvictor({
    graceMs,
    // Real time, not the events' clock (tests pin that one).
    clock: Date.now,
    live: (s) => actors.get(s),
    busy: (s) => busy.has(s) || table.isReading(s),
    evict: (s) => table.evict(s),
  });
  const sweeper = Number.isFinite(graceMs) ? setInterval(() => evictor.sweep(), Math.min(1_000, Math.max(20, graceMs / 4))) : null;
  sweeper?.unref();

  function notify(applied: AppliedEvent & { type: string }) {
    evictor.touch(applied.event.stream);
    // Another node's event: the timers it armed are shadowed here (taken over if that node dies).
    if (opts.shadowTimers && !applied.local && applied.before) {
      const kind = parseStream(applied.event.stream).kind;
      if (kind !== 'room') effects.shadow(applied.event, steppers[kind](applied.before, applied.event)[1]);
    }
    // Every applied event passed the catalog's schema for its type: this is where that is stated, once.
    const a = applied as AppliedDomainEvent;
    for (const l of listeners) {
      try {
        l(a);
      } catch (err) {
        logger.error({ err, eventType: a.event.type }, 'event listener failed');
      }
    }
  }

  /**
   * The dispatcher, on a stream that is in memory: a kept or stale one is
   * made live first. One that was evicted is only in the log: a room (ids
   * come back: a room is opened again) or a `mustExist` dispatch asks the log
   * first; any other kind is read back when the event is refused on a fresh
   * actor (or, accepted on one, when the log refuses the append's position).
   */
  async function dispatch(input: UncheckedEventInput, options: DispatchOptions = {}): Promise<DispatchResult> {
    const stream = input.stream;
    if (!isStreamId(stream)) return dispatcher.dispatch(input, options);
    busy.set(stream, (busy.get(stream) ?? 0) + 1);
    try {
      await table.prepare(stream);
      const absent = !actors.has(stream);
      if (absent && (options.mustExist || parseStream(stream).kind === 'room')) await table.reload(stream);
      const r = await dispatcher.dispatch(input, options);
      if (!r.accepted && r.reason !== 'invalid' && absent && !actors.has(stream) && (await table.reload(stream))) {
        return dispatcher.dispatch(input, options);
      }
      return r;
    } finally {
      const n = busy.get(stream)! - 1;
      if (n === 0) busy.delete(stream);
      else busy.set(stream, n);
      // Read back or made live for an event it refused: finished still, it leaves again after the grace period.
      evictor.touch(stream);
    }
  }

  const effects = createEffectRunner({
    logger,
    handlers: opts.effects ?? {},
    dispatch: (input) => dispatch(input),
    runtime: () => runtime,
    shadowTimers: opts.shadowTimers,
    clock,
  });
  const dispatcher = createDispatcher({
    log,
    logger,
    table,
    clock,
    newId: opts.newId ?? (() => crypto.randomUUID()),
    notify,
    act: effects.act,
    isClosed: () => closed,
    outboxFile: opts.outboxFile,
  });
  const loader = createLoader({ log, logger, table, notify, shardedLoad: opts.shardedLoad, onResynced: (s) => evictor.touch(s) });

  const asActor = (a: FoldedActor | undefined) => a as Actor | undefined;

  /**
   * NATS mode, after a load: timers other nodes armed before this process
   * ran are in the log (the events that scheduled them), not in any live
   * feed it heard. Each unfinished actor's history is read back and stepped
   * again for its timer actions, which are shadowed like live ones: if the
   * node that armed one is lost, the taker fires it (issue 11).
   */
  async function shadowLoadedTimers() {
    let streams = 0;
    let shadowed = 0;
    for (const a of [...actors.values()]) {
      if (a.kind === 'room' || a.snapshot.status === 'done') continue;
      try {
        let snapshot = newActor(a.stream).snapshot;
        const history: { event: StoredEvent; actions: readonly ExecutableAction[] }[] = [];
        for await (const { event } of log.read({ stream: a.stream })) {
          const [after, actions] = steppers[a.kind](snapshot, event);
          snapshot = after;
          history.push({ event, actions });
        }
        shadowed += effects.shadowHistory(history);
        streams++;
      } catch (err) {
        logger.warn({ err, stream: a.stream }, "could not read a stream back for its timers; other nodes' timers on it are not shadowed");
      }
    }
    if (shadowed > 0) logger.info({ streams, shadowed }, "timers armed by other nodes before this one started: shadowed");
  }

  const runtime: Runtime = {
    dispatch: dispatch as Runtime['dispatch'],
    async load(onInvalid, checkpoint) {
      const r = await loader.load(onInvalid, checkpoint);
      // Finished actors found while loading leave after the grace period like any other.
      for (const s of actors.keys()) evictor.touch(s);
      if (opts.shadowTimers) await shadowLoadedTimers();
      return r;
    },
    follow: loader.follow,
    redeliver() {
      return redeliverKept({
        kept: opts.outboxFile?.pending() ?? [],
        log,
        logger,
        dispatch: (e) => dispatch(dispatcher.asInput(e), { original: e.draft }),
        waits: (e) => dispatcher.outbox.holds(e.stream, e.draft.id),
        settle: (e) => dispatcher.outbox.settle(e.draft.id),
      });
    },
    checkpoint(clockNow = clock()): Checkpoint | null {
      if (busy.size > 0 || dispatcher.inflight > 0 || cursor.seq === 0) return null;
      return {
        version: 1,
        machines: MACHINES_VERSION,
        seq: cursor.seq,
        eventId: cursor.eventId,
        takenAt: clockNow,
        actors: toCheckpointActors(actors.values()),
        kept: toCheckpointActors(table.keptActors()),
      };
    },
    get lastSeq() {
      return cursor.seq;
    },
    get(stream: string): AnyMachineSnapshot | undefined {
      return table.get(stream)?.snapshot;
    },
    async read(stream: string) {
      return asActor(await table.readBack(stream));
    },
    position(stream: string): number {
      return table.get(stream)?.position ?? 0;
    },
    times(stream: string): { first: number; last: number } | undefined {
      const a = table.get(stream);
      return a && a.position > 0 ? { first: a.firstTime, last: a.lastTime } : undefined;
    },
    list<K extends StreamKind>(kind: K): Actor<K>[] {
      return [...table.ofKind(kind)] as Actor<K>[];
    },
    stats(): RuntimeStats {
      const byKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<StreamKind, number>;
      for (const a of actors.values()) byKind[a.kind]++;
      return { live: actors.size, byKind, kept: table.keptCount(), finishing: evictor.pending, evicted: evictor.evicted, conflictsRetried: dispatcher.conflictsRetried };
    },
    onEvent(listener: (a: AppliedDomainEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitFor(stream: string, predicate: (s: AnyMachineSnapshot) => boolean, timeoutMs: number): Promise<AnyMachineSnapshot | null> {
      const now = table.get(stream)?.snapshot;
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
      if (sweeper) clearInterval(sweeper);
      loader.unfollow();
      effects.close();
      dispatcher.close();
    },
  };
  return runtime;
}
