import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compositionStream, stopCompositionJobId } from '../../machines/actions.js';
import { createComposer } from '../../src/composer/composer.js';
import { createCompositionEffects } from '../../src/effects/composition.js';
import { createNatsLog } from '../../src/log/nats.js';
import { createNatsQueue } from '../../src/queue/nats.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { FFMPEG, FFPROBE, writeFixture } from '../../tools/lib/compose-fixtures.js';
import { lagging } from '../helpers/lagging-log.js';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';

const logger = pino({ level: 'silent' });

/**
 * NATS mode, a signaling node and a ROLE=composer node as two runtimes on one
 * JetStream log and queue. The composer node's follower is 1.5 s behind, so the
 * queue item (published once the job's event is durable) reaches its worker
 * before the job's event reaches its runtime. The job must still be composed.
 */
describe('NATS mode: a queue item that reaches the composer before its job', () => {
  let nats: NatsServer;
  let root: string;
  const tag = randomBytes(4).toString('hex');
  const streams = { events: `T_EV_${tag}`, queue: `T_CO_${tag}` };

  beforeAll(async () => {
    nats = await startNats();
    root = await mkdtemp(join(tmpdir(), 'mr-race-'));
  });
  afterAll(async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    for (const s of Object.values(streams)) await jsm.streams.delete(s).catch(() => {});
    await nc.close();
    await nats.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('is composed by the composer node once its log catches up', async () => {
    const recordingId = 'rec-race';
    const meetingId = 'race-room';
    await writeFixture({
      root,
      meetingId,
      recordingId,
      width: 160,
      height: 90,
      participants: [{ participantId: 'host', name: 'Host', role: 'host', color: '0xc03030', toneHz: 440, segments: [{ offsetMs: 0, durationMs: 2000 }] }],
    });
    const composer = createComposer({ root, ffmpegPath: FFMPEG, ffprobePath: FFPROBE, logger });
    const openLog = () => createNatsLog({ servers: nats.url, stream: streams.events, subjectPrefix: `t${tag}.ev`, logger });
    const openQueue = () => createNatsQueue({ servers: nats.url, stream: streams.queue, subject: `t${tag}.jobs`, ackWaitMs: 3_000, logger });

    const [logS, logC, queueS, queueC] = await Promise.all([openLog(), openLog(), openQueue(), openQueue()]);
    const fxS = createCompositionEffects({ queue: queueS, composer, logger });
    const fxC = createCompositionEffects({ queue: queueC, composer, logger });
    const signaling = createRuntime({ log: logS, logger, effects: fxS.handlers, shardedLoad: false });
    const composerNode = createRuntime({ log: lagging(logC, 1_500), logger, effects: fxC.handlers, shardedLoad: false });
    for (const rt of [signaling, composerNode]) {
      await rt.load();
      rt.follow();
    }
    fxC.startWorker({ runtime: composerNode, workerId: 'composer-1', concurrency: 1 });

    try {
      const jobId = stopCompositionJobId(recordingId);
      const stream = compositionStream(jobId);
      const r = await signaling.dispatch({
        stream,
        type: 'composition.requested',
        data: { jobId, recordingId, meetingId, layout: 'grid', format: 'webm', durationMs: 2000, maxAttempts: 3 },
      });
      expect(r.accepted).toBe(true);
      expect(composerNode.get(stream)).toBeUndefined();

      const done = await signaling.waitFor(stream, (s) => s.value === 'completed' || s.value === 'failed', 60_000);
      expect(done?.value, JSON.stringify(done?.context)).toBe('completed');
      expect(done?.context.workerId).toBe('composer-1');
      expect(done?.context.attempt).toBe(1);
      expect(existsSync(join(root, meetingId, done!.context.output!.file))).toBe(true);
    } finally {
      await fxC.stop();
      await signaling.close();
      await composerNode.close();
      await Promise.all([queueS.close(), queueC.close(), logS.close(), logC.close()]);
    }
  });
});
