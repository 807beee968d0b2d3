/**
 * What the recorder left behind, read after a load run: the embedded event
 * log (`peer.media.stats` and friends), the track files and their sidecars.
 * The summarizer is pure (tested in test/unit/tools/loadgen-helpers.test.ts).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sidecarOf, trackFileOf, trackKindOf } from '../../events/files.js';
import { runProcess } from '../../src/process/run.js';

export interface StoredEventLike {
  type: string;
  stream: string;
  time: number;
  data: Record<string, unknown>;
}

export interface PeerLogSummary {
  peers: number;
  /** Sum over `peer.media.stats` (each event carries what its period added). */
  packets: number;
  bytes: number;
  lost: number;
  statsEvents: number;
  /** The same sums restricted to events whose time lies in [windowStart, windowEnd]. */
  window: { packets: number; lost: number; statsEvents: number };
  connected: number;
  failed: number;
  mediaStarted: number;
  stalled: number;
  segmentsFinalized: number;
  closed: number;
  offerFailed: number;
}

/** Pure: sums the peer events of the given recordings. */
export function summarizePeerEvents(
  events: Iterable<StoredEventLike>,
  recordingIds: Set<string>,
  windowStart = -Infinity,
  windowEnd = Infinity,
): PeerLogSummary {
  const s: PeerLogSummary = {
    peers: 0,
    packets: 0,
    bytes: 0,
    lost: 0,
    statsEvents: 0,
    window: { packets: 0, lost: 0, statsEvents: 0 },
    connected: 0,
    failed: 0,
    mediaStarted: 0,
    stalled: 0,
    segmentsFinalized: 0,
    closed: 0,
    offerFailed: 0,
  };
  const peers = new Set<string>();
  for (const e of events) {
    if (!e.stream.startsWith('peer:')) continue;
    const id = e.stream.slice(5);
    const dot = id.indexOf('.');
    if (dot < 0 || !recordingIds.has(id.slice(0, dot))) continue;
    peers.add(id);
    switch (e.type) {
      case 'peer.media.stats': {
        const packets = Number(e.data.packets) || 0;
        const lost = Number(e.data.lost) || 0;
        s.packets += packets;
        s.bytes += Number(e.data.bytes) || 0;
        s.lost += lost;
        s.statsEvents++;
        if (e.time >= windowStart && e.time <= windowEnd) {
          s.window.packets += packets;
          s.window.lost += lost;
          s.window.statsEvents++;
        }
        break;
      }
      case 'peer.connected':
        s.connected++;
        break;
      case 'peer.failed':
        s.failed++;
        break;
      case 'peer.media.started':
        s.mediaStarted++;
        break;
      case 'peer.media.stalled':
        s.stalled++;
        break;
      case 'peer.segment.finalized':
        s.segmentsFinalized++;
        break;
      case 'peer.closed':
        s.closed++;
        break;
      case 'peer.offer.failed':
        s.offerFailed++;
        break;
    }
  }
  s.peers = peers.size;
  return s;
}

/**
 * Pure: per-bucket sums of `peer.media.stats` (by event time) and the times
 * peers failed, relative to `origin` (ms): where in the run loss happened.
 */
export function lossTimeline(
  events: Iterable<StoredEventLike>,
  recordingIds: Set<string>,
  origin: number,
  bucketMs = 5000,
): { buckets: { atS: number; packets: number; lost: number }[]; failedAtS: number[] } {
  const buckets = new Map<number, { packets: number; lost: number }>();
  const failedAtS: number[] = [];
  for (const e of events) {
    if (!e.stream.startsWith('peer:')) continue;
    const id = e.stream.slice(5);
    if (!recordingIds.has(id.slice(0, id.indexOf('.')))) continue;
    if (e.type === 'peer.failed') failedAtS.push(Math.round((e.time - origin) / 1000));
    if (e.type !== 'peer.media.stats') continue;
    const k = Math.floor((e.time - origin) / bucketMs);
    const b = buckets.get(k) ?? { packets: 0, lost: 0 };
    b.packets += Number(e.data.packets) || 0;
    b.lost += Number(e.data.lost) || 0;
    buckets.set(k, b);
  }
  return {
    buckets: [...buckets]
      .sort((a, b) => a[0] - b[0])
      .map(([k, b]) => ({ atS: ((k + 1) * bucketMs) / 1000, ...b })),
    failedAtS: failedAtS.sort((a, b) => a - b),
  };
}

