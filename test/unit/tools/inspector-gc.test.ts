import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { collectGarbage, inspectorUrlOf } from '../../../tools/lib/inspector-gc.js';

// A child that fills its young generation with garbage, then answers each stdin line with its heap figures.
const CHILD = `
const v8 = require('node:v8');
let junk = [];
for (let i = 0; i < 400000; i++) { junk.push({ i, s: 'x' + i }); if (junk.length > 50000) junk = []; }
junk = null;
require('node:readline').createInterface({ input: process.stdin }).on('line', () => {
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
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
      const figures = async () => {
        child.stdin!.write('\n');
        return JSON.parse((await lines.next()).value as string) as { newSpace: number };
      };
      const before = await figures();
      expect(before.newSpace).toBeGreaterThan(1024 * 1024);
      await collectGarbage(url);
      const after = await figures();
      expect(after.newSpace).toBeLessThan(before.newSpace / 4);
      await expect(collectGarbage('ws://127.0.0.1:1/none', 2_000)).rejects.toThrow();
    } finally {
      child.kill();
    }
  }, 30_000);
});
