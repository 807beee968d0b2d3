/**
 * What must hold after a churn run, each check returning the problems it
 * found (empty: fine):
 *   - every recording reaches `stopped` or `failed` within its stop timeout;
 *   - every segment written (track files and sidecars on disk, segments the
 *     session knows) is among the composition's inputs or skipped with a reason;
 *   - no peer actor is left open, and no UDP/TCP socket, child process, file
 *     under the recordings root or active handle outlives the room.
 */
import { createHook } from 'node:async_hooks';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { streamOf } from '../../events/streams.js';
import { STOP_TIMEOUT_MS } from '../../machines/recording.js';
import { childPids, commandLine, openFilesUnder, procFigures } from '../../tools/lib/soak-proc.js';
import type { ChurnReal } from './churn-model.js';
import { sleep } from './wait.js';

const NO_KEEPALIVE = { connection: 'close' };
/** A composition of a few seconds of media; generous, the machine is shared. */
const COMPOSE_TIMEOUT_MS = 90_000;

export interface Resources {
  udp: number;
  tcpEstablished: number;
  children: number[];
  /** process.getActiveResourcesInfo(), counted by type (Timeout, UDPWRAP, TCPSocketWrap, ProcessWrap …). */
  active: Record<string, number>;
  fds: number;
}

export function resources(): Resources {
  const f = procFigures('self');
  const active: Record<string, number> = {};
  for (const t of process.getActiveResourcesInfo()) active[t] = (active[t] ?? 0) + 1;
  return { udp: f.udp, tcpEstablished: f.tcp.established, children: childPids('self'), active, fds: f.fds };
}

/** What `now` holds beyond `base` (timers aside); empty when nothing. */
export function excess(base: Resources, now: Resources): string[] {
  const out: string[] = [];
  if (now.udp > base.udp) out.push(`${now.udp - base.udp} UDP socket(s) more than before (${base.udp} → ${now.udp})`);
  if (now.tcpEstablished > base.tcpEstablished) out.push(`${now.tcpEstablished - base.tcpEstablished} established TCP socket(s) more (${base.tcpEstablished} → ${now.tcpEstablished})`);
  const born = now.children.filter((c) => !base.children.includes(c));
  if (born.length) out.push(`child processes still running: ${born.map((c) => `${c} ${commandLine(c).slice(0, 120)}`).join('; ')}`);
  for (const [type, n] of Object.entries(now.active)) {
    if (type === 'Timeout') continue; // timers are told apart by where they were set: trackTimers()
    const allowed = base.active[type] ?? 0;
    if (n > allowed) out.push(`${n - allowed} more active ${type} handle(s) (${allowed} → ${n})`);
  }
  return out;
}

