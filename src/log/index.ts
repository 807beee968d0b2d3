import { join } from 'node:path';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { createEmbeddedLog, type EmbeddedLogOptions } from './embedded.js';
import { createNatsLog } from './nats.js';
import type { EventLog } from './types.js';

export { ConcurrencyError } from './types.js';
export type { AppendOptions, EventLog, LoggedEvent, ReadOptions } from './types.js';
export { InvalidEventError } from './validate.js';
export { createEmbeddedLog, type EmbeddedLogOptions } from './embedded.js';
export { createNatsLog, type NatsLogOptions } from './nats.js';
export { decodeToken, encodeToken, streamOfSubject, subjectOf } from './subject.js';

export interface EventLogConfig {
  /** When set, the log is a JetStream stream on this server. */
  natsUrl?: string;
  /** JetStream stream and subject prefix (defaults MR_EVENTS, mr.ev). */
  natsStream?: string;
  subjectPrefix?: string;
  /** NATS credentials and TLS (src/nats-options.ts). */
  natsConnectOptions?: Partial<NodeConnectionOptions>;
  /** Without NATS, the log is `<dir>/events.jsonl`: EVENTLOG_DIR, by default `<recordingDir>/.eventlog`. */
  dir?: string;
  recordingDir: string;
  /** Embedded: fdatasync every batch (default true). */
  fsync?: boolean;
  /** Embedded: the file layer's write (a seam for tests of a failing disk). */
  write?: EmbeddedLogOptions['write'];
  logger: Logger;
}

/** The one place that picks the log: JetStream when natsUrl is set, else the embedded file. */
export function createEventLog({ natsUrl, natsStream, subjectPrefix, natsConnectOptions, dir, recordingDir, fsync, write, logger }: EventLogConfig): Promise<EventLog> {
  if (natsUrl) return createNatsLog({ servers: natsUrl, stream: natsStream, subjectPrefix, connectOptions: natsConnectOptions, logger: logger.child({ module: 'log/nats' }) });
  return createEmbeddedLog({
    file: join(dir ?? join(recordingDir, '.eventlog'), 'events.jsonl'),
    fsync,
    write,
    logger: logger.child({ module: 'log/embedded' }),
  });
}
