import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { shardOf } from '../../../src/log/shard-read.js';
import { createRuntime } from '../../../src/runtime/runtime.js';
import { meeting, view } from '../../helpers/meetings.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-shards-'));
const file = join(dir, 'events.jsonl');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(lines: string[]) {
  return pino({ level: 'info' }, new Writable({ write: (c, _e, done) => (lines.push(c.toString()), done()) }));
}

/** Loads the log once, sequentially or on `threads` threads; what a restart would end up with. */
async function load(threads: number | false) {
  const log = await createEmbeddedLog({ file, readOnly: true });
  const logs: string[] = [];
  const problems: string[] = [];
  const rt = createRuntime({ log, logger: capture(logs), shardedLoad: threads === false ? false : { minBytes: 0, threads } });
  const { folded } = await rt.load((p) => problems.push(p));
  rt.follow();
  const result = { folded, view: view(rt), checkpoint: rt.checkpoint(0), problems, sharded: logs.some((l) => l.includes('rebuilt on several threads')) };
  await rt.close();
  await log.close();
  return result;
}

describe('rebuilding a file log on several threads', () => {
  beforeAll(async () => {
    const log = await createEmbeddedLog({ file, fsync: false });
    let t = 1_800_000_000_000;
    const rt = createRuntime({ log, logger: pino({ level: 'silent' }), clock: () => (t += 10), shardedLoad: false });
    for (const room of ['a', 'b', 'c', 'd', 'e', 'f']) await meeting(rt, room, `rec-${room}`);
    await rt.close();
    await log.close();
    appendFileSync(file, 'not json\n{"id":"x","type":"room.opened"}\n'); // reported, skipped
    const more = await createEmbeddedLog({ file, fsync: false });
    const rt2 = createRuntime({ log: more, logger: pino({ level: 'silent' }), clock: () => (t += 10), shardedLoad: false });
    await rt2.load();
    await meeting(rt2, 'g', 'rec-g');
    await rt2.close();
    await more.close();
  });

  it.each([2, 3])('reaches exactly the state, sequence and reports of a fold in one thread (%i threads)', async (threads) => {
    const one = await load(false);
    const many = await load(threads);
    expect(many.sharded).toBe(true);
    expect(one.sharded).toBe(false);
    expect(many.folded).toBe(one.folded);
    expect(many.view).toEqual(one.view);
    expect(many.checkpoint).toEqual(one.checkpoint); // same last sequence and event id, same actors
    expect(many.problems).toEqual(one.problems);
    expect(one.problems).toHaveLength(2);
  });

  it('falls back to one thread when a line does not carry its stream where our writer puts it', async () => {
    const before = await load(false);
    // A valid event of room:a whose data, written first, names another stream that hashes elsewhere.
    const decoy = ['peer:x1', 'peer:x2', 'peer:x3', 'peer:x4'].find((s) => shardOf(s, 2) !== shardOf('room:a', 2))!;
    const position = (before.view['room:a'] as { position: number }).position + 1;
    appendFileSync(
      file,
      `${JSON.stringify({ data: { stream: decoy, participantId: 'late', name: null, nodeId: 'n1' }, id: 'reordered-1', type: 'room.member.joined', stream: 'room:a', position, time: 1_900_000_000_000, causationId: null, correlationId: null, version: 1 })}\n`,
    );
    const one = await load(false);
    const many = await load(2);
    expect(many.sharded).toBe(false);
    expect(many.view).toEqual(one.view);
    expect(many.checkpoint).toEqual(one.checkpoint);
    expect(readFileSync(file, 'utf8')).toContain('reordered-1');
  });
});
