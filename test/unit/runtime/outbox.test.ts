import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../../events/envelope.js';
import type { ExecutableAction } from '../../../machines/step.js';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import type { EventLog } from '../../../src/log/types.js';
import { createEffectRunner } from '../../../src/runtime/effects.js';
import { createRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { eventually } from '../../helpers/wait.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** A runtime on a real embedded log whose disk fails while `disk.failing` is set. */
async function runtimeOnFlakyDisk(): Promise<{ rt: Runtime; log: EventLog; disk: { failing: boolean }; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-'));
  dirs.push(dir);
  const file = join(dir, 'events.jsonl');
  const disk = { failing: false };
  const write = (fh: FileHandle, buf: Buffer, offset: number, length: number) =>
    disk.failing ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) : fh.write(buf, offset, length);
  const log = await createEmbeddedLog({ file, fsync: false, write });
  const rt = createRuntime({ log, logger });
  await rt.load();
  rt.follow();
  closers.push(async () => {
    await rt.close();
    await log.close();
  });
  return { rt, log, disk, file };
}

async function ids(log: EventLog): Promise<{ stream: string; type: string; position: number; id: string }[]> {
  const out = [];
  for await (const { event } of log.read()) out.push({ stream: event.stream, type: event.type, position: event.position, id: event.id });
  return out;
}

const joined = (participantId: string) => ({ participantId, name: null, nodeId: 'n1' });

describe('events the log refuses wait in the outbox', () => {
  it('keeps effect results, refuses commands with "unavailable", forgets no actor, and appends everything once, in order, when the log is back', async () => {
    const { rt, log, disk } = await runtimeOnFlakyDisk();
    const applied: string[] = [];
    rt.onEvent((a) => applied.push(a.event.id));
    expect((await rt.dispatch({ stream: 'room:r', type: 'room.member.joined', data: joined('h') })).accepted).toBe(true);

    disk.failing = true;
    // the first event that meets the failure is kept (it is not known lost), as is everything behind it
    const kept = await rt.dispatch({ stream: 'room:r', type: 'room.member.joined', data: joined('p1') });
    expect(kept.accepted).toBe(true);
    const kept2 = await rt.dispatch({ stream: 'room:r', type: 'room.member.joined', data: joined('p2') });
    expect(kept2.accepted).toBe(true);
    // a client's command is answered: ask again
    const cmd = await rt.dispatch({ stream: 'room:r', type: 'room.member.joined', data: joined('p3') }, { command: true });
    expect(cmd).toMatchObject({ accepted: false, reason: 'unavailable', message: expect.stringContaining('event log unavailable, retry') });
    // the actor is still there, with what was decided
    expect(Object.keys(rt.get('room:r')?.context.members ?? {}).sort()).toEqual(['h', 'p1', 'p2']);
    expect(applied.length).toBe(1); // nothing acted on before it is durable
    expect(rt.checkpoint()).toBeNull(); // nor checkpointed

    await new Promise((r) => setTimeout(r, 300));
    disk.failing = false;
    await eventually(() => applied.length === 3, 10_000);
    const logged = await ids(log);
    expect(logged.map((e) => e.position)).toEqual([1, 2, 3]);
    expect(new Set(logged.map((e) => e.id)).size).toBe(3);
    expect(logged.map((e) => e.id)).toEqual(applied);
    expect(rt.position('room:r')).toBe(3);
    // commands pass again
    expect((await rt.dispatch({ stream: 'room:r', type: 'room.member.joined', data: joined('p3') }, { command: true })).accepted).toBe(true);
    expect(rt.checkpoint()).not.toBeNull();
  });
});

describe('an append that failed but was stored (a publish that timed out)', () => {
  it('is not appended twice, and its effects run once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-'));
    dirs.push(dir);
    const real = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
    let timeouts = 1;
    // stores the event, then answers as a timed-out publish would
    const log: EventLog = {
      ...real,
      async append(stream, events, options) {
        const out = await real.append(stream, events, options);
        if (timeouts-- > 0) throw new Error('TimeoutError: timeout');
        return out;
      },
    };
    const enqueued: string[] = [];
    const rt = createRuntime({ log, logger, effects: { enqueueComposition: (p) => void enqueued.push(p.jobId) } });
    closers.push(async () => {
      await rt.close();
      await real.close();
    });
    await rt.load();
    const r = await rt.dispatch({
      stream: 'composition:j1',
      type: 'composition.requested',
      data: { jobId: 'j1', recordingId: 'r1', meetingId: 'm1', layout: 'grid', format: 'webm', durationMs: 1000, maxAttempts: 3 },
    });
    expect(r.accepted).toBe(true);
    expect(enqueued).toEqual([]); // not known durable yet: nothing acted on
    await eventually(() => enqueued.length > 0, 5_000);
    await new Promise((res) => setTimeout(res, 300));
    expect(enqueued).toEqual(['j1']);
    const logged = await ids(real);
    expect(logged.map((e) => [e.stream, e.position])).toEqual([['composition:j1', 1]]);
    expect(rt.position('composition:j1')).toBe(1);
  });
});

describe('actions of one transition', () => {
  const event = { id: 'e1', stream: 'recording:x', type: 'recording.stop.requested', position: 3, correlationId: 'x' } as unknown as StoredEvent;

  it('a failing emit does not stop the timer scheduled after it', async () => {
    const dispatched: string[] = [];
    const runner = createEffectRunner({
      logger,
      handlers: {},
      runtime: () => ({}) as Runtime,
      async dispatch(input) {
        dispatched.push(input.type);
        if (input.type === 'peer.close.requested') throw new Error('log gone');
        return { accepted: true } as never;
      },
    });
    const actions = [
      { type: 'emit', params: { events: [{ stream: 'peer:x.a', type: 'peer.close.requested', data: {} }, { stream: 'peer:x.b', type: 'peer.close.requested', data: {} }] } },
      { type: 'scheduleTimer', params: { key: 'stop', delayMs: 20, type: 'recording.stop.timed-out', data: {} } },
    ] as unknown as ExecutableAction[];
    await runner.act(event, actions);
    await eventually(() => dispatched.includes('recording.stop.timed-out'), 2_000);
    // and the failed emit is reported on the stream that named it
    await eventually(() => dispatched.includes('recording.action.failed'), 2_000);
    expect(dispatched.filter((t) => t !== 'recording.action.failed')).toEqual(['peer.close.requested', 'peer.close.requested', 'recording.stop.timed-out']);
    runner.close();
  });

  it('a failed enqueueComposition is tried again until it passes', async () => {
    let calls = 0;
    const runner = createEffectRunner({
      logger,
      runtime: () => ({}) as Runtime,
      dispatch: async () => ({ accepted: true }) as never,
      handlers: {
        enqueueComposition: async () => {
          if (++calls === 1) throw new Error('queue unreachable');
        },
      },
    });
    await runner.act(event, [{ type: 'enqueueComposition', params: { jobId: 'j1' } }] as unknown as ExecutableAction[]);
    await eventually(() => calls === 2, 5_000);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(calls).toBe(2);
    runner.close();
  });
});
