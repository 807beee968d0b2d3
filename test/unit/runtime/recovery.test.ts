import { mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { recover } from '../../../src/runtime/recovery.js';
import type { EventType } from '../../../events/catalog.js';
import { createRuntime, type EventInput } from '../../../src/runtime/runtime.js';

/** Dispatches one event, typed by its type. */
type D = <T extends EventType>(stream: string, type: T, data: EventInput<T>['data']) => Promise<void>;

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Writes a log as a process that died would have left it, then starts a new runtime on it and recovers. */
async function crashThenRecover(setup: (d: D, root: string) => Promise<void>, nodeId = 'n1') {
  const root = mkdtempSync(join(tmpdir(), 'mr-recover-'));
  dirs.push(root);
  const file = join(root, 'events.jsonl');
  let t = Date.parse('2026-11-25T10:00:00Z');
  const log = await createEmbeddedLog({ file, fsync: false });
  const before = createRuntime({ log, logger, clock: () => (t += 1000) });
  await setup(async (stream, type, data) => {
    const r = await before.dispatch({ stream, type, data });
    if (!r.accepted) throw new Error(`${type}: ${r.message}`);
  }, root);
  await before.close();
  await log.close();

  const log2 = await createEmbeddedLog({ file, fsync: false });
  const enqueued: string[] = [];
  const closed: string[] = [];
  // Effects run after their events are durable, on their own; count those under way to know when the chain is done.
  const running = new Set<Promise<unknown>>();
  const tracked = <P,>(handler: (p: P, ctx: any) => unknown) => (p: P, ctx: any) => {
    const done = Promise.resolve(handler(p, ctx)).finally(() => running.delete(done));
    running.add(done);
    return done as Promise<void>;
  };
  const rt = createRuntime({
    log: log2,
    logger,
    clock: () => Date.parse('2026-11-25T12:00:00Z'),
    effects: {
      enqueueComposition: tracked((p: { jobId: string }) => void enqueued.push(p.jobId)),
      closeRecorderPeer: tracked(async (p: { recordingId: string; participantId: string; reason: string }, { runtime }) => {
        closed.push(p.participantId);
        await runtime.dispatch({ stream: `peer:${p.recordingId}.${p.participantId}`, type: 'peer.closed', data: { reason: p.reason, segments: [] } });
      }),
    },
  });
  await rt.load();
  const summary = await recover(rt, { nodeId, queueIsDurable: false, root, logger });
  // quiet: no effect under way after the ones that were started (and the ones they caused) have finished
  do {
    await new Promise((r) => setImmediate(r));
    await Promise.all(running);
  } while (running.size > 0);
  return { rt, summary, enqueued, closed, root, close: async () => { await rt.close(); await log2.close(); } };
}

const join_ = (participantId: string) => ({ participantId, name: null, nodeId: 'n1' });

describe('recovery after a crash', () => {
  it('a running recording is marked interrupted at its last sign of life, its peers closed, and composed', async () => {
    const { rt, summary, enqueued, closed, close } = await crashThenRecover(async (d, root) => {
      await d('room:r1', 'room.member.joined', join_('h'));
      await d('room:r1', 'room.member.joined', join_('p'));
      await d('room:r1', 'room.recording.requested', { recordingId: 'rec1', layout: 'grid', format: 'webm' });
      // a segment file the dead process was writing: its mtime is the last sign of life
      mkdirSync(join(root, 'r1'));
      const f = join(root, 'r1', '1-rec1-h-video-t.webm');
      writeFileSync(f, 'x');
      const last = Date.parse('2026-11-25T10:00:30Z') / 1000;
      utimesSync(f, last, last);
    });
    expect(summary).toMatchObject({ roomsClosed: 1, recordingsStopped: 1 });
    expect(rt.get('room:r1')?.value).toBe('closed');
    const rec = rt.get('recording:rec1')!;
    expect(rec.value).toBe('stopped');
    expect(rec.context.stopReason).toBe('interrupted');
    expect(rec.context.stoppedAt).toBe(Date.parse('2026-11-25T10:00:30Z'));
    expect(closed.sort()).toEqual(['h', 'p']);
    expect(enqueued).toEqual(['rec1-c1']);
    expect(rt.get('composition:rec1-c1')?.context.durationMs).toBe(Date.parse('2026-11-25T10:00:30Z') - rec.context.startedAt!);
    await close();
  });

  it('a composition that was running or queued is queued again; one waiting for its retry is retried', async () => {
    const req = (jobId: string) => ({ jobId, recordingId: 'rec1', meetingId: 'r1', layout: 'grid' as const, format: 'webm' as const, durationMs: 1000, maxAttempts: 3 });
    const { rt, summary, enqueued, close } = await crashThenRecover(async (d) => {
      await d('composition:a', 'composition.requested', req('a'));
      await d('composition:a', 'composition.started', { attempt: 1, workerId: 'w', delivery: 1 });
      await d('composition:b', 'composition.requested', req('b'));
      await d('composition:c', 'composition.requested', req('c'));
      await d('composition:c', 'composition.started', { attempt: 1, workerId: 'w', delivery: 1 });
      await d('composition:c', 'composition.failed', { attempt: 1, error: 'x', stderr: [] });
    });
    expect(summary).toMatchObject({ compositionsRequeued: 2, compositionsRetried: 1 });
    expect(['a', 'b', 'c'].map((j) => rt.get(`composition:${j}`)?.value)).toEqual(['queued', 'queued', 'queued']);
    expect(enqueued.sort()).toEqual(['a', 'b', 'c']);
    await close();
  });

  it('rooms another node owns are left alone', async () => {
    const { rt, summary, close } = await crashThenRecover(async (d) => {
      await d('room:r1', 'room.member.joined', join_('h'));
    }, 'other-node');
    expect(summary.roomsClosed).toBe(0);
    expect(rt.get('room:r1')?.value).toBe('open');
    await close();
  });
});
