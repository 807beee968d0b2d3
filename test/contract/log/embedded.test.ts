import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { CheckpointMismatchError, type LoggedEvent } from '../../../src/log/types.js';
import { ev } from '../../helpers/events.js';
import { readAll } from './read-all.js';
import { eventLogContract } from './log.contract.js';

eventLogContract('embedded', {
  sharedStore: false,
  async fresh() {
    const dir = await mkdtemp(join(tmpdir(), 'mr-log-'));
    const file = join(dir, '.eventlog', 'events.jsonl');
    return {
      open: () => createEmbeddedLog({ file }),
      injectRaw: (_stream, text) => appendFile(file, `${text}\n`),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

describe('embedded log file recovery', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mr-log-'));
    file = join(dir, 'events.jsonl');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  function capturingLogger(lines: string[]) {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return pino({ level: 'warn' }, sink);
  }

  it('reads a stream whole with an index saved before it named streams\' first events', async () => {
    const log = await createEmbeddedLog({ file });
    await log.append('room:old', [ev('room:old'), ev('room:old')]);
    for (let i = 0; i < 30; i++) await log.append(`peer:x.${i}`, Array.from({ length: 100 }, () => ev(`peer:x.${i}`)));
    await log.close();
    const indexFile = `${file}.index.json`;
    const { firsts, ...older } = JSON.parse(await readFile(indexFile, 'utf8'));
    expect(firsts).toContainEqual(['room:old', 1]);
    await writeFile(indexFile, JSON.stringify(older));

    const reopened = await createEmbeddedLog({ file, duplicateWindow: 100 }); // a window shorter than the log: the saved index is used
    await reopened.append('room:old', [ev('room:old')], { expectedPosition: 2 });
    expect((await readAll(reopened, { stream: 'room:old' })).map((e) => e.event.position)).toEqual([1, 2, 3]);
    expect((await readAll(reopened, { stream: 'peer:x.29' })).map((e) => e.seq)).toEqual(
      (await readAll(reopened)).filter((e) => e.event.stream === 'peer:x.29').map((e) => e.seq),
    );
    await reopened.close();
  });

  it('skips a torn last line, reports it, and starts the next append on a fresh line', async () => {
    const log = await createEmbeddedLog({ file });
    await log.append('room:t', [ev('room:t'), ev('room:t')]);
    await log.close();
    await appendFile(file, '{"id":"torn","type":"room.op'); // crash mid-write

    const warnings: string[] = [];
    const reopened = await createEmbeddedLog({ file, logger: capturingLogger(warnings) });
    expect(warnings.join('')).toMatch(/torn last line 3/);
    const problems: string[] = [];
    expect(await readAll(reopened, {}, problems)).toHaveLength(2);
    expect(problems).toEqual([expect.stringMatching(/torn last line 3/)]);

    const [third] = await reopened.append('room:t', [ev('room:t')]);
    expect(third.position).toBe(3);
    const after = await readAll(reopened, {}, problems);
    expect(after.map((e) => [e.seq, e.event.position])).toEqual([[1, 1], [2, 2], [3, 3]]);
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines).toHaveLength(5); // 2 events, the torn line, the new event, '' after the final newline
    expect(JSON.parse(lines[3])).toEqual(third);
    await reopened.close();
  });

  it('keeps a complete last event whose newline was lost', async () => {
    const log = await createEmbeddedLog({ file });
    const [e1] = await log.append('room:n', [ev('room:n')]);
    await log.close();
    await writeFile(file, (await readFile(file, 'utf8')).trimEnd());

    const reopened = await createEmbeddedLog({ file });
    expect(await reopened.position('room:n')).toBe(1);
    await reopened.append('room:n', [ev('room:n')]);
    expect((await readAll(reopened)).map((e) => e.event.position)).toEqual([1, 2]);
    expect((await readAll(reopened))[0].event).toEqual(e1);
    await reopened.close();
  });

  it('skips and reports garbage lines in the middle; seq counts valid events only', async () => {
    const log = await createEmbeddedLog({ file });
    await log.append('room:m', [ev('room:m')]);
    await log.close();
    await appendFile(file, 'garbage\n{"id":"1","stream":"room:m"}\n');
    const again = await createEmbeddedLog({ file });
    await again.append('room:m', [ev('room:m')]);
    const problems: string[] = [];
    const events = await readAll(again, {}, problems);
    expect(events.map((e) => [e.seq, e.event.position])).toEqual([[1, 1], [2, 2]]);
    expect(problems).toEqual([expect.stringMatching(/^line 2 .*not JSON/), expect.stringMatching(/^line 3 /)]);
    await again.close();
  });

  describe('saved index', () => {
    const opened = (lines: string[]) => lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'event log opened');
    async function fill(log: Awaited<ReturnType<typeof createEmbeddedLog>>, count: number) {
      for (let i = 0; i < count; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => log.append(`peer:i${(i + k) % 40}`, [ev(`peer:i${(i + k) % 40}`)])));
      }
    }
    const infoLogger = (lines: string[]) =>
      pino({ level: 'info' }, new Writable({ write: (c, _e, done) => (lines.push(c.toString()), done()) }));

    it('reopens by reading only what the saved index does not cover, and loses nothing', async () => {
      const log = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 100 });
      await fill(log, 3000);
      await log.close();
      const saved = await readFile(`${file}.index.json`, 'utf8');
      const reopen1: string[] = [];
      const again = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 100, logger: infoLogger(reopen1) });
      const info = opened(reopen1);
      expect(info.events).toBe(3000);
      // From the mark before the last 100 events (marks are 1,024 events apart), not the whole file.
      expect(info.readFromByte).toBeGreaterThan(0.6 * info.bytes);
      // Appends go on at the right positions; everything reads back in order.
      const [next] = await again.append('peer:i0', [ev('peer:i0')]);
      expect(next.position).toBe(76);
      await fill(again, 500);
      const all = await readAll(again);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 3501 }, (_, i) => i + 1));
      // A checkpoint far back is found through the index's marks.
      const tail: LoggedEvent[] = [];
      for await (const e of again.read({ after: { seq: 1234, eventId: all[1233]!.event.id } })) tail.push(e);
      expect(tail).toEqual(all.slice(1234));
      await expect(readAll(again, { after: { seq: 1234, eventId: all[1232]!.event.id } })).rejects.toBeInstanceOf(CheckpointMismatchError);
      await expect(readAll(again, { after: { seq: 9999, eventId: 'x' } })).rejects.toBeInstanceOf(CheckpointMismatchError);
      // Duplicate-drop covers the window: a recent id is answered with its copy, an old one is not remembered.
      const recent = all.at(-3)!.event;
      expect(await again.append(recent.stream, [{ ...recent }])).toEqual([recent]);
      expect(await readAll(again)).toHaveLength(3501);
      const old = all[4]!.event;
      const [stored] = await again.append(old.stream, [{ ...old }]);
      expect(stored.position).toBeGreaterThan(old.position);
      all.push((await readAll(again)).at(-1)!);
      // A crash after more appends: the index on disk is the older one; the reopen reads on from it.
      await again.close();
      await writeFile(`${file}.index.json`, saved);
      const third = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 100 });
      expect(await readAll(third)).toEqual(all);
      expect(await third.position('peer:i0')).toBe(all.filter((e) => e.event.stream === 'peer:i0').length);
      await third.close();
    });

    it('is ignored, with a warning, when it is unreadable or belongs to another file', async () => {
      const log = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 10 });
      await fill(log, 2100);
      await log.close();
      const reader = await createEmbeddedLog({ file, fsync: false });
      const all = await readAll(reader);
      await reader.close();

      await writeFile(`${file}.index.json`, '{"version":1,"size":');
      const warnings: string[] = [];
      const a = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 10, logger: capturingLogger(warnings) });
      expect(warnings.join('')).toMatch(/index unreadable/);
      expect(await readAll(a)).toEqual(all);
      await a.close(); // saves a good index again

      // The log is replaced by another one at least as long: its marks do not match.
      const other = join(dir, 'other.jsonl');
      const b = await createEmbeddedLog({ file: other, fsync: false });
      await fill(b, 2200);
      await b.close();
      await writeFile(file, await readFile(other));
      const warnings2: string[] = [];
      const c = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 10, logger: capturingLogger(warnings2) });
      expect(warnings2.join('')).toMatch(/does not match the log/);
      const otherReader = await createEmbeddedLog({ file: other });
      expect((await readAll(c)).map((e) => e.event.id)).toEqual((await readAll(otherReader)).map((e) => e.event.id));
      await c.close();
      await otherReader.close();
    });

    it('a read-only reader uses it, refuses appends and writes nothing', async () => {
      const log = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 10 });
      await fill(log, 1200);
      await log.close();
      const before = await readFile(`${file}.index.json`, 'utf8');
      await appendFile(file, `${JSON.stringify({ ...(await readAll(await createEmbeddedLog({ file, readOnly: true }))).at(-1)!.event, id: 'extra', position: 999 })}\n`);
      const lines: string[] = [];
      const reader = await createEmbeddedLog({ file, readOnly: true, logger: infoLogger(lines) });
      expect(opened(lines).readFromByte, lines.join("")).toBeGreaterThan(0);
      expect(await readAll(reader)).toHaveLength(1201);
      await expect(reader.append('peer:i1', [ev('peer:i1')])).rejects.toThrow(/read-only/);
      await reader.close();
      expect(await readFile(`${file}.index.json`, 'utf8')).toBe(before);
    });

    it('a torn line after the indexed part is reported and appends start on a fresh line', async () => {
      const log = await createEmbeddedLog({ file, fsync: false, duplicateWindow: 10 });
      await fill(log, 1500);
      await log.close();
      await appendFile(file, '{"id":"torn","type":"room.op');
      const warnings: string[] = [];
      const again = await createEmbeddedLog({ file, logger: capturingLogger(warnings) });
      expect(warnings.join('')).toMatch(/torn last line 1501/);
      const [e] = await again.append('peer:i1', [ev('peer:i1')]);
      const all = await readAll(again);
      expect(all).toHaveLength(1501);
      expect(all.at(-1)!.event).toEqual(e);
      await again.close();
    });
  });

  it('group-commits appends in flight and keeps them all', async () => {
    const log = await createEmbeddedLog({ file, fsync: true });
    const appends = Array.from({ length: 2000 }, (_, i) => log.append(`peer:g${i % 50}`, [ev(`peer:g${i % 50}`)]));
    const stored = (await Promise.all(appends)).flat();
    expect(stored).toHaveLength(2000);
    expect(await readAll(log)).toHaveLength(2000);
    await log.close();
  });
});