/** Pure: JSON lines → events (skips blank or torn lines). */
export function parseEventLines(text: string): StoredEventLike[] {
  const out: StoredEventLike[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line);
      if (e && typeof e.type === 'string' && typeof e.stream === 'string') out.push(e);
    } catch {
      // torn last line
    }
  }
  return out;
}

export async function readEventLog(recordingDir: string): Promise<StoredEventLike[]> {
  return parseEventLines(await readFile(join(recordingDir, '.eventlog', 'events.jsonl'), 'utf8'));
}

export interface TrackFile {
  path: string;
  name: string;
  kind: 'audio' | 'video' | 'unknown';
  bytes: number;
  /** From the sidecar (.json): packets the segment writer took, and its own duration. */
  sidecarPackets: number | null;
  sidecarDurationMs: number | null;
}

export async function listTrackFiles(recordingDir: string, rooms: string[], recordingIds: Set<string>): Promise<TrackFile[]> {
  const out: TrackFile[] = [];
  for (const room of rooms) {
    const dir = join(recordingDir, room);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (![...recordingIds].some((id) => trackFileOf(name, id) === 'media')) continue;
      const path = join(dir, name);
      const st = await stat(path);
      let sidecarPackets: number | null = null;
      let sidecarDurationMs: number | null = null;
      let kind: TrackFile['kind'] = trackKindOf(name) ?? 'unknown';
      try {
        const meta = JSON.parse(await readFile(sidecarOf(path), 'utf8'));
        sidecarPackets = typeof meta.packets === 'number' ? meta.packets : null;
        sidecarDurationMs = typeof meta.durationMs === 'number' ? meta.durationMs : null;
        if (meta.kind === 'audio' || meta.kind === 'video') kind = meta.kind;
      } catch {
        // no sidecar
      }
      out.push({ path, name, kind, bytes: st.size, sidecarPackets, sidecarDurationMs });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export interface ProbeOutcome {
  file: string;
  ok: boolean;
  durationS: number | null;
  error?: string;
}

/** ffprobe's container duration (the file decodes far enough to have one, > 0). */
export async function probeDuration(ffprobe: string, file: string, timeoutMs = 20_000): Promise<ProbeOutcome> {
  const args = ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file];
  const r = await runProcess(ffprobe, args, { timeoutMs }).catch((e: Error) => e);
  if (r instanceof Error) return { file, ok: false, durationS: null, error: r.message };
  const d = Number.parseFloat(r.stdout.toString('utf8').trim());
  const durationS = Number.isFinite(d) ? d : null;
  const ok = r.exitCode === 0 && durationS !== null && durationS > 0;
  return { file, ok, durationS, ...(ok ? {} : { error: r.stderr.join('\n').slice(-500) || `exit ${r.exitCode}` }) };
}

/** Pure: an evenly spread sample of at most n items (all of them when n >= length). */
export function spreadSample<T>(items: T[], n: number): T[] {
  if (n >= items.length) return [...items];
  if (n <= 0) return [];
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.floor((i * items.length) / n)]!);
  return out;
}

export async function probeAll(ffprobe: string, files: string[], concurrency = 2): Promise<ProbeOutcome[]> {
  const results: ProbeOutcome[] = new Array(files.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, files.length) }, async () => {
      while (next < files.length) {
        const i = next++;
        results[i] = await probeDuration(ffprobe, files[i]!);
      }
    }),
  );
  return results;
}
