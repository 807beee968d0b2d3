/**
 * Linux /proc readers: CPU time of a process, the process listening on a TCP
 * port, a process's environment and working directory. Parsers are pure.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { childPids } from './soak-proc.js';
import { execFileSync } from 'node:child_process';

let clkTck: number | null = null;
/** Clock ticks per second (USER_HZ), 100 on practically every Linux. */
export function clockTicks(): number {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface ProcCpu {
  /** utime + stime of the process itself (all its threads), in ticks. */
  self: number;
  /** cutime + cstime: reaped children, in ticks. */
  children: number;
}

/** Pure: utime/stime/cutime/cstime from the text of /proc/<pid>/stat (the command may contain spaces and parens). */
export function parseProcStat(text: string): ProcCpu {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime = field 14, stime 15, cutime 16, cstime 17
  const f = (field: number) => Number(rest[field - 3]);
  return { self: f(14) + f(15), children: f(16) + f(17) };
}

export function readProcCpu(pid: number | 'self'): ProcCpu {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** CPU seconds of this process's reaped children. */
export function childCpuSeconds(): number {
  try {
    return readProcCpu('self').children / clockTicks();
  } catch {
    return NaN;
  }
}

/** Pure: socket inodes listening on a local TCP port, from /proc/net/tcp or tcp6 text. */
export function listeningInodes(procNetTcp: string, port: number): string[] {
  const out: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = cols[1]!;
    const p = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (p === port && cols[3] === '0A') out.push(cols[9]!);
  }
  return out;
}

/** The pid (same user) whose open file descriptors include a socket listening on `port`; null if not found. */
export function findListeningPid(port: number): number | null {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const i of listeningInodes(readFileSync(f, 'utf8'), port)) inodes.add(`socket:[${i}]`);
    } catch {
      // no IPv6
    }
  }
  if (inodes.size === 0) return null;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${name}/fd/${fd}`))) return Number(name);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

export function processEnv(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

export function processCwd(pid: number): string {
  return readlinkSync(`/proc/${pid}/cwd`);
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** Pure: the Udp counters of /proc/net/snmp (header line followed by a values line). */
export function parseUdpSnmp(text: string): Record<string, number> {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp: '));
  if (lines.length < 2) return {};
  const keys = lines[0]!.slice(5).trim().split(/\s+/);
  const vals = lines[1]!.slice(5).trim().split(/\s+/).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i] ?? 0]));
}

/** Machine-wide UDP receive-buffer overflows (datagrams the kernel dropped because a socket was full). */
export function udpRcvbufErrors(): number {
  try {
    return parseUdpSnmp(readFileSync('/proc/net/snmp', 'utf8')).RcvbufErrors ?? NaN;
  } catch {
    return NaN;
  }
}

/** Nanoseconds the process's main thread spent runnable but waiting for a CPU (/proc/<pid>/schedstat, field 2). */
export function schedWaitNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/)[1]);
  } catch {
    return NaN;
  }
}

/**
 * CPU ticks of everything `pid` ran as children: the reaped ones (its cutime +
 * cstime) and the running ones with all of theirs (their /proc/<child>/stat,
 * found through /proc/<pid>/task/<tid>/children). A child that exits between
 * two readings moves from the second part to the first, so a difference of
 * two readings counts it once.
 */
export function descendantTicks(pid: number): number {
  let total = 0;
  try {
    total += readProcCpu(pid).children;
  } catch {
    return 0;
  }
  for (const child of childPids(pid)) {
    try {
      total += readProcCpu(child).self + descendantTicks(child);
    } catch {
      // gone meanwhile: its ticks are in the parent's cutime from now on
    }
  }
  return total;
}

