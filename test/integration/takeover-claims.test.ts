import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsTakeoverClaims } from '../../src/runtime/takeover-claims.js';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';

const logger = pino({ level: 'silent' });

/** Issue 11: when a node is lost, one other node takes over, even when the live nodes disagree on who the taker is. */
describe('NATS mode: takeover claims', () => {
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const tag = randomBytes(4).toString('hex');
  const eventStream = `T_CLAIM_${tag}`;

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    const jsm = await jetstreamManager(conns[0]!);
    await jsm.streams.delete(`${eventStream}_TAKEOVER`).catch(() => {});
    for (const nc of conns) await nc.close();
    await nats.stop();
  });

  it('of five nodes claiming one lost node at once, exactly one wins; nobody wins again until the hold period ends', async () => {
    const holdMs = 1_500;
    const nodes = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map(async (id) => {
        const nc = await connect({ servers: nats.url });
        conns.push(nc);
        return createNatsTakeoverClaims({ nc, eventStream, subjectPrefix: `t${tag}`, nodeId: id, holdMs, logger });
      }),
    );
    const first = await Promise.all(nodes.map((n) => n.claim('lost-1')));
    expect(first.filter(Boolean)).toHaveLength(1);
    // Another lost node is claimed on its own.
    expect((await Promise.all(nodes.map((n) => n.claim('lost-2')))).filter(Boolean)).toHaveLength(1);
    // Within the hold period nobody, the winner included, claims lost-1 again.
    expect(await Promise.all(nodes.map((n) => n.claim('lost-1')))).toEqual([false, false, false, false, false]);
    // After it (the lost node still referenced: the takeover is tried again), exactly one again.
    await new Promise((r) => setTimeout(r, holdMs + 200));
    expect((await Promise.all(nodes.map((n) => n.claim('lost-1')))).filter(Boolean)).toHaveLength(1);
  }, 30_000);
});
