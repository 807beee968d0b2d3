import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../../events/envelope.js';
import type { ExecutableAction } from '../../../machines/step.js';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { formatReplay, replay } from '../../../src/replay/index.js';
import { createEffectRunner } from '../../../src/runtime/effects.js';
import { createRuntime, type Runtime, type UncheckedEventInput } from '../../../src/runtime/runtime.js';
import { eventually } from '../../helpers/wait.js';

const logger = pino({ level: 'silent' });
const run = promisify(execFile);

describe('one failing action of a transition', () => {
  const cause = { id: 'e1', stream: 'peer:rec1.a', type: 'peer.offer.received', position: 2, correlationId: 'rec1' } as unknown as StoredEvent;

  it('is reported as <kind>.action.failed on the stream that named it, and the others of the transition still run', async () => {
    const dispatched: UncheckedEventInput[] = [];
    const opened: string[] = [];
    const runner = createEffectRunner({
      logger,
      runtime: () => ({}) as Runtime,
      async dispatch(input) {
        dispatched.push(input);
        if (input.stream === 'recording:broken') throw new Error('stream unreadable');
        return { accepted: true } as never;
      },
      handlers: {
        openRecorderPeer: async (p) => {
          opened.push(p.participantId);
          throw new Error('no UDP port left in RECORDER_ICE_PORT_RANGE');
        },
        closeRecorderPeer: async (p) => void opened.push(`closed ${p.participantId}`),
      },
    });
    const actions = [
      { type: 'openRecorderPeer', params: { participantId: 'a' } },
      { type: 'emit', params: { events: [{ stream: 'recording:broken', type: 'recording.segment.recorded', data: {} }, { stream: 'recording:rec1', type: 'recording.segment.recorded', data: {} }] } },
      { type: 'closeRecorderPeer', params: { participantId: 'b' } },
      { type: 'scheduleTimer', params: { key: 'media', delayMs: 10, type: 'peer.media.timed-out', data: {} } },
    ] as unknown as ExecutableAction[];
    await runner.act(cause, actions);
    await eventually(() => dispatched.filter((d) => d.type === 'peer.action.failed').length === 2 && dispatched.some((d) => d.type === 'peer.media.timed-out'), 5_000);
    runner.close();

    expect(opened).toEqual(['a', 'closed b']);
    expect(dispatched.filter((d) => d.type === 'recording.segment.recorded').map((d) => d.stream)).toEqual(['recording:broken', 'recording:rec1']);
    const reports = dispatched.filter((d) => d.type === 'peer.action.failed');
    expect(reports.map((r) => ({ stream: r.stream, causationId: r.causationId, correlationId: r.correlationId, data: r.data })).sort((x, y) => String((x.data as any).action).localeCompare((y.data as any).action))).toEqual([
      { stream: 'peer:rec1.a', causationId: 'e1', correlationId: 'rec1', data: { action: 'emit', error: 'stream unreadable', detail: 'recording.segment.recorded to recording:broken', retrying: false } },
      { stream: 'peer:rec1.a', causationId: 'e1', correlationId: 'rec1', data: { action: 'openRecorderPeer', error: 'no UDP port left in RECORDER_ICE_PORT_RANGE', retrying: false } },
    ]);
  });

  it('a retried action is reported once, as retrying, however often it fails', async () => {
    const reports: UncheckedEventInput[] = [];
    let calls = 0;
    const runner = createEffectRunner({
      logger,
      runtime: () => ({}) as Runtime,
      dispatch: async (input) => {
        reports.push(input);
        return { accepted: true } as never;
      },
      handlers: {
        enqueueComposition: async () => {
          if (++calls < 3) throw new Error('queue unreachable');
        },
      },
    });
    const job = { ...cause, stream: 'composition:j1', type: 'composition.requested' } as StoredEvent;
    await runner.act(job, [{ type: 'enqueueComposition', params: { jobId: 'j1' } }] as unknown as ExecutableAction[]);
    await eventually(() => calls === 3, 10_000);
    runner.close();
    expect(reports.map((r) => [r.stream, r.type, (r.data as any).action, (r.data as any).retrying])).toEqual([['composition:j1', 'composition.action.failed', 'enqueueComposition', true]]);
  });
});

describe('a failed action in the log and in the operator replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mr-action-failed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is an event of the peer, caused by the offer, the peer keeps its state, and replay lists it as a problem', async () => {
    const file = join(dir, 'events.jsonl');
    const log = await createEmbeddedLog({ file, fsync: false });
    const opened: string[] = [];
    const rt = createRuntime({
      log,
      logger,
      effects: {
        openRecorderPeer: async (p) => {
          opened.push(p.participantId);
          if (p.participantId === 'alice') throw new Error('no UDP port left in RECORDER_ICE_PORT_RANGE');
        },
      },
    });
    await rt.load();
    try {
      const d = async (input: UncheckedEventInput) => {
        const r = await rt.dispatch(input);
        if (!r.accepted) throw new Error(`${input.type}: ${r.message}`);
        return r.event;
      };
      await d({ stream: 'room:standup', type: 'room.member.joined', data: { participantId: 'alice', name: 'Alice', nodeId: 'n1' } });
      await d({ stream: 'room:standup', type: 'room.member.joined', data: { participantId: 'bob', name: null, nodeId: 'n1' } });
      await d({ stream: 'room:standup', type: 'room.recording.requested', data: { recordingId: 'rec1', layout: 'grid', format: 'webm' } });
      const offer = await d({ stream: 'peer:rec1.alice', type: 'peer.offer.received', data: { sdp: 'v=0 offer' } });
      await d({ stream: 'peer:rec1.bob', type: 'peer.offer.received', data: { sdp: 'v=0 offer' } });
      await eventually(() => rt.position('peer:rec1.alice') === 3, 5_000);
      expect(opened.sort()).toEqual(['alice', 'bob']); // alice's failure stopped nobody's

      const events: StoredEvent[] = [];
      for await (const { event } of log.read({ stream: 'peer:rec1.alice' })) events.push(event);
      expect(events.map((e) => e.type)).toEqual(['peer.requested', 'peer.offer.received', 'peer.action.failed']);
      expect(events[2]).toMatchObject({ causationId: offer.id, correlationId: 'rec1', data: { action: 'openRecorderPeer', error: 'no UDP port left in RECORDER_ICE_PORT_RANGE', retrying: false } });
      expect(rt.get('peer:rec1.alice')?.value).toBe('negotiating');

      const r = await replay(log.read());
      const problem = r.problems.find((p) => p.stream === 'peer:rec1.alice');
      expect(problem).toMatchObject({ what: 'openRecorderPeer failed for peer:rec1.alice', detail: ['no UDP port left in RECORDER_ICE_PORT_RANGE'] });
      expect(problem?.ledTo.map((l) => l.type)).toContain('peer.offer.received');
    } finally {
      await rt.close();
      await log.close();
    }
    // what `npm run replay` prints
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const { stdout } = await run(tsx, ['tools/replay.ts', '--file', file]);
    expect(stdout).toMatch(/peer:rec1\.alice\s+peer\.action\.failed/);
    expect(stdout).toContain('openRecorderPeer failed for peer:rec1.alice');
    expect(formatReplay(await replay([]))).toContain('No problems found.');
  }, 60_000);
});
