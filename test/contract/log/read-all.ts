import type { EventLog, LoggedEvent, ReadOptions } from '../../../src/log/types.js';

/** Everything `log.read` yields; problems it reports go to `problems`. */
export async function readAll(log: EventLog, options?: ReadOptions, problems?: string[]): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for await (const e of log.read(options, (p) => problems?.push(p))) out.push(e);
  return out;
}
