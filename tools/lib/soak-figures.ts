/**
 * The soak tool's figures of the server process: what /proc says (RSS, file
 * descriptors, UDP and TCP sockets), what a Node diagnostic report says (heap,
 * libuv handles by type) when the process was started with
 * `--report-on-signal` (only a server the tool started itself: the signal's
 * default action would end any other process), and what the HTTP API lists
 * (sessions and composition jobs the server still holds), and the actors its
 * runtime holds in memory (the `mr_runtime_actors` gauge of GET /metrics).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { childPids, procFigures } from './soak-proc.js';

export interface ServerFigures {
  at: number;
  rssMb: number;
  fds: number;
  /** Of the fds: pipes (a running ffmpeg child holds two). */
  pipes: number;
  /** Live child processes (ffmpeg compositions, remuxes). */
  children: number;
  udp: number;
  tcpEstablished: number;
  threads: number;
  /** From a diagnostic report (null: not available for this process). */
  heap: { usedMb: number; totalMb: number; newSpaceMb?: number; oldSpaceUsedMb?: number; externalMb?: number; mallocedMb?: number } | null;
  /** libuv handles by type (timer, udp, tcp, process …) from the same report. */
  handles: Record<string, number> | null;
  /** What GET /api/recording-sessions and /api/recording-compositions list. */
  api: { sessions: number; recording: number; jobs: number; jobsOpen: number } | null;
  /** Actors in the runtime's memory, from GET /metrics (null: not readable, e.g. METRICS_TOKEN set). */
  actors: { live: number; byKind: Record<string, number>; kept: number; finishing: number } | null;
}

/** Pure: the runtime's actor counts from the text of GET /metrics (null when the gauge is absent). */
export function parseActors(metricsText: string): ServerFigures['actors'] {
  const byKind: Record<string, number> = {};
  let kept = 0;
  let finishing = 0;
  let found = false;
  for (const m of metricsText.matchAll(/^mr_runtime_actors\{kind="([a-z-]+)"\} (\d+(?:\.\d+)?)$/gm)) {
    found = true;
    const n = Number(m[2]);
    if (m[1] === 'kept') kept = n;
    else if (m[1] === 'finishing') finishing = n;
    else byKind[m[1]!] = n;
  }
  if (!found) return null;
  return { live: Object.values(byKind).reduce((a, b) => a + b, 0), byKind, kept, finishing };
}

async function actorCounts(baseUrl: string): Promise<ServerFigures['actors']> {
  try {
    const r = await httpJson(baseUrl, 'GET', '/metrics', undefined, 10_000);
    return r.status === 200 && typeof r.json === 'string' ? parseActors(r.json) : null;
  } catch {
    return null;
  }
}

const mb = (bytes: number) => bytes / 1024 / 1024;

/** Pure: heap and handle counts from the text of a Node diagnostic report. */
export function parseReport(text: string): { heap: ServerFigures['heap']; handles: Record<string, number> } {
  type Space = { memorySize?: number; committedMemory?: number; used?: number };
  const r = JSON.parse(text) as {
    javascriptHeap?: { usedMemory?: number; totalMemory?: number; externalMemory?: number; mallocedMemory?: number; heapSpaces?: Record<string, Space> };
    libuv?: { type: string; is_active?: boolean }[];
  };
  const handles: Record<string, number> = {};
  for (const h of r.libuv ?? []) if (h.is_active !== false) handles[h.type] = (handles[h.type] ?? 0) + 1;
  const spaces = r.javascriptHeap?.heapSpaces ?? {};
  // The young generation's memory is garbage between scavenges (with --max-semi-space-size=64 it can be
  // well over 100 MB of RSS): shown apart, so growth of what survives (old space) can be told from it.
  const newSpace = spaces.new_space;
  const old = spaces.old_space;
  const heap = r.javascriptHeap
    ? {
        usedMb: mb(r.javascriptHeap.usedMemory ?? 0),
        totalMb: mb(r.javascriptHeap.totalMemory ?? 0),
        ...(newSpace ? { newSpaceMb: mb(newSpace.committedMemory ?? newSpace.memorySize ?? 0) } : {}),
        ...(old ? { oldSpaceUsedMb: mb(old.used ?? 0) } : {}),
        // Buffers (media packets) and V8's own malloc: native memory the JS heap figures leave out.
        ...(r.javascriptHeap.externalMemory !== undefined ? { externalMb: mb(r.javascriptHeap.externalMemory) } : {}),
        ...(r.javascriptHeap.mallocedMemory !== undefined ? { mallocedMb: mb(r.javascriptHeap.mallocedMemory) } : {}),
      }
    : null;
  return { heap, handles };
}