/** Polls until nothing is in excess of `base` or timeoutMs; returns what is still in excess. */
export async function settleResources(base: Resources, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = excess(base, resources());
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

async function getJson(real: ChurnReal, path: string): Promise<any> {
  const res = await real.app.http.get(path, NO_KEEPALIVE);
  return res.status === 200 ? res.json : null;
}

const isNoInputs = (job: any) => /no track sidecars/.test(job?.error ?? '') || (job?.failures ?? []).some((f: any) => /no track sidecars/.test(f.error));

export interface Settled {
  sessions: Map<string, any>;
  jobs: Map<string, any>;
  problems: string[];
}

/** Waits for every recording to end and every composition it asked for to finish; reports those that did not in time. */
export async function settleRecordings(real: ChurnReal, windDownAt: number): Promise<Settled> {
  const sessions = new Map<string, any>();
  const jobs = new Map<string, any>();
  const problems: string[] = [];
  for (const rec of real.recordings) {
    const deadline = (rec.stopRequestedAt ?? windDownAt) + STOP_TIMEOUT_MS + 5_000;
    let s: any = null;
    for (;;) {
      s = (await getJson(real, `/api/recording-sessions/${rec.id}`))?.session ?? null;
      if (s && (s.state === 'stopped' || s.state === 'failed')) break;
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    sessions.set(rec.id, s);
    const waitedMs = Date.now() - (rec.stopRequestedAt ?? windDownAt);
    if (!s) problems.push(`recording ${rec.id}: GET /api/recording-sessions/${rec.id} does not know it`);
    else if (s.state !== 'stopped' && s.state !== 'failed') {
      const open = s.participants.filter((p: any) => p.active).map((p: any) => p.participantId);
      problems.push(`recording ${rec.id} stuck in ${s.state} ${Math.round(waitedMs / 1000)} s after its stop was asked for (stop timeout ${STOP_TIMEOUT_MS / 1000} s); peers not closed: ${open.join(', ') || 'none'}`);
    } else {
      const open = s.participants.filter((p: any) => p.active).map((p: any) => p.participantId);
      if (open.length) problems.push(`recording ${rec.id} ended (${s.state}) with peers that never reported closed: ${open.join(', ')} (it took ${Math.round(waitedMs / 1000)} s: the stop timeout)`);
    }
  }
  for (const [id, s] of sessions) {
    if (!s || s.state !== 'stopped' || !s.compositionJobId) continue;
    const deadline = Date.now() + COMPOSE_TIMEOUT_MS;
    let job: any = null;
    for (;;) {
      job = (await getJson(real, `/api/recording-compositions/${s.compositionJobId}`))?.job ?? null;
      if (job && (job.state === 'completed' || job.state === 'failed')) break;
      // a recording that wrote nothing cannot be composed: its retries (5 s, 10 s backoff) are not worth waiting for
      if (job && job.state === 'retrying' && isNoInputs(job)) break;
      if (Date.now() > deadline) break;
      await sleep(250);
    }
    jobs.set(id, job);
    if (!job) problems.push(`recording ${id}: composition ${s.compositionJobId} unknown to GET /api/recording-compositions`);
    else if (!['completed', 'failed', 'retrying'].includes(job.state))
      problems.push(`recording ${id}: composition ${job.id} still ${job.state} after ${COMPOSE_TIMEOUT_MS / 1000} s`);
  }
  return { sessions, jobs, problems };
}

/** Track files and sidecars of one recording on disk: media files by name, with what their sidecars say. */
interface Sidecar {
  name: string;
  file: string;
  finalized: boolean;
  /** When the sidecar was last written: its finalization. */
  writtenAt: number;
}

async function segmentsOnDisk(dir: string, recordingId: string): Promise<{ media: string[]; sidecars: Sidecar[] }> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const mine = names.filter((n) => n.includes(`-${recordingId}-`) && !n.startsWith('.') && !n.includes(`-${recordingId}-composed.`));
  const media = mine.filter((n) => n.endsWith('.webm'));
  const sidecars: Sidecar[] = [];
  for (const n of mine.filter((x) => x.endsWith('.json') && !x.endsWith('.levels.json'))) {
    try {
      const j = JSON.parse(await readFile(join(dir, n), 'utf8'));
      sidecars.push({ name: n, file: String(j.file), finalized: !!j.finalized, writtenAt: (await stat(join(dir, n))).mtimeMs });
    } catch (err) {
      sidecars.push({ name: n, file: `(unreadable sidecar: ${(err as Error).message})`, finalized: false, writtenAt: 0 });
    }
  }
  return { media, sidecars };
}

/** Every segment written is in its composition's inputs or skipped list (the composed file's sidecar, and the job's state). */
export async function checkSegments(real: ChurnReal, settled: Settled): Promise<string[]> {
  const problems: string[] = [];
  const dir = join(real.app.root, real.room);
  for (const rec of real.recordings) {
    const s = settled.sessions.get(rec.id);
    const { media, sidecars } = await segmentsOnDisk(dir, rec.id);
    const written = new Set<string>([...media, ...sidecars.map((x) => x.file), ...((s?.segments ?? []) as { file: string }[]).map((x) => x.file)]);
    const listed = new Set(((s?.segments ?? []) as { file: string }[]).map((x) => x.file));
    for (const f of listed) {
      if (!media.includes(f)) problems.push(`recording ${rec.id}: the session lists segment ${f}, which is not on disk`);
    }
    // recording.segment.recorded / recording.peer.closed must have told the session of every file written
    for (const f of media) if (!listed.has(f)) problems.push(`recording ${rec.id}: segment ${f} is on disk but not among the session's segments (GET /api/recording-sessions/${rec.id})`);
    for (const sc of sidecars) if (!sc.finalized) problems.push(`recording ${rec.id}: segment ${sc.file} was never finalized (its sidecar still says finalized: false)`);
    if (written.size === 0) continue;
    if (!s || s.state !== 'stopped') {
      problems.push(`recording ${rec.id} (${s?.state ?? 'unknown'}): ${written.size} segment(s) written and no composition asked for: ${[...written].join(', ')}`);
      continue;
    }
    const job = settled.jobs.get(rec.id);
    if (!job || job.state !== 'completed') {
      problems.push(
        `recording ${rec.id}: composition ${job?.id ?? s.compositionJobId} ${job?.state ?? 'missing'}${job?.error ? ` (${job.error})` : ''} while ${written.size} segment(s) were written: ${[...written].join(', ')}`,
      );
      continue;
    }
    const sidecarName = String(job.output?.filename ?? '').replace(/\.(webm|mp4)$/, '.json');
    let composed: { inputs: { file: string }[]; skipped: { file: string; reason: string }[] } | null = null;
    try {
      composed = JSON.parse(await readFile(join(dir, sidecarName), 'utf8'));
    } catch (err) {
      problems.push(`recording ${rec.id}: composed sidecar ${sidecarName} unreadable: ${(err as Error).message}`);
      continue;
    }
    const used = new Set(composed!.inputs.map((i) => i.file));
    // the composition must not start before the files it reads are finished
    const requestedAt = Date.parse(job.createdAt);
    for (const sc of sidecars) {
      if (sc.writtenAt > requestedAt + 50)
        problems.push(`recording ${rec.id}: composition ${job.id} was requested at ${job.createdAt}, ${Math.round(sc.writtenAt - requestedAt)} ms before segment ${sc.file} was finalized (it read a file still being written)`);
    }
    const skipped = new Map(composed!.skipped.map((x) => [x.file, x.reason]));
    const jobSkipped = new Map(((job.skipped ?? []) as { file: string; reason: string }[]).map((x) => [x.file, x.reason]));
    for (const f of written) {
      if (used.has(f)) continue;
      const reason = skipped.get(f);
      if (reason === undefined) problems.push(`recording ${rec.id}: segment ${f} is neither an input of ${sidecarName} nor in its skipped list`);
      else if (!reason.trim()) problems.push(`recording ${rec.id}: segment ${f} skipped without a reason`);
      else if (!jobSkipped.has(f)) problems.push(`recording ${rec.id}: segment ${f} skipped in ${sidecarName} (${reason}) but not in the job's skipped list`);
    }
  }
  return problems;
}

/** Every peer actor of the room closed, the room closed. */
export function checkActors(real: ChurnReal): string[] {
  const problems: string[] = [];
  const room = real.app.runtime.get(streamOf('room', real.room));
  if (room && room.value !== 'closed') problems.push(`room ${real.room} is ${JSON.stringify(room.value)} after every member left`);
  if (room?.context.activeRecordingId) problems.push(`room ${real.room} still names ${room.context.activeRecordingId} as its active recording`);
  for (const a of real.app.runtime.list('peer')) {
    const c = a.snapshot.context as { roomId: string; problem: string | null };
    if (c.roomId === real.room && a.snapshot.value !== 'closed') problems.push(`peer ${a.stream} is ${JSON.stringify(a.snapshot.value)} (problem: ${c.problem ?? 'none'}) after its room closed`);
  }
  return problems;
}

/** Files under the recordings root still open, other than the event log's own. */
export function openMediaFiles(root: string): string[] {
  return openFilesUnder('self', root).filter((f) => !f.includes('/.eventlog/'));
}

/** Jobs whose automatic retry timer is legitimately pending. */
export const retryTimers = (real: ChurnReal) => real.app.runtime.list('composition').filter((a) => a.snapshot.value === 'retrying').length;

/**
 * Where the live timers were set: an async hook remembers the creation stack
 * of every Timeout until it fires or is cleared, so a timer that outlives its
 * room is reported with the code that set it (only those that keep the
 * process alive: unref'd ones are not counted).
 */
export function trackTimers() {
  const live = new Map<number, { stack: string; timer: { hasRef?: () => boolean } }>();
  let lastId = 0;
  const hook = createHook({
    init(id, type, _trigger, resource) {
      lastId = Math.max(lastId, id);
      if (type !== 'Timeout') return;
      const raw = new Error().stack ?? '';
      if (/churn-(checks|model)\.ts|churn\.test\.ts/.test(raw)) return; // the test's own pauses and polling
      const stack = raw
        .split('\n')
        .slice(2)
        .filter((l) => !l.includes('node:internal'))
        .slice(0, 8)
        .join('\n');
      live.set(id, { stack, timer: resource as { hasRef?: () => boolean } });
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  return {
    mark: () => lastId,
    /** Creation stacks of the ref'd timers set after `mark` and still pending. */
    since: (mark: number): string[] => [...live].filter(([id, t]) => id > mark && t.timer.hasRef?.() !== false).map(([, t]) => t.stack),
    stop: () => hook.disable(),
  };
}

/**
 * Timers known to outlive a closed peer for a bounded time, with why. They are
 * reported as notes, not failures: werift's DTLS client keeps retransmitting a
 * handshake flight (11 tries, k/2 s apart: up to 33 s) after its peer closed
 * mid-handshake; the recorder's peers are the DTLS client (werift answers
 * with a=setup:active).
 */
export const BOUNDED_TIMERS: { where: RegExp; why: string }[] = [
  { where: /Flight\d*\.transmit/, why: 'werift DTLS flight retransmit (a recorder peer closed during its handshake; stops after 33 s)' },
];

/** Timers set during a run and still pending: the runtime's (up to `allowedRuntime` of them are retry timers), bounded ones, and the rest (leaks). */
export function pendingTimers(stacks: string[], allowedRuntime: number): { leaked: string[]; bounded: string[] } {
  const leaked: string[] = [];
  const bounded: string[] = [];
  let runtime = 0;
  for (const s of stacks) {
    const known = BOUNDED_TIMERS.find((b) => b.where.test(s));
    if (known) bounded.push(known.why);
    else if (/src\/runtime\/runtime\.ts/.test(s) && runtime < allowedRuntime) runtime++;
    else leaked.push(s);
  }
  return { leaked, bounded };
}

