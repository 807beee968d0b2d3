import type { NewEvent } from '../../../events/envelope.js';
import type { EventLog, LoggedEvent, ReadOptions } from '../../../src/log/types.js';

let n = 0;
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** A valid event for `stream` with a unique id. */
export function ev(stream: string, overrides: Partial<NewEvent> = {}): NewEvent {
  n++;
  return {
    id: `e-${run}-${n}`,
    type: 'room.opened',
    stream,
    time: 1_700_000_000_000 + n,
    causationId: null,
    correlationId: null,
    version: 1,
    data: { n },
    ...overrides,
  };
}

export async function readAll(log: EventLog, options?: ReadOptions, problems?: string[]): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for await (const e of log.read(options, (p) => problems?.push(p))) out.push(e);
  return out;
}

export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
