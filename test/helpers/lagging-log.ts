import type { EventLog, LoggedEvent } from '../../src/log/types.js';

/**
 * The same log, followed late: every live event reaches subscribers `lagMs`
 * after the log had it, in order (a follower behind, as a composer node's can
 * be behind the queue). Reads and appends are the log's own.
 */
export function lagging(log: EventLog, lagMs: number): EventLog {
  return {
    ...log,
    subscribe(handler: (e: LoggedEvent) => void) {
      const pending = new Set<NodeJS.Timeout>();
      const off = log.subscribe((e) => {
        const t = setTimeout(() => {
          pending.delete(t);
          handler(e);
        }, lagMs);
        pending.add(t);
      });
      return () => {
        off();
        for (const t of pending) clearTimeout(t);
      };
    },
  };
}
