import type { NewEvent, StoredEvent } from '../../events/envelope.js';
import { ConcurrencyError, type EventLog, type LoggedEvent, type ReadOptions } from '../../src/log/types.js';

/**
 * An EventLog held in an array: the model suite plays thousands of short runs
 * and replays each one, so it skips the file. Same ordering and position rules
 * as the real backends (appends per stream checked against expectedPosition).
 */
export function createMemoryLog(): EventLog & { events: LoggedEvent[] } {
  const events: LoggedEvent[] = [];
  const positions = new Map<string, number>();
  const handlers = new Set<(e: LoggedEvent) => void>();
  const select = (o: ReadOptions = {}) =>
    events.filter(
      (e) =>
        (!o.stream || e.event.stream === o.stream) &&
        (!o.correlationId || e.event.correlationId === o.correlationId) &&
        (!o.untilSeq || e.seq <= o.untilSeq) &&
        (!o.after || e.seq > o.after.seq),
    );
  return {
    kind: 'embedded',
    events,
    async append(stream: string, batch: NewEvent[], options = {}) {
      const at = positions.get(stream) ?? 0;
      if (options.lineage?.broken || (options.expectedPosition !== undefined && options.expectedPosition !== at)) {
        if (options.lineage) options.lineage.broken = true;
        throw new ConcurrencyError(stream, options.expectedPosition ?? at, at);
      }
      const stored = batch.map((e, i): StoredEvent => ({ ...e, position: at + i + 1 }));
      positions.set(stream, at + stored.length);
      for (const event of stored) {
        const logged = { seq: events.length + 1, event };
        events.push(logged);
        for (const h of handlers) h(logged);
      }
      return stored;
    },
    async position(stream: string) {
      return positions.get(stream) ?? 0;
    },
    async *read(options?: ReadOptions) {
      yield* select(options);
    },
    async *readBatches(options?: ReadOptions) {
      yield select(options);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {},
  };
}
