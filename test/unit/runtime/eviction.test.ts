import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import type { EventLog } from '../../../src/log/types.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../../src/runtime/runtime.js';
import { shortMeeting } from '../../../tools/lib/short-meeting.js';
import { removeDir, tempDir } from '../../helpers/tmp.js';
import { eventually as waitUntil, sleep } from '../../helpers/wait.js';

const logger = pino({ level: 'silent' });
const GRACE = 40;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function open(dir?: string) {
  dir ??= await tempDir('mr-evict-');
  const d = dir;
  const log = await createEmbeddedLog({ file: join(d, 'events.jsonl'), fsync: false });
  cleanup.push(() => log.close());
  return { dir: d, log };
}

function runtime(log: EventLog, opts: Partial<RuntimeOptions> = {}): Runtime {
  const rt = createRuntime({ log, logger, actorGraceMs: GRACE, ...opts });
  rt.follow(); // as the app does: what a checkpoint covers advances
  cleanup.push(() => rt.close());
  return rt;
}

const liveStreams = (rt: Runtime) => new Set(rt.checkpoint()?.actors.map((a) => a.stream) ?? []);

describe('finished actors leave memory after the grace period', () => {
  it('evicts closed rooms and peers, stopped recordings and completed jobs; keeps what is live', async () => {
    const { dir, log } = await open();
    cleanup.push(() => removeDir(dir));
    // A grace period well beyond the 100 ms looked at below: a loaded machine's pauses must not end it early.
    const rt = runtime(log, { actorGraceMs: 1_500 });
    const done = await shortMeeting(rt, 'done', 'rec-done');
    const open_ = await shortMeeting(rt, 'open', 'rec-open', { close: false });
    const finished = [done.room, done.recording, ...done.peers, done.job!, open_.recording, ...open_.peers, open_.job!];
    expect(rt.stats()).toMatchObject({ live: 10, finishing: 9 });
    await sleep(100);
    expect(rt.stats().live).toBe(10); // still inside the grace period
    await waitUntil(() => rt.stats().live === 1, 10_000);
    expect(liveStreams(rt)).toEqual(new Set([open_.room]));
    expect(rt.stats()).toMatchObject({ live: 1, byKind: { room: 1, recording: 0, peer: 0, composition: 0 }, evicted: 9, finishing: 0 });
    // Recordings and jobs stay listed (bounded); rooms and peers are only in the log.
    expect(rt.list('recording').map((a) => a.stream).sort()).toEqual([done.recording, open_.recording].sort());
    expect(rt.get(done.peers[0])).toBeUndefined();
    expect(rt.get(done.room)).toBeUndefined();
    for (const s of finished) expect((await rt.read(s))?.position).toBeGreaterThan(0);
  });

  it('a stopped recording stays while its composition has not finished', async () => {
    const { dir, log } = await open();
    cleanup.push(() => removeDir(dir));
    const rt = runtime(log);
    const m = await shortMeeting(rt, 'r', 'rec', { complete: false });
    expect(rt.get(m.recording)?.value).toBe('stopped');
    expect(rt.get(m.job!)?.value).toBe('queued');
    await waitUntil(() => rt.stats().live === 2, 3_000); // room and peers gone
    await sleep(GRACE * 5);
    expect(liveStreams(rt)).toEqual(new Set([m.recording, m.job!]));
    await rt.dispatch({ stream: m.job!, type: 'composition.started', data: { attempt: 1, workerId: 'w', delivery: 1 } });
    await rt.dispatch({ stream: m.job!, type: 'composition.failed', data: { attempt: 1, error: 'boom', stderr: [] } });
    await sleep(GRACE * 5);
    expect(rt.get(m.job!)?.value).toBe('retrying'); // not finally failed: both stay
    expect(liveStreams(rt)).toEqual(new Set([m.recording, m.job!]));
    await rt.dispatch({ stream: m.job!, type: 'composition.retry.due', data: {} });
    await rt.dispatch({ stream: m.job!, type: 'composition.started', data: { attempt: 2, workerId: 'w', delivery: 1 } });
    await rt.dispatch({
      stream: m.job!,
      type: 'composition.completed',
      data: { attempt: 2, output: { file: 'x.webm', durationMs: 1000, sizeBytes: 1 }, skipped: [] },
    });
    await waitUntil(() => rt.stats().live === 0, 3_000);
  });

  it('reads an evicted actor back exactly as it was', async () => {
    const { dir, log } = await open();
    cleanup.push(() => removeDir(dir));
    // The grace period outlasts taking the snapshots below, however slow the machine (40 ms did not, under load).
    const rt = runtime(log, { keepFinished: 0, actorGraceMs: 1_500 });
    const m = await shortMeeting(rt, 'r', 'rec');
    const streams = [m.room, m.recording, ...m.peers, m.job!];
    const before = streams.map((s) => ({ s, snapshot: rt.get(s), position: rt.position(s), times: rt.times(s) }));
    expect(before.every((b) => b.snapshot !== undefined)).toBe(true);
    await waitUntil(() => rt.stats().live === 0, 10_000);
    expect(rt.stats().kept).toBe(0);
    for (const b of before) {
      expect(rt.get(b.s)).toBeUndefined();
      const a = await rt.read(b.s);
      expect(a).toBeDefined();
      expect({ value: a!.snapshot.value, context: a!.snapshot.context, status: a!.snapshot.status }).toEqual({
        value: b.snapshot!.value,
        context: b.snapshot!.context,
        status: b.snapshot!.status,
      });
      expect(a!.position).toBe(b.position);
      expect({ first: a!.firstTime, last: a!.lastTime }).toEqual(b.times);
    }
    expect(await rt.read('recording:never-seen')).toBeUndefined();
    expect(rt.stats().live).toBe(0); // reading does not make it live
  });

  it('an event to an evicted stream reads it back first: positions stay right', async () => {
    const { dir, log } = await open();
    cleanup.push(() => removeDir(dir));
    const rt = runtime(log, { keepFinished: 0 });
    const m = await shortMeeting(rt, 'r', 'rec');
    const roomPos = rt.position(m.room);
    await waitUntil(() => rt.stats().live === 0, 3_000);
    // A room opened again (the initial state takes the same event), and a room event the initial state refuses.
    const again = await rt.dispatch({ stream: m.room, type: 'room.member.joined', data: { participantId: 'h2', name: null, nodeId: 'n1' } });
    expect(again).toMatchObject({ accepted: true, event: { position: roomPos + 1 } });
    expect(again.accepted && again.snapshot.context.recordings).toEqual(['rec']);
    // A failed job evicted, retried on request.
    const job = 'composition:rec-c2';
    const d = (type: string, data: object) => rt.dispatch({ stream: job, type, data } as never);
    await d('composition.requested', { jobId: 'rec-c2', recordingId: 'rec', meetingId: 'r', layout: 'grid', format: 'webm', durationMs: 1000, maxAttempts: 1 });
    await d('composition.started', { attempt: 1, workerId: 'w', delivery: 1 });
    await d('composition.failed', { attempt: 1, error: 'boom', stderr: [] });
    expect(rt.get(job)?.value).toBe('failed');
    const failedAt = rt.position(job);
    await waitUntil(() => rt.get(job) === undefined, 3_000);
    const retry = await d('composition.retry.requested', {});
    expect(retry).toMatchObject({ accepted: true, event: { position: failedAt + 1 } });
    expect(rt.get(job)?.value).toBe('queued');
    expect(await log.position(job)).toBe(failedAt + 1);
    // mustExist finds an evicted stream in the log (a closed room refuses a recording: rejected, not unknown).
    await rt.dispatch({ stream: m.room, type: 'room.member.left', data: { participantId: 'h2', reason: 'left' } });
    await waitUntil(() => rt.get(m.room) === undefined, 3_000);
    const refused = await rt.dispatch(
      { stream: m.room, type: 'room.recording.requested', data: { recordingId: 'rec-x', layout: 'grid', format: 'webm' } },
      { mustExist: true },
    );
    expect(refused).toMatchObject({ accepted: false, reason: 'rejected' });
    // Read back for an event it refused, it leaves again.
    await waitUntil(() => rt.get(m.room) === undefined && rt.stats().finishing === 0, 3_000);
  });

  it('the checkpoint holds live actors (and the kept, bounded, listed ones); a restart from it works', async () => {
    const { dir, log } = await open();
    cleanup.push(() => removeDir(dir));
    const rt = runtime(log, { keepFinished: 1 });
    const a = await shortMeeting(rt, 'a', 'rec-a');
    const b = await shortMeeting(rt, 'b', 'rec-b');
    const c = await shortMeeting(rt, 'c', 'rec-c', { close: false });
    await waitUntil(() => rt.stats().live === 1, 3_000);
    const cp = rt.checkpoint()!;
    expect(cp.actors.map((x) => x.stream)).toEqual([c.room]);
    const kept = cp.kept!.map((x) => x.stream);
    expect(kept.length).toBeLessThanOrEqual(4); // at most twice keepFinished per listed kind
    expect(kept.every((s) => s.startsWith('recording:') || s.startsWith('composition:'))).toBe(true);
    await rt.close();
    await log.close();

    const { log: log2 } = await open(dir);
    const restarted = runtime(log2, { keepFinished: 1 });
    const r = await restarted.load(undefined, cp);
    expect(r.fromCheckpoint).toBe(true);
    expect(restarted.stats().live).toBe(1);
    expect(restarted.get(c.room)?.value).toBe('open');
    for (const s of [a.recording, b.job!, ...a.peers]) expect((await restarted.read(s))?.position).toBeGreaterThan(0);
    // The open room takes events; an evicted room opens again at the right position.
    expect((await restarted.dispatch({ stream: c.room, type: 'room.member.left', data: { participantId: 'c-h', reason: 'left' } })).accepted).toBe(true);
    const reopened = await restarted.dispatch({ stream: a.room, type: 'room.member.joined', data: { participantId: 'x', name: null, nodeId: 'n1' } });
    expect(reopened).toMatchObject({ accepted: true, event: { position: (await restarted.read(a.room))!.position } });

    // Without a checkpoint: the whole log folded, finished actors leave after the grace period again.
    const full = runtime(log2);
    await full.load();
    expect(full.stats().live).toBeGreaterThan(1);
    await waitUntil(() => full.stats().live === 1, 3_000);
    expect(full.get(a.room)?.value).toBe('open');
  });
});
