import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNatsLog } from '../../../src/log/nats.js';
import { subjectOf } from '../../../src/log/subject.js';
import { ConcurrencyError, type EventLog } from '../../../src/log/types.js';
import { startNats, type NatsServer } from '../../../tools/lib/nats-server.js';
import { ev } from '../../helpers/events.js';
import { readAll } from './read-all.js';
import { eventLogContract, type LogFixture } from './log.contract.js';

let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(() => server?.stop());

/** A JetStream stream and subject prefix of its own, deleted afterwards. */
async function freshNats(): Promise<LogFixture> {
  const tag = randomBytes(5).toString('hex');
  const stream = `T_${tag}`;
  const subjectPrefix = `t${tag}.ev`;
  return {
    open: () => createNatsLog({ servers: server.url, stream, subjectPrefix }),
    async injectRaw(s, text) {
      const nc = await connect({ servers: server.url });
      await nc.request(subjectOf(subjectPrefix, s), text); // the JetStream ack is the reply
      await nc.close();
    },
    async cleanup() {
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    },
  };
}

eventLogContract('nats', { sharedStore: true, fresh: freshNats });

describe('nats log across instances', () => {
  let fixture: LogFixture;
  let a: EventLog;
  let b: EventLog;
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

  it('refuses a stale expectation made by another instance', async () => {
    await a.append('recording:r', [ev('recording:r')], { expectedPosition: 0 });
    expect(await b.position('recording:r')).toBe(1); // b now caches position 1
    await a.append('recording:r', [ev('recording:r')], { expectedPosition: 1 });
    const stale = b.append('recording:r', [ev('recording:r')], { expectedPosition: 1 });
    await expect(stale).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(stale).rejects.toMatchObject({ expected: 1, actual: 2 });
    // b refreshed its cache: the right expectation now passes.
    expect(await b.append('recording:r', [ev('recording:r')], { expectedPosition: 2 })).toMatchObject([{ position: 3 }]);
  });

  it("refuses an append decided on this instance's refused one, though another instance's event fills the position it expects", async () => {
    await a.append('recording:o', [ev('recording:o')], { expectedPosition: 0 });
    expect(await b.position('recording:o')).toBe(1); // b caches position 1
    await a.append('recording:o', [ev('recording:o')], { expectedPosition: 1 }); // a's event takes position 2
    const lineage = { broken: false };
    // b decided X on position 1 and Y on top of X (position 2) before either was answered: X is refused,
    // and Y's expectation (2) now matches the stream, filled by a's event. Y must not be written.
    const x = b.append('recording:o', [ev('recording:o')], { expectedPosition: 1, lineage });
    const y = b.append('recording:o', [ev('recording:o')], { expectedPosition: 2, lineage });
    await expect(x).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(y).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await a.position('recording:o')).toBe(2);
    // A decision on the fresh state passes.
    expect(await b.append('recording:o', [ev('recording:o')], { expectedPosition: 2 })).toMatchObject([{ position: 3 }]);
  });

  it('gives unique consecutive positions to instances appending without expectation', async () => {
    const appends = Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append('room:shared', [ev('room:shared')]));
    await Promise.all(appends);
    const events = await readAll(a, { stream: 'room:shared' });
    expect(events.map((e) => e.event.position)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('answers a retry of a stored event past the duplicate window with the stored copy (a publish that timed out but was stored)', async () => {
    const tag = randomBytes(5).toString('hex');
    const short = await createNatsLog({ servers: server.url, stream: `T_${tag}`, subjectPrefix: `t${tag}.ev`, duplicateWindowMs: 1_000 });
    try {
      const e = ev('recording:late');
      const [stored] = await short.append('recording:late', [e], { expectedPosition: 0 });
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await short.append('recording:late', [e], { expectedPosition: 0 })).toEqual([stored]);
      expect((await readAll(short, { stream: 'recording:late' })).map((x) => x.event.id)).toEqual([e.id]);
    } finally {
      await short.close();
      const nc = await connect({ servers: server.url });
      await (await jetstreamManager(nc)).streams.delete(`T_${tag}`).catch(() => {});
      await nc.close();
    }
  });

  it('answers a duplicate appended through another instance with the stored copy', async () => {
    const e = ev('room:dup');
    const [stored] = await a.append('room:dup', [e]);
    expect(await b.append('room:dup', [e])).toEqual([stored]);
    expect(await b.position('room:dup')).toBe(1);
  });
});
