import { join } from 'node:path';
import type { Logger } from 'pino';
import { createEmbeddedLog } from './embedded.js';
import { createNatsLog } from './nats.js';
import type { EventLog } from './types.js';

export { ConcurrencyError } from './types.js';
export type { AppendOptions, EventLog, LoggedEvent, ReadOptions } from './types.js';
export { InvalidEventError } from './validate.js';
export { createEmbeddedLog, type EmbeddedLogOptions } from './embedded.js';
export { createNatsLog, type NatsLogOptions } from './nats.js';
export { decodeToken, encodeToken, streamOfSubject, subjectOf } from './subject.js';

export interface EventLogConfig {
  /** When set, the log is the JetStream stream MR_EVENTS on this server. */
  natsUrl?: string;
  /** Without NATS, the log is `<recordingDir>/.eventlog/events.jsonl`. */
  recordingDir: string;
  logger: Logger;
}

export function createEventLog({ natsUrl, recordingDir, logger }: EventLogConfig): Promise<EventLog> {
  if (natsUrl) return createNatsLog({ servers: natsUrl, logger: logger.child({ module: 'log/nats' }) });
  return createEmbeddedLog({
    file: join(recordingDir, '.eventlog', 'events.jsonl'),
    logger: logger.child({ module: 'log/embedded' }),
  });
}
