import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { compositionStream, recordingStream } from '../../../machines/actions.js';
import { createCompositionEffects, type ComposerPort } from '../../../src/effects/composition.js';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import type { EventLog } from '../../../src/log/types.js';
import { createMemoryQueue } from '../../../src/queue/memory.js';
import type { CompositionQueue } from '../../../src/queue/types.js';
import { createRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { lagging } from '../../helpers/lagging-log.js';

/**
 * Two runtimes on one log, as a signaling node and a ROLE=composer node: the
 * composer's follower gets every event `lagMs` late, so the queue item the
 * signaling side enqueues reaches the composer's worker before the job does.
 */
async function twoNodes(lagMs: number, worker: { catchUpWaitMs?: number; catchUpRetryMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mr-effects-'));
  const log: EventLog = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
  const queue: CompositionQueue = createMemoryQueue({ ackWaitMs: 2_000 });
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(c.toString())), done()) }),
  );
  const calls: string[] = [];
  const requests: Parameters<ComposerPort['compose']>[0][] = [];
  let failNext = false;
  const composer: ComposerPort = {
    async compose(req) {
      calls.push(req.jobId);
      requests.push(req);
      await new Promise((r) => setTimeout(r, 20));
      if (failNext) {
        failNext = false;
        throw new Error('ffmpeg exited with 1');
      }
      return { file: `${req.recordingId}-composed.webm`, durationMs: req.durationMs, sizeBytes: 1234, skipped: [] };
    },
  };
  const signalingFx = createCompositionEffects({ queue, composer, logger });
  const composerFx = createCompositionEffects({ queue, composer, logger, worker });
  const signaling = createRuntime({ log, logger: pino({ level: 'silent' }), effects: signalingFx.handlers, shardedLoad: false });
  const composerNode = createRuntime({ log: lagging(log, lagMs), logger: pino({ level: 'silent' }), effects: composerFx.handlers, shardedLoad: false });
  for (const rt of [signaling, composerNode]) {
    await rt.load();
    rt.follow();
  }
  composerFx.startWorker({ runtime: composerNode, workerId: 'composer-1', concurrency: 1 });
  return {
    signaling,
    composerNode,
    queue,
    calls,
    requests,
    lines,
    failNextRun: () => (failNext = true),
    async close() {
      await composerFx.stop();
      await signaling.close();
      await composerNode.close();
      await queue.close();
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const request = (rt: Runtime, jobId: string) =>
  rt.dispatch({
    stream: compositionStream(jobId),
    type: 'composition.requested',
    data: { jobId, recordingId: 'rec1', meetingId: 'room1', layout: 'grid', format: 'webm', durationMs: 3_000, maxAttempts: 3 },
  });

const stateOf = (rt: Runtime, jobId: string) => rt.get(compositionStream(jobId))?.value;

let nodes: Awaited<ReturnType<typeof twoNodes>> | null = null;
afterEach(async () => {
  await nodes?.close();
  nodes = null;
});

describe('composition worker, queue item ahead of its log', () => {
  it('runs a job whose events reach the worker’s log after its queue item', async () => {
    nodes = await twoNodes(800);
    const { signaling, composerNode, calls } = nodes;
    expect((await request(signaling, 'job1')).accepted).toBe(true);
    expect(composerNode.get(compositionStream('job1'))).toBeUndefined(); // the item is on its way, the job is not
    const done = await signaling.waitFor(compositionStream('job1'), (s) => s.value === 'completed', 10_000);
    expect(done?.value).toBe('completed');
    expect(done?.context.workerId).toBe('composer-1');
    expect(calls).toEqual(['job1']);
  });

  it('hands the item back when the log is later than the wait, and runs it on a later delivery', async () => {
    nodes = await twoNodes(1_000, { catchUpWaitMs: 200, catchUpRetryMs: 100 });
    const { signaling, calls, lines } = nodes;
    await request(signaling, 'job2');
    const done = await signaling.waitFor(compositionStream('job2'), (s) => s.value === 'completed', 10_000);
    expect(done?.value).toBe('completed');
    expect(done?.context.delivery).toBeGreaterThan(1);
    expect(calls).toEqual(['job2']);
    expect(lines.some((l) => String(l.msg).includes('handed back') && l.jobId === 'job2')).toBe(true);
  });

  it('claims a job queued again whose new state has not reached the worker yet', async () => {
    nodes = await twoNodes(800);
    const { signaling, composerNode, calls, failNextRun } = nodes;
    failNextRun();
    await request(signaling, 'job3');
    expect(await signaling.waitFor(compositionStream('job3'), (s) => s.value === 'retrying', 10_000)).not.toBeNull();
    // An operator's retry: queued again on the signaling node; the composer still sees it waiting for its backoff.
    expect((await signaling.dispatch({ stream: compositionStream('job3'), type: 'composition.retry.requested', data: {} })).accepted).toBe(true);
    expect(stateOf(composerNode, 'job3')).toBe('retrying');
    const done = await signaling.waitFor(compositionStream('job3'), (s) => s.value === 'completed', 10_000);
    expect(done?.value).toBe('completed');
    expect(done?.context.attempt).toBe(2);
    expect(calls).toEqual(['job3', 'job3']);
  });

  it('drops at once an item its log is already past (a duplicate of a job run)', async () => {
    nodes = await twoNodes(50);
    const { signaling, composerNode, queue, calls, lines } = nodes;
    await request(signaling, 'job4');
    expect(await signaling.waitFor(compositionStream('job4'), (s) => s.value === 'completed', 10_000)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 200));
    const before = Date.now();
    await queue.enqueue({ jobId: 'job4', position: 1 }, 'a-stale-duplicate');
    for (let i = 0; i < 100 && !lines.some((l) => l.msg === 'job not claimed'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(lines.some((l) => l.msg === 'job not claimed' && l.jobId === 'job4')).toBe(true);
    expect(Date.now() - before).toBeLessThan(1_000);
    expect(calls).toEqual(['job4']);
    expect(stateOf(composerNode, 'job4')).toBe('completed');
  });
});

describe('composition worker, identities', () => {
  it("hands the composer the recording's participants as its log knows them (host-userInfo included)", async () => {
    nodes = await twoNodes(50);
    const { signaling, requests } = nodes;
    const rec = recordingStream('rec1');
    const member = (participantId: string, role: 'host' | 'participant', name: string | null) => ({ participantId, role, name });
    await signaling.dispatch({
      stream: rec,
      type: 'recording.started',
      data: { recordingId: 'rec1', roomId: 'room1', layout: 'grid', format: 'webm', startedAt: 1, members: [member('h', 'host', 'Hal'), member('p', 'participant', null)] },
    });
    const info = { userId: 'u-ada', name: 'Ada', avatar: 'ada.png', team: 'math' };
    const identified = await signaling.dispatch({
      stream: rec,
      type: 'recording.participant.identified',
      data: { member: { ...member('p', 'participant', 'Ada'), userId: 'u-ada', avatar: 'ada.png', userInfo: info } },
    });
    expect(identified.accepted).toBe(true);
    await request(signaling, 'job5');
    expect(await signaling.waitFor(compositionStream('job5'), (s) => s.value === 'completed', 10_000)).not.toBeNull();
    expect(requests[0]?.members).toEqual([
      { participantId: 'h', name: 'Hal' },
      { participantId: 'p', name: 'Ada', userId: 'u-ada', avatar: 'ada.png', userInfo: info },
    ]);
  });
});
