import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLines, type Line } from '../../../src/log/lines.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-lines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The lines of `bytes` as the reader must report them: text decoded per line, byte offsets. */
function expected(bytes: Buffer): Line[] {
  const out: Line[] = [];
  let s = 0;
  for (let nl = bytes.indexOf(10, s); nl !== -1; nl = bytes.indexOf(10, s)) {
    out.push({ text: bytes.toString('utf8', s, nl), offset: s, terminated: true });
    s = nl + 1;
  }
  if (s < bytes.length) out.push({ text: bytes.toString('utf8', s), offset: s, terminated: false });
  return out;
}

async function read(file: string, end: number, chunkSize: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const lines of readLines(file, 0, end, chunkSize)) out.push(...lines);
  return out;
}

describe('readLines', () => {
  const cases: Record<string, Buffer> = {
    ascii: Buffer.from('{"a":1}\n{"b":"two"}\n\n{"c":3}\n'),
    'multi-byte characters': Buffer.from('{"name":"Zoë"}\n{"cur":"€"}\n{"e":"🎙️"}\nplain\n'),
    'invalid bytes': Buffer.concat([Buffer.from('ok\n'), Buffer.from([0xff, 0x41, 0x0a, 0xe2, 0x82, 0x0a]), Buffer.from('after\n')]),
    'torn last line': Buffer.from('{"a":1}\n{"b":"é'),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    it(`${name}: texts and byte offsets match a per-line decode at every chunk size`, async () => {
      const file = join(dir, `${name.replace(/\W/g, '_')}.jsonl`);
      writeFileSync(file, bytes);
      for (const chunkSize of [1, 2, 3, 5, 7, 16, 1 << 20]) {
        expect(await read(file, bytes.length, chunkSize), `chunk ${chunkSize}`).toEqual(expected(bytes));
      }
    });
  }
});
