import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openShard, shardOf } from '../../../src/log/shard-read.js';
import type { LoggedEvent } from '../../../src/log/types.js';
import { serialize, toStored } from '../../../src/log/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-shard-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (id: string, stream: string, position: number) =>
  serialize(
    toStored({ id, type: 'room.member.joined', stream, time: 1_000, causationId: null, correlationId: null, version: 1, data: { participantId: id, name: null, nodeId: 'n' } }, position),
  );

function write(name: string, lines: string[]) {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, end: statSync(file).size };
}

async function all(log: ReturnType<typeof openShard>['log'], options = {}) {
  const out: LoggedEvent[] = [];
  for await (const e of log.read(options)) out.push(e);
  return out;
}

describe('reading one shard of the embedded log', () => {
  const streams = ['room:a', 'room:b', 'room:c', 'room:d', 'room:e'];

  it('the shards together hold every valid line once, numbered by line; a bad line is reported by shard 0 only', async () => {
    const lines = streams.flatMap((s) => [line(`${s}-1`, s, 1), line(`${s}-2`, s, 2)]);
    lines.splice(3, 0, 'not json');
    const src = write('mixed.jsonl', lines);
    const shards = [0, 1, 2].map((shard) => openShard({ ...src, shard, shards: 3 }));
    const read = await Promise.all(shards.map((s) => all(s.log)));
    const seen = read.flat().sort((a, b) => a.seq - b.seq);
    expect(seen.map((e) => e.event.id)).toEqual(lines.filter((l) => l !== 'not json').map((l) => JSON.parse(l).id));
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10, 11]);
    for (const [k, s] of shards.entries()) {
      expect(read[k]!.every((e) => shardOf(e.event.stream, 3) === k)).toBe(true);
      expect(s.report.count).toBe(read[k]!.length);
      expect(s.report.mismatch).toBe(false);
      if (read[k]!.length) expect(s.report.last).toEqual({ line: read[k]!.at(-1)!.seq, eventId: read[k]!.at(-1)!.event.id });
    }
    expect(shards[0]!.report.problems.map((p) => p.line)).toEqual([4]);
    expect(shards[1]!.report.problems).toEqual([]);
    expect(Object.keys({ ...shards[0]!.report.firstLines, ...shards[1]!.report.firstLines, ...shards[2]!.report.firstLines }).sort()).toEqual(streams);
  });

  it('a read of one stream hands over only its events and leaves the report alone', async () => {
    const src = write('one.jsonl', streams.map((s) => line(`${s}-1`, s, 1)));
    const k = shardOf('room:c', 2);
    const { log, report } = openShard({ ...src, shard: k, shards: 2 });
    expect((await all(log, { stream: 'room:c' })).map((e) => e.event.id)).toEqual(['room:c-1']);
    expect(report.count).toBe(0);
    await expect(log.append('room:c', [])).rejects.toThrow(/read-only/);
  });

  it('a line whose stream is not where our writer puts it marks the split untrusted', async () => {
    const decoy = ['peer:x1', 'peer:x2', 'peer:x3', 'peer:x4'].find((s) => shardOf(s, 2) !== shardOf('room:a', 2))!;
    const reordered = JSON.stringify({ data: { stream: decoy, participantId: 'p', name: null, nodeId: 'n' }, id: 'r1', type: 'room.member.joined', stream: 'room:a', position: 1, time: 1, causationId: null, correlationId: null, version: 1 });
    const src = write('reordered.jsonl', [reordered]);
    const { log, report } = openShard({ ...src, shard: shardOf(decoy, 2), shards: 2 });
    await all(log);
    expect(report.mismatch).toBe(true);
  });
});
