import { mkdir, stat, statfs } from 'node:fs/promises';
import type { Logger } from 'pino';

/** Free space of one folder's filesystem, as the last check found it. */
export interface DiskReading {
  dir: string;
  /** Bytes an unprivileged writer may still use (statfs bavail × bsize); null when statfs failed. */
  freeBytes: number | null;
  /** Why the folder is not usable, or null. */
  problem: string | null;
}

export interface DiskStatus {
  /** Every watched filesystem has at least the reserve free. */
  ok: boolean;
  readings: DiskReading[];
  /** One line per filesystem below the reserve (what /readyz and a 507 say). */
  reasons: string[];
  checkedAt: number;
}

/** What the monitor needs of the filesystem (node:fs/promises; tests pass a fake). */
export interface DiskProbe {
  /** Bytes available to unprivileged writers on the filesystem holding `dir`. */
  freeBytes(dir: string): Promise<number>;
  /** An id of the filesystem holding `dir` (two folders on one filesystem are checked once). */
  deviceOf(dir: string): Promise<number>;
}

export const nodeDiskProbe: DiskProbe = {
  async freeBytes(dir) {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  },
  async deviceOf(dir) {
    return (await stat(dir)).dev;
  },
};

export interface DiskMonitorOptions {
  /** The recordings root first, then the event log's folder; folders on a filesystem already listed are skipped. */
  dirs: string[];
  /** MIN_FREE_DISK_MB in bytes (0: only a failing statfs makes the disk "low"). */
  minFreeBytes: number;
  /** DISK_CHECK_INTERVAL_MS. */
  intervalMs: number;
  logger: Logger;
  probe?: DiskProbe;
  clock?: () => number;
}

const mb = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

/**
 * MIN_FREE_DISK_MB as a poller: every intervalMs it reads the free space of
 * the recordings' filesystem (and the event log's, when that is another one)
 * and tells its listeners whenever the verdict is in (every check while low,
 * so a recording started in between is stopped too). Nothing here acts:
 * src/health/disk-guard.ts stops recordings, the HTTP API refuses new ones.
 */
export function createDiskMonitor(opts: DiskMonitorOptions) {
  const probe = opts.probe ?? nodeDiskProbe;
  const clock = opts.clock ?? Date.now;
  const log = opts.logger.child({ module: 'health/disk' });
  const listeners = new Set<(s: DiskStatus) => void>();
  let watched: Promise<string[]> | null = null;
  let last: DiskStatus | null = null;
  let running: Promise<DiskStatus> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  /** The folders to read, one per filesystem (resolved once: mounts do not move under a running server). */
  function folders(): Promise<string[]> {
    watched ??= (async () => {
      const seen = new Set<number>();
      const out: string[] = [];
      for (const dir of opts.dirs) {
        await mkdir(dir, { recursive: true }).catch(() => undefined);
        const dev = await probe.deviceOf(dir).catch(() => null);
        if (dev !== null && seen.has(dev)) continue;
        if (dev !== null) seen.add(dev);
        out.push(dir);
      }
      return out;
    })();
    return watched;
  }

  async function read(dir: string): Promise<DiskReading> {
    try {
      const freeBytes = await probe.freeBytes(dir);
      const problem = freeBytes < opts.minFreeBytes ? `${dir}: ${mb(freeBytes)} free, below MIN_FREE_DISK_MB (${mb(opts.minFreeBytes)})` : null;
      return { dir, freeBytes, problem };
    } catch (err) {
      return { dir, freeBytes: null, problem: `${dir}: free space unknown (${(err as Error).message})` };
    }
  }

  async function checkOnce(): Promise<DiskStatus> {
    const readings = await Promise.all((await folders()).map(read));
    const reasons = readings.flatMap((r) => (r.problem ? [r.problem] : []));
    const status: DiskStatus = { ok: reasons.length === 0, readings, reasons, checkedAt: clock() };
    if (last?.ok !== status.ok) {
      if (status.ok) log.info({ readings }, 'disk space back above the reserve');
      else log.warn({ reasons }, 'disk space below the reserve: new recordings refused, running ones stopped');
    }
    last = status;
    for (const l of listeners) {
      try {
        l(status);
      } catch (err) {
        log.error({ err }, 'disk status listener threw');
      }
    }
    return status;
  }

  /** Reads the free space now (concurrent callers share one reading). */
  function check(): Promise<DiskStatus> {
    running ??= checkOnce().finally(() => (running = null));
    return running;
  }

  function schedule() {
    if (closed) return;
    timer = setTimeout(() => {
      check()
        .catch((err) => log.error({ err }, 'disk check failed'))
        .finally(schedule);
    }, opts.intervalMs);
    timer.unref();
  }

  return {
    check,
    /** The last reading (null before the first). */
    get status(): DiskStatus | null {
      return last;
    },
    /** Called after every check. Returns the unsubscribe. */
    onCheck(listener: (s: DiskStatus) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** First check now, then every intervalMs. */
    async start(): Promise<DiskStatus> {
      const s = await check();
      if (!timer && !closed) schedule();
      return s;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      listeners.clear();
    },
  };
}
export type DiskMonitor = ReturnType<typeof createDiskMonitor>;
