import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineTail, runProcess } from '../../../src/process/run.js';

const sh = (script: string, opts?: Parameters<typeof runProcess>[2]) => runProcess('/bin/sh', ['-c', script], opts);

describe('runProcess', () => {
  it('collects stdout and the tail of stderr, and reports a non-zero exit without rejecting', async () => {
    const r = await sh('printf "out\\n"; for i in 1 2 3 4; do echo "err $i" >&2; done; exit 3', { keepLines: 2 });
    expect(r).toMatchObject({ exitCode: 3, signal: null, stderr: ['err 3', 'err 4'], aborted: false, timedOut: false });
    expect(r.stdout.toString()).toBe('out\n');
  });

  it('streams stdout to onStdout instead of collecting it, and caps what it collects', async () => {
    let seen = '';
    const streamed = await sh('printf abc', { onStdout: (d) => (seen += d) });
    expect(seen).toBe('abc');
    expect(streamed.stdout.length).toBe(0);
    expect((await sh('printf abcdef', { maxStdoutBytes: 4 })).stdout.toString()).toBe('abcd');
  });

  it('feeds a stream to stdin, written while the child runs, closed when it ends', async () => {
    const input = new PassThrough();
    const done = runProcess('/bin/sh', ['-c', 'wc -c']);
    const fed = runProcess('/bin/sh', ['-c', 'wc -c'], { stdin: input });
    input.write(Buffer.alloc(1000));
    input.end(Buffer.alloc(24));
    expect((await fed).stdout.toString().trim()).toBe('1024');
    expect((await done).stdout.toString().trim()).toBe('0'); // without it: no stdin at all
  });

  it('kills a run that outlasts its timeout', async () => {
    const r = await sh('sleep 5', { timeoutMs: 100 });
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
  });

  it('stops on abort', async () => {
    const ac = new AbortController();
    const p = sh('sleep 5', { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(await p).toMatchObject({ aborted: true, exitCode: null });
    expect(await sh('true', { signal: ac.signal })).toMatchObject({ aborted: true });
  });

  it('rejects only when the binary cannot be started', async () => {
    await expect(runProcess('/nonexistent/ffprobe', [])).rejects.toThrow(/ENOENT/);
  });
});

describe('lineTail', () => {
  it('keeps the last lines across chunks, dropping blank ones and cutting long ones', () => {
    const t = lineTail(2);
    t.push('a\n\nb');
    t.push('c\r\nd\n');
    t.push('x'.repeat(1200));
    expect(t.lines()).toEqual(['d', 'x'.repeat(1200)]);
    t.push('\n');
    expect(t.lines()[1]).toBe(`${'x'.repeat(1000)}…`);
  });
});
