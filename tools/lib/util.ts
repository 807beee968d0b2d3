/** Small pure helpers of the load generator (tested in test/unit/tools/loadgen-helpers.test.ts), plus a /proc/stat reader. */
import { readFileSync } from 'node:fs';

/** Is the URL's host a loopback address (127.0.0.0/8, ::1, localhost)? */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  host = host.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Participant i → room index: round-robin, so rooms differ in size by at most one. */
export function roomAssignment(participants: number, rooms: number): number[] {
  return Array.from({ length: participants }, (_, i) => i % rooms);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** part / whole in percent (0 when whole is 0). */
export function pct(part: number, whole: number): number {
  return whole > 0 ? (part / whole) * 100 : 0;
}

export interface MachineCpu {
  cores: number;
  busy: number;
  total: number;
  /** irq + softirq ticks (loopback UDP delivery lands here, in nobody's utime/stime). */
  irq: number;
  /** Cores' worth of non-idle (and of irq+softirq) time over the interval since `earlier`. */
  minus(earlier: MachineCpu): { cores: number; busyCores: number; irqCores: number };
}

/** Pure: the aggregate `cpu` line of /proc/stat → busy and total ticks (idle = idle + iowait). */
export function parseProcStatCpu(text: string): { cores: number; busy: number; total: number; irq: number } {
  const lines = text.split('\n');
  const agg = lines.find((l) => l.startsWith('cpu '));
  if (!agg) throw new Error('no cpu line');
  const v = agg.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const cores = lines.filter((l) => /^cpu\d+ /.test(l)).length;
  return { cores, busy: total - idle, total, irq: (v[5] ?? 0) + (v[6] ?? 0) };
}

export function machineCpu(): MachineCpu {
  const r = parseProcStatCpu(readFileSync('/proc/stat', 'utf8'));
  return {
    ...r,
    minus(e) {
      const dt = r.total - e.total;
      return {
        cores: r.cores,
        busyCores: dt > 0 ? ((r.busy - e.busy) / dt) * r.cores : 0,
        irqCores: dt > 0 ? ((r.irq - e.irq) / dt) * r.cores : 0,
      };
    },
  };
}

/** One JSON request to the server's HTTP API (60 s timeout): the status and the parsed body (the text when it is not JSON). */
export async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) };
  } catch {
    return { status: res.status, json: text };
  }
}
