import { eventually } from '../../helpers/wait.js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startDiskGuard } from '../../../src/health/disk-guard.js';
import { createDiskMonitor, type DiskProbe } from '../../../src/health/disk.js';
import { createReadiness, watchAppends } from '../../../src/health/readiness.js';
import { ConcurrencyError, type EventLog } from '../../../src/log/types.js';

const logger = pino({ level: 'silent' });
const MB = 1024 * 1024;

/** Two folders; /log is on another filesystem unless told otherwise. */
function fakeProbe(free: Record<string, number>, devices: Record<string, number> = { '/rec': 1, '/log': 2 }): DiskProbe & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async freeBytes(dir) {
      calls.push(dir);
      if (!(dir in free)) throw new Error('ENOENT');
      return free[dir]!;
    },
    async deviceOf(dir) {
      return devices[dir]!;
    },
  };
}

describe('disk monitor (MIN_FREE_DISK_MB)', () => {
  it('reads each filesystem once and says which one is below the reserve', async () => {
    const free = { '/rec': 100 * MB, '/log': 100 * MB };
    const probe = fakeProbe(free);
    const m = createDiskMonitor({ dirs: ['/rec', '/log'], minFreeBytes: 50 * MB, intervalMs: 1000, logger, probe });
    expect((await m.check()).ok).toBe(true);
    free['/log'] = 10 * MB;
    const low = await m.check();
    expect(low.ok).toBe(false);
    expect(low.reasons).toEqual(['/log: 10.0 MB free, below MIN_FREE_DISK_MB (50.0 MB)']);
    expect(m.status).toBe(low);

    const same = fakeProbe({ '/rec': 1 * MB, '/log': 1 * MB }, { '/rec': 1, '/log': 1 });
    const one = createDiskMonitor({ dirs: ['/rec', '/log'], minFreeBytes: 50 * MB, intervalMs: 1000, logger, probe: same });
    expect((await one.check()).readings.map((r) => r.dir)).toEqual(['/rec']);
  });

  it('a reserve of 0 never trips on space; a statfs that fails always does', async () => {
    const m = createDiskMonitor({ dirs: ['/rec'], minFreeBytes: 0, intervalMs: 1000, logger, probe: fakeProbe({ '/rec': 0 }) });
    expect((await m.check()).ok).toBe(true);
    const broken = createDiskMonitor({ dirs: ['/rec'], minFreeBytes: 0, intervalMs: 1000, logger, probe: fakeProbe({}) });
    expect((await broken.check()).reasons[0]).toMatch(/^\/rec: free space unknown/);
  });

  it('polls at its interval and tells its listeners every check', async () => {
    const m = createDiskMonitor({ dirs: ['/rec'], minFreeBytes: MB, intervalMs: 20, logger, probe: fakeProbe({ '/rec': 0 }) });
    const seen: boolean[] = [];
    m.onCheck((s) => seen.push(s.ok));
    await m.start();
    await eventually(() => seen.length >= 3, 5_000, 5); // three intervals, however late a loaded machine fires them
    m.close();
    expect(seen.every((ok) => !ok)).toBe(true);
    const n = seen.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(seen.length).toBe(n);
  });
});

describe('disk guard', () => {
  it('stops the running recordings this node owns with reason disk-low, once', async () => {
    const free = { '/rec': 100 * MB };
    const monitor = createDiskMonitor({ dirs: ['/rec'], minFreeBytes: 50 * MB, intervalMs: 1000, logger, probe: fakeProbe(free) });
    const dispatched: any[] = [];
    const recs = [
      { id: 'mine', room: 'r1', value: 'recording' },
      { id: 'theirs', room: 'r2', value: 'recording' },
      { id: 'done', room: 'r1', value: 'stopped' },
    ];
    const runtime: any = {
      list: () => recs.map((r) => ({ stream: `recording:${r.id}`, snapshot: { value: r.value, context: { recordingId: r.id, roomId: r.room } } })),
      get: (stream: string) => ({ context: { nodeId: stream === 'room:r1' ? 'n1' : 'n2' } }),
      dispatch: async (e: any) => {
        dispatched.push(e);
        recs.find((r) => `recording:${r.id}` === e.stream)!.value = 'stopping';
        return { accepted: true };
      },
    };
    const guard = startDiskGuard({ runtime, monitor, nodeId: 'n1', logger });
    await monitor.check();
    expect(dispatched).toEqual([]);
    free['/rec'] = 10 * MB;
    await monitor.check();
    await monitor.check();
    await new Promise((r) => setImmediate(r));
    expect(dispatched).toEqual([
      {
        stream: 'recording:mine',
        type: 'recording.stop.requested',
        data: { reason: 'disk-low', compose: true, compositionJobId: 'mine-c1' },
        correlationId: 'mine',
      },
    ]);
    guard.close();
  });
});

describe('readiness', () => {
  const fakeLog = (append: () => Promise<any>, position: () => Promise<number> = async () => 0) =>
    ({ kind: 'embedded', append, position, close: async () => {} }) as unknown as EventLog;

  it('is not ready while the last append failed; a refused event (stale position) says nothing of the log', async () => {
    let fail: Error | null = new Error('EIO: i/o error, write');
    const { log, health } = watchAppends(fakeLog(async () => {
      if (fail) throw fail;
      return [];
    }));
    const ready = createReadiness({ log, appends: health, disk: null });
    expect(await ready()).toEqual({ ready: true, reasons: [] });
    await expect(log.append('room:a', [])).rejects.toThrow();
    expect(await ready()).toEqual({ ready: false, reasons: ['event log: the last append failed: EIO: i/o error, write'] });
    fail = null;
    await log.append('room:a', []);
    expect((await ready()).ready).toBe(true);
    fail = new ConcurrencyError('room:a', 1, 2);
    await expect(log.append('room:a', [])).rejects.toThrow();
    expect((await ready()).ready).toBe(true);
    // members other than append pass through
    expect(log.kind).toBe('embedded');
  });

  it('a log that does not answer, and a disk below the reserve, are reasons', async () => {
    const { log, health } = watchAppends(fakeLog(async () => [], () => new Promise(() => {})));
    const disk = createDiskMonitor({ dirs: ['/rec'], minFreeBytes: MB, intervalMs: 1000, logger, probe: fakeProbe({ '/rec': 0 }) });
    const r = await createReadiness({ log, appends: health, disk, probeTimeoutMs: 20 })();
    expect(r.ready).toBe(false);
    expect(r.reasons).toEqual(['event log (embedded) did not answer within 20 ms', 'disk: /rec: 0.0 MB free, below MIN_FREE_DISK_MB (1.0 MB)']);
  });
});