/** Asks the process (started with --report-on-signal --report-directory=dir) for a report and reads it. */
export async function requestReport(pid: number, dir: string, timeoutMs = 10_000): Promise<ReturnType<typeof parseReport> | null> {
  const before = new Set(await readdir(dir).catch(() => [] as string[]));
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return null;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const fresh = (await readdir(dir).catch(() => [] as string[])).filter((f) => !before.has(f) && f.startsWith('report.') && f.endsWith('.json'));
    for (const f of fresh) {
      try {
        const parsed = parseReport(await readFile(join(dir, f), 'utf8'));
        await rm(join(dir, f), { force: true });
        return parsed;
      } catch {
        // still being written
      }
    }
  }
  return null;
}

/**
 * One HTTP request on its own connection, closed after the answer: a
 * keep-alive socket of the tool's would show in the server's socket figures.
 */
export function httpJson(baseUrl: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; json: any }> {
  const { hostname, port } = new URL(baseUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, method, path, agent: false, timeout: timeoutMs, headers: { connection: 'close', ...(payload ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: any = text;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function apiCounts(baseUrl: string): Promise<ServerFigures['api']> {
  try {
    const get = async (path: string) => (await httpJson(baseUrl, 'GET', path, undefined, 10_000)).json;
    const [s, j] = await Promise.all([get('/api/recording-sessions'), get('/api/recording-compositions')]);
    return {
      sessions: s.totalCount ?? s.sessions?.length ?? 0,
      recording: (s.sessions ?? []).filter((x: any) => x.status === 'recording' || x.state === 'stopping').length,
      jobs: j.totalCount ?? j.jobs?.length ?? 0,
      jobsOpen: (j.jobs ?? []).filter((x: any) => x.status === 'queued' || x.status === 'running').length,
    };
  } catch {
    return null;
  }
}

export async function serverFigures(pid: number, baseUrl: string, reportDir: string | null): Promise<ServerFigures> {
  const p = procFigures(pid);
  const report = reportDir ? await requestReport(pid, reportDir) : null;
  return {
    at: Date.now(),
    rssMb: p.rssKb / 1024,
    fds: p.fds,
    pipes: p.pipes,
    children: childPids(pid).length,
    udp: p.udp,
    tcpEstablished: p.tcp.established,
    threads: p.threads,
    heap: report?.heap ?? null,
    handles: report?.handles ?? null,
    api: await apiCounts(baseUrl),
    actors: await actorCounts(baseUrl),
  };
}

/** One printed line. */
export function formatFigures(label: string, f: ServerFigures): string {
  const heap = f.heap
    ? `heap ${f.heap.usedMb.toFixed(1)}/${f.heap.totalMb.toFixed(1)} MB` +
      (f.heap.newSpaceMb !== undefined ? ` (new space ${f.heap.newSpaceMb.toFixed(1)} MB, old space used ${f.heap.oldSpaceUsedMb?.toFixed(1) ?? '?'} MB)` : '') +
      (f.heap.externalMb !== undefined ? ` external ${f.heap.externalMb.toFixed(1)} MB` : '') +
      (f.heap.mallocedMb !== undefined ? ` malloced ${f.heap.mallocedMb.toFixed(1)} MB` : '')
    : 'heap n/a';
  const handles = f.handles
    ? `handles ${Object.entries(f.handles)
        .sort()
        .map(([k, v]) => `${k}:${v}`)
        .join(' ')}`
    : 'handles n/a';
  const api = f.api ? `sessions ${f.api.sessions} (${f.api.recording} live), jobs ${f.api.jobs} (${f.api.jobsOpen} open)` : 'api n/a';
  const a = f.actors;
  const actors = a
    ? `actors ${a.live} live (${Object.entries(a.byKind)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none'}; ${a.finishing} finishing), ${a.kept} kept`
    : 'actors n/a';
  return `${label} rss ${f.rssMb.toFixed(1)} MB | ${heap} | fds ${f.fds} (${f.pipes} pipes, ${f.children} children) | udp ${f.udp} | tcp ${f.tcpEstablished} | threads ${f.threads} | ${handles} | ${api} | ${actors}`;
}
