import type { AnyMachineSnapshot } from 'xstate';
import type { StreamKind } from '../../events/streams.js';
import { MACHINES_VERSION } from '../../machines/index.js';
import { createActorTable } from './actors.js';
import type { Checkpoint } from './checkpoint.js';
import { createDispatcher } from './dispatch.js';
import { createEffectRunner } from './effects.js';
import { toCheckpointActors } from './fold.js';
import { createLoader } from './load.js';
import type { Actor, AppliedDomainEvent, AppliedEvent, Runtime, RuntimeOptions } from './types.js';

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
  SnapshotOf,
  UncheckedEventInput,
} from './types.js';

/**
 * Hosts one actor per stream (see Runtime): the actor table, the dispatcher
 * (append-then-act), the effect runner (effects and timers) and the loader
 * (checkpoint, log, live feed), composed.
 */
export function createRuntime(opts: RuntimeOptions): Runtime {
  const { log, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const table = createActorTable(log);
  const { actors, cursor } = table;
  const listeners = new Set<(a: AppliedDomainEvent) => void>();
  let closed = false;

  function notify(applied: AppliedEvent & { type: string }) {
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

  const effects = createEffectRunner({
    logger,
    handlers: opts.effects ?? {},
    dispatch: (input) => dispatcher.dispatch(input),
    runtime: () => runtime,
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
  });
  const loader = createLoader({ log, logger, table, notify, shardedLoad: opts.shardedLoad });

  const runtime: Runtime = {
    dispatch: dispatcher.dispatch as Runtime['dispatch'],
    load: loader.load,
    follow: loader.follow,
    checkpoint(clockNow = clock()): Checkpoint | null {
      if (dispatcher.inflight > 0 || cursor.seq === 0) return null;
      return {
        version: 1,
        machines: MACHINES_VERSION,
        seq: cursor.seq,
        eventId: cursor.eventId,
        takenAt: clockNow,
        actors: toCheckpointActors(actors.values()),
      };
    },
    get lastSeq() {
      return cursor.seq;
    },
    get(stream: string): AnyMachineSnapshot | undefined {
      return actors.get(stream)?.snapshot;
    },
    position(stream: string): number {
      return actors.get(stream)?.position ?? 0;
    },
    times(stream: string): { first: number; last: number } | undefined {
      const a = actors.get(stream);
      return a && a.position > 0 ? { first: a.firstTime, last: a.lastTime } : undefined;
    },
    list<K extends StreamKind>(kind: K): Actor<K>[] {
      return [...actors.values()].filter((a) => a.kind === kind) as Actor<K>[];
    },
    onEvent(listener: (a: AppliedDomainEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
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
      loader.unfollow();
      effects.close();
      dispatcher.close();
    },
  };
  return runtime;
}
