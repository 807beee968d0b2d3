import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { MACHINES_VERSION } from '../../../machines/index.js';
import { createCheckpointScheduler, createFileCheckpointStore, type Checkpoint } from '../../../src/runtime/checkpoint.js';
import { createRuntime } from '../../../src/runtime/runtime.js';
import { meeting, view } from '../../helpers/meetings.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'mr-checkpoint-'));
const file = join(dir, 'events.jsonl');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpoints', () => {
  let cp: Checkpoint;

  it('a restart from a checkpoint folds only the tail and reaches exactly the state of a full fold', async () => {
    const log = await createEmbeddedLog({ file, fsync: false });
    let t = 1_800_000_000_000;
    const rt = createRuntime({ log, logger, clock: () => (t += 10) });
    rt.follow();
    await meeting(rt, 'a', 'rec-a');
    cp = rt.checkpoint()!;
    expect(cp).not.toBeNull();
    await meeting(rt, 'b', 'rec-b'); // after the checkpoint
    await rt.close();
    await log.close();

    const log2 = await createEmbeddedLog({ file, fsync: false });
    const restored = createRuntime({ log: log2, logger });
    const r = await restored.load(undefined, cp);
    const full = createRuntime({ log: log2, logger });
    const f = await full.load();
    expect(r.fromCheckpoint).toBe(true);
    expect(r.folded).toBe(f.folded - cp.seq);
    expect(view(restored)).toEqual(view(full));
    // and it keeps working: the restored actors take new events like the folded ones
    const next = await restored.dispatch({ stream: 'composition:rec-b-job', type: 'composition.started', data: { attempt: 1, workerId: 'w', delivery: 1 } });
    expect(next.accepted).toBe(true);
    await restored.close();
    await full.close();
    await log2.close();
  });

  it('a checkpoint of another log is ignored: full fold', async () => {
    const log = await createEmbeddedLog({ file, fsync: false });
    const rt = createRuntime({ log, logger });
    const r = await rt.load(undefined, { ...cp, eventId: 'from-another-log' });
    expect(r.fromCheckpoint).toBe(false);
    const full = createRuntime({ log, logger });
    await full.load();
    expect(view(rt)).toEqual(view(full));
    await log.close();
  });

  it('is stored atomically and a corrupt file is ignored', async () => {
    const store = createFileCheckpointStore(join(dir, 'cp.json'));
    expect(await store.load()).toBeNull();
    await store.save(cp);
    expect(await store.load()).toEqual(cp);
    writeFileSync(join(dir, 'cp.json'), '{"version":1,"seq":');
    const problems: string[] = [];
    expect(await createFileCheckpointStore(join(dir, 'cp.json'), (m) => problems.push(m)).load()).toBeNull();
    expect(problems[0]).toMatch(/ignored/);
  });

  it('one taken with machines of another context shape is ignored', async () => {
    const file = join(dir, 'old.json');
    writeFileSync(file, JSON.stringify({ ...cp, machines: MACHINES_VERSION - 1 }));
    const problems: string[] = [];
    expect(await createFileCheckpointStore(file, (m) => problems.push(m)).load()).toBeNull();
    expect(problems[0]).toMatch(/machines version/);
    const { machines: _, ...withoutVersion } = cp;
    writeFileSync(file, JSON.stringify(withoutVersion));
    expect(await createFileCheckpointStore(file).load()).toBeNull();
  });

  it('is not taken while a dispatch is under way', async () => {
    const log = await createEmbeddedLog({ file: join(dir, 'busy.jsonl'), fsync: true });
    const rt = createRuntime({ log, logger });
    rt.follow();
    await rt.dispatch({ stream: 'room:x', type: 'room.member.joined', data: { participantId: 'h', name: null, nodeId: 'n' } });
    const pending = rt.dispatch({ stream: 'room:x', type: 'room.member.joined', data: { participantId: 'p', name: null, nodeId: 'n' } });
    expect(rt.checkpoint()).toBeNull();
    await pending;
    expect(rt.checkpoint()?.seq).toBe(2);
    await rt.close();
    await log.close();
  });
});

describe('checkpoint scheduling', () => {
  /** A runtime that is at `seq`, and a store that records what it was handed. */
  function given(seq: number) {
    const state = { seq, busy: false };
    const runtime = {
      checkpoint: (): Checkpoint | null =>
        state.busy ? null : { version: 1, machines: MACHINES_VERSION, seq: state.seq, eventId: `e${state.seq}`, takenAt: 0, actors: [] },
      get lastSeq() {
        return state.seq;
      },
    };
    const saved: number[] = [];
    const store = { load: async () => null, save: async (c: Checkpoint) => void saved.push(c.seq) };
    return { state, saved, scheduler: createCheckpointScheduler({ runtime, store, logger, everyMs: 1_000, minEvents: 10 }) };
  }

  it('takes one at start, then on schedule once enough events are durable, and a last one at stop', async () => {
    vi.useFakeTimers();
    try {
      const { state, saved, scheduler } = given(5);
      await scheduler.start();
      expect(saved).toEqual([5]);
      state.seq = 14; // 9 more: not yet worth it
      await vi.advanceTimersByTimeAsync(1_000);
      expect(saved).toEqual([5]);
      state.seq = 15;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(saved).toEqual([5, 15]);
      state.seq = 16;
      await scheduler.stop();
      expect(saved).toEqual([5, 15, 16]);
      state.seq = 100;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(saved).toEqual([5, 15, 16]); // stopped: nothing more on schedule
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes nothing new when nothing changed or a dispatch is under way, and survives a failed write', async () => {
    const { state, saved, scheduler } = given(3);
    await scheduler.start();
    await scheduler.stop(); // same sequence: not written again
    expect(saved).toEqual([3]);
    state.seq = 4;
    state.busy = true;
    await scheduler.stop();
    expect(saved).toEqual([3]);

    const failing = createCheckpointScheduler({
      runtime: { checkpoint: () => ({ version: 1, machines: MACHINES_VERSION, seq: 1, eventId: 'e1', takenAt: 0, actors: [] }), lastSeq: 1 },
      store: { load: async () => null, save: () => Promise.reject(new Error('disk full')) },
      logger,
    });
    await expect(failing.start()).resolves.toBeUndefined();
    await expect(failing.stop()).resolves.toBeUndefined();
  });
});
