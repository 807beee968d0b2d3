import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import type { EventLog } from '../../../src/log/types.js';
import { openOutboxFile, type OutboxFile } from '../../../src/runtime/outbox-file.js';
import { createRuntime, type Runtime } from '../../../src/runtime/runtime.js';
import { ev } from '../../helpers/events.js';
import { eventually } from '../../helpers/wait.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const requested = (jobId: string) => ({
  stream: `composition:${jobId}`,
  type: 'composition.requested' as const,
  data: { jobId, recordingId: 'r1', meetingId: 'm1', layout: 'grid' as const, format: 'webm' as const, durationMs: 1000, maxAttempts: 3 },
});

/**
 * One process on a real embedded log whose disk fails while `disk.failing` is
 * set, with its outbox file; `die()` leaves as a SIGKILL would: nothing is
 * drained, the outbox's retries stop, what it kept stays on disk.
 */
async function processOn(dir: string, opts: { failing?: boolean } = {}) {
  const disk = { failing: opts.failing ?? false };
  const write = (fh: FileHandle, buf: Buffer, offset: number, length: number) =>
    disk.failing ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) : fh.write(buf, offset, length);
  const log = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false, write });
  const outboxFile = await openOutboxFile({ file: join(dir, 'outbox-embedded-n1.jsonl'), logger, fsync: false });
  const enqueued: string[] = [];
  const rt = createRuntime({ log, logger, outboxFile, effects: { enqueueComposition: (p) => void enqueued.push(p.jobId) } });
  await rt.load();
  let closed = false;
  const die = async () => {
    if (closed) return;
    closed = true;
    await rt.close();
    await outboxFile.close();
    await log.close();
  };
  closers.push(die);
  return { rt, log, outboxFile, disk, enqueued, die };
}

async function logged(log: EventLog) {
  const out: { stream: string; type: string; id: string }[] = [];
  for await (const { event } of log.read()) out.push({ stream: event.stream, type: event.type, id: event.id });
  return out;
}

describe('the outbox on disk: events the log refused survive the process', () => {
  it('a kept effect result is appended once by the next process, under its own id, and its actions run there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-file-'));
    dirs.push(dir);
    const a = await processOn(dir);
    a.disk.failing = true;
    const r = await a.rt.dispatch(requested('j1'));
    expect(r.accepted).toBe(true); // kept: it is on disk before this answer
    const keptId = r.accepted ? r.event.id : '';
    expect(readFileSync(join(dir, 'outbox-embedded-n1.jsonl'), 'utf8')).toContain(keptId);
    expect(a.enqueued).toEqual([]);
    await a.die();

    const b = await processOn(dir);
    expect(b.outboxFile.pending().map((e) => e.draft.id)).toEqual([keptId]);
    expect(await b.rt.redeliver()).toMatchObject({ kept: 1, appended: 1, inLog: 0, refused: 0 });
    expect((await logged(b.log)).filter((e) => e.id === keptId)).toHaveLength(1);
    expect(b.rt.get('composition:j1')?.value).toBe('queued');
    expect(b.enqueued).toEqual(['j1']); // its transition's actions ran, once, in the process that appended it
    await eventually(() => readFileSync(join(dir, 'outbox-embedded-n1.jsonl'), 'utf8') === '', 5_000); // nothing kept: cut back

    await b.die();
    const c = await processOn(dir);
    expect(c.outboxFile.pending()).toEqual([]);
    expect(await c.rt.redeliver()).toMatchObject({ kept: 0 });
    expect((await logged(c.log)).filter((e) => e.id === keptId)).toHaveLength(1);
  });

  it('an event stored after all (the append failed late) is not appended twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-file-'));
    dirs.push(dir);
    const a = await processOn(dir);
    a.disk.failing = true;
    const r = await a.rt.dispatch(requested('j2'));
    expect(r.accepted).toBe(true);
    await a.die();
    const [kept] = (await openOutboxFile({ file: join(dir, 'outbox-embedded-n1.jsonl'), logger })).pending();

    // the log holds it (a publish that timed out but was stored), then a later event of its stream
    const direct = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
    await direct.append(kept.stream, [kept.draft], { expectedPosition: 0 });
    await direct.close();

    const b = await processOn(dir);
    expect(await b.rt.redeliver()).toMatchObject({ kept: 1, inLog: 1, appended: 0 });
    expect((await logged(b.log)).filter((e) => e.id === kept.draft.id)).toHaveLength(1);
    expect(b.outboxFile.pending()).toEqual([]);
  });

  it('kept events go back in order per stream; one the log no longer takes is refused and reported, not appended', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-file-'));
    dirs.push(dir);
    const a = await processOn(dir);
    const joined = (p: string) => ({ stream: 'room:r', type: 'room.member.joined' as const, data: { participantId: p, name: null, nodeId: 'n1' } });
    expect((await a.rt.dispatch(joined('h'))).accepted).toBe(true);
    a.disk.failing = true;
    for (const p of ['p1', 'p2', 'p3']) expect((await a.rt.dispatch(joined(p))).accepted).toBe(true);
    await a.die();

    // meanwhile another writer had p2 join: the kept join of p2 is no longer taken
    const other = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
    await other.append('room:r', [ev('room:r', 'room.member.joined', { participantId: 'p2', name: 'Other', nodeId: 'n1' })], { expectedPosition: 1 });
    await other.close();

    const b = await processOn(dir);
    expect(b.outboxFile.pending().map((e) => e.draft.data.participantId)).toEqual(['p1', 'p2', 'p3']);
    expect(await b.rt.redeliver()).toMatchObject({ kept: 3, appended: 2, refused: 1, inLog: 0 });
    const room = (await logged(b.log)).filter((e) => e.stream === 'room:r');
    expect(room).toHaveLength(4);
    const members = b.rt.get('room:r')?.context.members ?? {};
    expect(Object.keys(members).sort()).toEqual(['h', 'p1', 'p2', 'p3']);
    expect(members.p2?.name).toBe('Other');
    expect(b.outboxFile.pending()).toEqual([]);
  });

  it('a line torn by a crash is skipped, and the next write starts on a line of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-file-'));
    dirs.push(dir);
    const file = join(dir, 'outbox.jsonl');
    const one: OutboxFile = await openOutboxFile({ file, logger });
    const e = ev('room:t', 'room.member.joined', { participantId: 'a', name: null, nodeId: 'n' });
    await one.keep({ stream: 'room:t', draft: e, expectedPosition: 0 });
    await one.close();
    appendFileSync(file, '{"op":"kept","expectedPosition":1,"draft":{"id":"x');

    const two = await openOutboxFile({ file, logger });
    expect(two.pending().map((k) => k.draft.id)).toEqual([e.id]);
    const later = ev('room:t', 'room.member.joined', { participantId: 'b', name: null, nodeId: 'n' });
    await two.keep({ stream: 'room:t', draft: later, expectedPosition: 1 });
    await two.close();
    const three = await openOutboxFile({ file, logger });
    expect(three.pending().map((k) => k.draft.id)).toEqual([e.id, later.id]);
    await three.close();
  });
});

/** A runtime without a file still works as before (memory only). */
describe('without an outbox file', () => {
  it('redeliver has nothing to hand back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mr-outbox-file-'));
    dirs.push(dir);
    const log = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
    const rt: Runtime = createRuntime({ log, logger });
    closers.push(async () => {
      await rt.close();
      await log.close();
    });
    await rt.load();
    expect(await rt.redeliver()).toMatchObject({ kept: 0 });
  });
});
