import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../src/log/embedded.js';
import { ev, readAll } from './events.js';
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

  it('group-commits appends in flight and keeps them all', async () => {
    const log = await createEmbeddedLog({ file, fsync: true });
    const appends = Array.from({ length: 2000 }, (_, i) => log.append(`peer:g${i % 50}`, [ev(`peer:g${i % 50}`)]));
    const stored = (await Promise.all(appends)).flat();
    expect(stored).toHaveLength(2000);
    expect(await readAll(log)).toHaveLength(2000);
    await log.close();
  });
});
