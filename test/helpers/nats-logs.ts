import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { createNatsLog } from '../../src/log/nats.js';
import type { EventLog } from '../../src/log/types.js';
import type { Runtime } from '../../src/runtime/types.js';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';

/**
 * For a describe block: a nats-server and one private JetStream event stream;
 * `open()` is another process's log on it. Runtimes pushed to `runtimes` and
 * every log opened are closed, and the stream deleted, after the block.
 */
export function natsEventLogs(name: string) {
  const tag = randomBytes(4).toString('hex');
  const stream = `T_${name}_${tag}`;
  const logger = pino({ level: 'silent' });
  const logs: EventLog[] = [];
  const runtimes: Runtime[] = [];
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    for (const r of runtimes) await r.close().catch(() => {});
    for (const l of logs) await l.close().catch(() => {});
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
    await nats.stop();
  });
  return {
    logs,
    runtimes,
    async open(): Promise<EventLog> {
      const l = await createNatsLog({ servers: nats.url, stream, subjectPrefix: `t${tag}.ev`, logger });
      logs.push(l);
      return l;
    },
  };
}
