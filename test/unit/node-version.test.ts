import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { logNodeVersion, nodeVersionStatus } from '../../src/node-version.js';

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);

function capture() {
  const lines: { level: number; msg: string; node?: string; endOfLife?: string }[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('nodeVersionStatus', () => {
  it('knows each LTS line until its end of life, and past it', () => {
    expect(nodeVersionStatus('v20.20.2', day('2026-04-30'))).toEqual({ kind: 'lts', major: 20, endOfLife: '2026-04-30' });
    expect(nodeVersionStatus('v20.20.2', day('2026-05-01'))).toEqual({ kind: 'end-of-life', major: 20, endOfLife: '2026-04-30' });
    expect(nodeVersionStatus('v22.23.3', day('2026-12-01'))).toEqual({ kind: 'lts', major: 22, endOfLife: '2027-04-30' });
    expect(nodeVersionStatus('v24.21.0', day('2026-12-01'))).toEqual({ kind: 'lts', major: 24, endOfLife: '2028-04-30' });
    expect(nodeVersionStatus('v24.21.0', day('2028-05-01')).kind).toBe('end-of-life');
  });

  it('calls an odd major not LTS, a newer even one unknown, an older one past its end of life', () => {
    expect(nodeVersionStatus('v25.1.0', day('2026-12-01'))).toEqual({ kind: 'not-lts', major: 25 });
    expect(nodeVersionStatus('v26.10.0', day('2026-12-01'))).toEqual({ kind: 'unknown', major: 26 });
    expect(nodeVersionStatus('v16.20.2', day('2026-12-01'))).toEqual({ kind: 'end-of-life', major: 16, endOfLife: null });
  });
});

describe('logNodeVersion', () => {
  it('logs the version at info and warns on a line past its end of life, naming the maintained ones', () => {
    const { logger, lines } = capture();
    logNodeVersion(logger, 'v20.20.2', day('2026-12-01'));
    expect(lines[0]).toMatchObject({ level: 30, node: 'v20.20.2', endOfLife: '2026-04-30' });
    expect(lines[1]).toMatchObject({ level: 40, node: 'v20.20.2', endOfLife: '2026-04-30' });
    expect(lines[1].msg).toMatch(/Node\.js 20 is past its end of life \(2026-04-30\).*\(22, 24\)/);
    expect(lines).toHaveLength(2);
  });

  it('only logs the version on a maintained LTS line or a newer unknown one', () => {
    for (const v of ['v22.23.3', 'v24.21.0', 'v26.10.0']) {
      const { logger, lines } = capture();
      logNodeVersion(logger, v, day('2026-12-01'));
      expect(lines, v).toHaveLength(1);
      expect(lines[0], v).toMatchObject({ level: 30, node: v });
    }
  });

  it('notes an odd major without warning', () => {
    const { logger, lines } = capture();
    logNodeVersion(logger, 'v25.1.0', day('2026-12-01'));
    expect(lines.map((l) => l.level)).toEqual([30, 30]);
    expect(lines[1].msg).toMatch(/not an LTS line/);
  });

  it('runs on the Node.js the CI run meant (.ci/run sets CI_NODE_VERSION for each run)', () => {
    expect(process.version).toBe(process.env.CI_NODE_VERSION ?? process.version);
  });
});
