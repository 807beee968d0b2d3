/**
 * What a process holds, read from /proc: resident memory, file descriptors by
 * kind, its UDP and TCP sockets (the namespace's /proc/<pid>/net tables matched
 * to the socket inodes among its descriptors), files open under a folder, and
 * its child processes. For the soak tool (another process) and the churn test
 * ('self'). Parsers are pure; readers return what they could read.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { resolve, sep } from 'node:path';

export type Pid = number | 'self';

/** Pure: a `Key:   123 kB` line of /proc/<pid>/status, in kB (NaN when absent). */
export function statusKb(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Pure: inode → state (hex, e.g. '07' UDP unconnected, '01' TCP established, '0A' listen) of a /proc/net/{udp,tcp}[6] table. */
export function netTableInodes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    out.set(cols[9]!, cols[3]!);
  }
  return out;
}

/** Every descriptor's link target (`socket:[123]`, `pipe:[…]`, `/path`, `anon_inode:[eventfd]`). */
export function fdTargets(pid: Pid): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed while we looked (or it was readdir's own descriptor)
    }
  }
  return out;
}

function table(pid: Pid, name: string): Map<string, string> {
  try {
    return netTableInodes(readFileSync(`/proc/${pid}/net/${name}`, 'utf8'));
  } catch {
    return new Map();
  }
}

export interface ProcFigures {
  /** VmRSS in kB. */
  rssKb: number;
  fds: number;
  udp: number;
  /** TCP sockets by state: listen, established, other (closing, time-wait …). */
  tcp: { listen: number; established: number; other: number };
  unix: number;
  pipes: number;
  /** Regular files and everything else that is not a socket or a pipe. */
  files: number;
  threads: number;
}

/** Pure: the figures from descriptor targets and the socket tables. */
export function classify(targets: string[], udp: Map<string, string>, tcp: Map<string, string>): Omit<ProcFigures, 'rssKb' | 'threads'> {
  const r = { fds: targets.length, udp: 0, tcp: { listen: 0, established: 0, other: 0 }, unix: 0, pipes: 0, files: 0 };
  for (const t of targets) {
    const sock = /^socket:\[(\d+)\]$/.exec(t);
    if (sock) {
      const inode = sock[1]!;
      if (udp.has(inode)) r.udp++;
      else if (tcp.has(inode)) {
        const st = tcp.get(inode);
        if (st === '0A') r.tcp.listen++;
        else if (st === '01') r.tcp.established++;
        else r.tcp.other++;
      } else r.unix++; // unix, netlink: not in the inet tables
    } else if (t.startsWith('pipe:')) r.pipes++;
    else r.files++;
  }
  return r;
}

/** The process's figures now (NaN/zeros for what it cannot read, e.g. a process that is gone). */
export function procFigures(pid: Pid): ProcFigures {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // gone
  }
  const udp = new Map([...table(pid, 'udp'), ...table(pid, 'udp6')]);
  const tcp = new Map([...table(pid, 'tcp'), ...table(pid, 'tcp6')]);
  return { rssKb: statusKb(status, 'VmRSS'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN), ...classify(fdTargets(pid), udp, tcp) };
}

/** Paths of the descriptors that point into `dir` (open media files, sidecars, logs). */
export function openFilesUnder(pid: Pid, dir: string): string[] {
  const root = resolve(dir) + sep;
  return fdTargets(pid).filter((t) => t.startsWith(root));
}

/** Pids of the process's live children (every thread's /proc/<pid>/task/<tid>/children). */
export function childPids(pid: Pid): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      // thread gone
    }
  }
  return out;
}

/** A child's command line, for reports ('' when it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}
