import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { COMPOSED_FILE as COMPOSED } from '../../events/files.js';
import { contentTypeOf, SAFE_SEGMENT } from './files.js';
import { fileUrls, type FileUrlSigner } from './views.js';

export interface Person {
  participantId: string;
  name: string | null;
  role: 'host' | 'participant' | null;
}

/** What the runtime knows about a recording, when it still knows it. */
export type RecordingLookup = (recordingId: string) => { participants: Person[]; startedAt: number | null; stoppedAt: number | null } | undefined;

interface FileEntry {
  filename: string;
  contentType: string;
  size: number;
  modifiedAt: string;
  downloadUrl: string;
  streamUrl: string;
  metadata: Record<string, any> | null;
}

const MAX_SIDECAR_BYTES = 1024 * 1024;

async function readSidecar(file: string): Promise<Record<string, any> | null> {
  try {
    const info = await stat(file);
    if (!info.isFile() || info.size > MAX_SIDECAR_BYTES) return null;
    const value = JSON.parse(await readFile(file, 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

async function dirents(dir: string): Promise<Dirent[]> {
  return readdir(dir, { withFileTypes: true }).catch(() => []);
}

/**
 * Scans `<root>/<meetingId>/` for composed files and track files (protocol.md
 * section 5) and groups them per recording, with what their .json sidecars
 * (and the runtime, while it knows the recording) say about who took part.
 */
export async function listRecordings(root: string, lookup: RecordingLookup, sign?: FileUrlSigner) {
  const groups = new Map<string, ReturnType<typeof newGroup>>();
  function newGroup(meetingId: string, recordingId: string | null) {
    return {
      meetingId,
      recordingId,
      startedAt: null as string | null,
      durationMs: null as number | null,
      size: 0,
      host: null as Person | null,
      participants: [] as Person[],
      composed: [] as (FileEntry & { format: string; durationMs: number | null })[],
      tracks: [] as (FileEntry & Person & { kind: string | null; codec: string | null; durationMs: number | null; offsetMs: number | null; segmentIndex: number | null })[],
    };
  }
  const group = (meetingId: string, recordingId: string | null) => {
    const key = `${meetingId}/${recordingId ?? ''}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = newGroup(meetingId, recordingId)));
    return g;
  };

  for (const meeting of await dirents(root)) {
    if (!meeting.isDirectory() || !SAFE_SEGMENT.test(meeting.name)) continue;
    const meetingId = meeting.name;
    const dir = path.join(root, meetingId);
    for (const f of await dirents(dir)) {
      if (!f.isFile() || !SAFE_SEGMENT.test(f.name) || !/\.(webm|mp4)$/.test(f.name)) continue;
      const info = await stat(path.join(dir, f.name)).catch(() => null);
      if (!info) continue;
      const metadata = await readSidecar(path.join(dir, f.name.replace(/\.(webm|mp4)$/, '.json')));
      const entry: FileEntry = {
        filename: f.name,
        contentType: contentTypeOf(f.name) ?? 'application/octet-stream',
        size: info.size,
        modifiedAt: info.mtime.toISOString(),
        ...fileUrls(meetingId, f.name, sign),
        metadata,
      };
      const composed = COMPOSED.exec(f.name);
      if (composed) {
        const g = group(meetingId, str(metadata?.recordingId) ?? composed[2]);
        g.composed.push({ ...entry, format: composed[3], durationMs: num(metadata?.durationMs) });
        g.size += info.size;
        if (Array.isArray(metadata?.participants)) {
          for (const p of metadata.participants) {
            if (str(p?.participantId)) g.participants.push({ participantId: p.participantId, name: str(p.name), role: p.role === 'host' ? 'host' : 'participant' });
          }
        }
        continue;
      }
      const g = group(meetingId, str(metadata?.recordingId));
      const person: Person = {
        participantId: str(metadata?.participantId) ?? 'unknown',
        name: str(metadata?.participantName),
        role: metadata?.role === 'host' || metadata?.role === 'participant' ? metadata.role : null,
      };
      g.tracks.push({
        ...entry,
        contentType: metadata?.kind === 'audio' ? 'audio/webm' : metadata?.kind === 'video' ? 'video/webm' : entry.contentType,
        ...person,
        kind: str(metadata?.kind),
        codec: str(metadata?.codec),
        durationMs: num(metadata?.durationMs),
        offsetMs: num(metadata?.offsetMs),
        segmentIndex: num(metadata?.segmentIndex),
      });
      g.size += info.size;
      if (person.participantId !== 'unknown') g.participants.push(person);
    }
  }

  const recordings = [...groups.values()].map((g) => {
    const known = g.recordingId ? lookup(g.recordingId) : undefined;
    const people = new Map<string, Person>();
    for (const p of [...g.participants, ...(known?.participants ?? [])]) {
      const prev = people.get(p.participantId);
      people.set(p.participantId, { participantId: p.participantId, name: p.name ?? prev?.name ?? null, role: p.role ?? prev?.role ?? null });
    }
    const participants = [...people.values()];
    const trackEnd = Math.max(0, ...g.tracks.map((t) => (t.offsetMs ?? 0) + (t.durationMs ?? 0)));
    const composedDuration = g.composed.find((c) => c.durationMs !== null)?.durationMs ?? null;
    const startedMs =
      known?.startedAt ??
      Math.min(...[...g.composed, ...g.tracks].map((f) => Number(/^(\d+)-/.exec(f.filename)?.[1] ?? Infinity)));
    return {
      ...g,
      startedAt: Number.isFinite(startedMs) ? new Date(startedMs).toISOString() : null,
      durationMs:
        composedDuration ?? (known?.stoppedAt && known.startedAt ? known.stoppedAt - known.startedAt : null) ?? (trackEnd || null),
      host: participants.find((p) => p.role === 'host') ?? null,
      participants,
    };
  });
  recordings.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
  return recordings;
}
export type RecordingListing = Awaited<ReturnType<typeof listRecordings>>[number];
