import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { collectGarbage, inspectorUrlOf } from '../../../tools/lib/inspector-gc.js';

// A child that answers each stdin line with its heap figures. On "fill" it first allocates short-lived
// garbage until half of its young generation, as large as it is right now, is used: a fixed amount would
// be scavenged away already or not fill it at all, depending on the Node version's semi-space sizing.
const CHILD = `
const v8 = require('node:v8');
const newSpace = () => v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
let keep = null;
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'fill') {
    for (let n = 0; n < 1e7; n++) {
      keep = { n, s: 'x' + n };
      if (n % 1000 === 0) { const s = newSpace(); if (s.space_used_size > s.space_size / 2) break; }
    }
    keep = null;
  }
  const s = newSpace();
  console.log(JSON.stringify({ newSpace: s.space_used_size }));
});
console.log('ready');
`;

describe('tools/lib/inspector-gc', () => {
  it('reads the inspector URL from stderr', () => {
    expect(inspectorUrlOf('Debugger listening on ws://127.0.0.1:40123/0f1e-2d\nFor help, see: https://nodejs.org/en/docs/inspector\n')).toBe('ws://127.0.0.1:40123/0f1e-2d');
    expect(inspectorUrlOf('nothing here')).toBeNull();
  });

  it("collects another process's garbage: its young generation is empty afterwards", async () => {
    const child = spawn(process.execPath, ['--max-semi-space-size=64', '--inspect=127.0.0.1:0', '-e', CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr!.on('data', (d) => {
          stderr += d;
          const u = inspectorUrlOf(stderr);
          if (u) resolve(u);
        });
        child.once('exit', (code) => reject(new Error(`child exited ${code}: ${stderr}`)));
      });
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      expect((await lines.next()).value).toBe('ready');
      const figures = async (line = '') => {
        child.stdin!.write(`${line}\n`);
        return JSON.parse((await lines.next()).value as string) as { newSpace: number };
      };
      const before = await figures('fill');
      expect(before.newSpace).toBeGreaterThan(256 * 1024);
      await collectGarbage(url);
      const after = await figures();
      expect(after.newSpace).toBeLessThan(before.newSpace / 4);
      await expect(collectGarbage('ws://127.0.0.1:1/none', 2_000)).rejects.toThrow();
    } finally {
      child.kill();
    }
  }, 30_000);
});
