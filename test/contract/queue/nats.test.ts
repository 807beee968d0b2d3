import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNatsQueue } from '../../../src/queue/nats.js';
import type { CompositionQueue, QueueItem } from '../../../src/queue/types.js';
import { startNats, type NatsServer } from '../../../tools/lib/nats-server.js';
import { ACK_WAIT_MS, compositionQueueContract, MAX_DELIVER, type QueueFixture } from './queue.contract.js';

let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(() => server?.stop());

/** A JetStream work-queue stream and subject of its own, deleted afterwards. */
async function freshNats(): Promise<QueueFixture & { stream: string; subject: string }> {
  const tag = randomBytes(5).toString('hex');
  const stream = `TQ_${tag}`;
  const subject = `tq${tag}.jobs`;
  return {
    stream,
    subject,
    open: () => createNatsQueue({ servers: server.url, stream, subject, ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER }),
    async cleanup() {
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    },
  };
}

compositionQueueContract('nats', { fresh: freshNats });

describe('nats queue across instances', () => {
  let fixture: Awaited<ReturnType<typeof freshNats>>;
  let a: CompositionQueue;
  let b: CompositionQueue;
  beforeEach(async () => {
    fixture = await freshNats();
    a = await fixture.open();
    b = await fixture.open();
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await fixture.cleanup();
  });

  const publishRaw = async (text: string) => {
    const nc = await connect({ servers: server.url });
    await jetstream(nc).publish(fixture.subject, text);
    await nc.close();
  };

  it('hands an entry enqueued by one process to a worker of another, and a silent worker’s item to the other one', async () => {
    const seen: { q: string; item: QueueItem }[] = [];
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const stopA = a.consume(async (item) => {
      seen.push({ q: 'a', item });
      await hung; // a worker that stopped answering
    }, 1);
    await a.enqueue({ jobId: 'j1', position: 2 }, 'ev-1');
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const stopB = b.consume(async (item) => void seen.push({ q: 'b', item }), 1);
    for (let i = 0; i < 400 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.map((s) => [s.q, s.item.jobId, s.item.position, s.item.delivery])).toEqual([
      ['a', 'j1', 2, 1],
      ['b', 'j1', 2, 2],
    ]);
    release();
    await Promise.all([stopA(), stopB()]);
  });

  it('terminates a malformed entry and reads one without a position (written before it existed) as position 1', async () => {
    const seen: QueueItem[] = [];
    await publishRaw('not json');
    await publishRaw(JSON.stringify({ jobId: '../escape' }));
    await publishRaw(JSON.stringify({ jobId: 'old-job' }));
    const stop = a.consume(async (item) => void seen.push(item), 1);
    for (let i = 0; i < 300 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, ACK_WAIT_MS * 1.5));
    expect(seen.map((s) => [s.jobId, s.position, s.delivery])).toEqual([['old-job', 1, 1]]);
    await stop();
    // Terminated for good, not handed out again after the ack wait (nats-server 2.9 ignores `+TERM <reason>`).
    const nc = await connect({ servers: server.url });
    const info = await (await jetstreamManager(nc)).consumers.info(fixture.stream, 'composers');
    await nc.close();
    expect([info.num_ack_pending, info.num_pending, info.num_redelivered]).toEqual([0, 0, 0]);
  });
});