describe('embedded log after a failed write', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mr-log-'));
    file = join(dir, 'events.jsonl');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A disk that fails while `failing` is set, after writing half of what it was handed (a torn write). */
  function flakyDisk() {
    const disk = { failing: false };
    const write = async (fh: import('node:fs/promises').FileHandle, buf: Buffer, offset: number, length: number) => {
      if (!disk.failing) return fh.write(buf, offset, length);
      await fh.write(buf, offset, Math.floor(length / 2));
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    };
    return { disk, write };
  }

  it('refuses the failed append, cuts the torn tail off, and takes the next one at the same position', async () => {
    const { disk, write } = flakyDisk();
    const log = await createEmbeddedLog({ file, write });
    await log.append('room:a', [ev('room:a')]);
    disk.failing = true;
    const lost = ev('room:a');
    const other = ev('room:b');
    const results = await Promise.allSettled([log.append('room:a', [lost], { expectedPosition: 1 }), log.append('room:b', [other])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await log.position('room:a')).toBe(1);
    disk.failing = false;
    // the same event again (an outbox retry): written once, at the position it was meant for
    const [again] = await log.append('room:a', [lost], { expectedPosition: 1 });
    expect(again).toMatchObject({ id: lost.id, position: 2 });
    await log.append('room:b', [other]);
    const events = (await readAll(log)).map((e) => [e.seq, e.event.id]);
    expect(events.map(([, id]) => id)).toEqual([events[0][1], lost.id, other.id]);
    expect(events.map(([seq]) => seq)).toEqual([1, 2, 3]);
    await log.close();
    // the file holds whole lines only, and a fresh open agrees
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    expect(lines.length).toBe(3);
    const reopened = await createEmbeddedLog({ file });
    expect((await readAll(reopened)).map((e) => e.event.id)).toEqual([events[0][1], lost.id, other.id]);
    expect(await reopened.position('room:a')).toBe(2);
    await reopened.close();
  });

  it('keeps refusing while the disk fails, and appends again as soon as it does not', async () => {
    const { disk, write } = flakyDisk();
    const log = await createEmbeddedLog({ file, write });
    disk.failing = true;
    for (let i = 0; i < 3; i++) await expect(log.append('room:c', [ev('room:c')])).rejects.toThrow(/EIO/);
    disk.failing = false;
    const [e] = await log.append('room:c', [ev('room:c')], { expectedPosition: 0 });
    expect(e.position).toBe(1);
    await log.close();
    expect((await readFile(file, 'utf8')).split('\n').filter(Boolean).length).toBe(1);
  });
});
