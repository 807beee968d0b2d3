import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { trackFileOf } from '../../events/files.js';
import { audioLevelsSchema, segmentMetaSchema, type AudioLevels, type SegmentMeta } from '../../events/segment.js';
import { assessSegment, probeSegment, type Assessment } from './probe.js';
import type { SkippedInput } from './types.js';

export interface FoundSegment {
  meta: SegmentMeta;
  sidecar: string;
  /** Absolute path of the media file. */
  mediaPath: string;
  levels: AudioLevels | null;
}

export type EvaluatedSegment = FoundSegment & { assessment: Extract<Assessment, { ok: true }> };

const MAX_SIDECAR_BYTES = 1024 * 1024;
const isBasename = (f: string) => f !== '' && f !== '.' && f !== '..' && path.basename(f) === f && !f.includes('\\');

async function readJson(file: string): Promise<unknown> {
  const info = await stat(file);
  if (!info.isFile() || info.size > MAX_SIDECAR_BYTES) return undefined;
  return JSON.parse(await readFile(file, 'utf8'));
}

/**
 * Every track sidecar of this recording in the meeting folder that is a
 * SegmentMeta of it (other JSON there — levels, composed metadata — is ignored),
 * with its audio levels when it has some.
 */
export async function findSegments(dir: string, meetingId: string, recordingId: string, logger: Logger): Promise<FoundSegment[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const found: FoundSegment[] = [];
  for (const name of names.sort()) {
    if (trackFileOf(name, recordingId) !== 'sidecar') continue;
    let raw: unknown;
    try {
      raw = await readJson(path.join(dir, name));
    } catch (err) {
      logger.debug({ file: name, err: (err as Error).message }, 'not a readable JSON file: ignored');
      continue;
    }
    const parsed = segmentMetaSchema.safeParse(raw);
    if (!parsed.success) continue;
    const meta = parsed.data;
    if (meta.recordingId !== recordingId || meta.meetingId !== meetingId || !isBasename(meta.file)) continue;
    let levels: AudioLevels | null = null;
    if (meta.kind === 'audio' && meta.levelsFile && isBasename(meta.levelsFile)) {
      const l = audioLevelsSchema.safeParse(await readJson(path.join(dir, meta.levelsFile)).catch(() => undefined));
      if (l.success) levels = l.data;
    }
    found.push({ meta, sidecar: name, mediaPath: path.join(dir, meta.file), levels });
  }
  return found;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** ffprobe every segment; the unusable ones come back as skipped, with why. */
export async function evaluateSegments(
  ffprobe: string,
  found: readonly FoundSegment[],
  logger: Logger,
  signal?: AbortSignal,
): Promise<{ usable: EvaluatedSegment[]; skipped: (SkippedInput & { segment: FoundSegment })[] }> {
  const results = await mapLimit(found, 4, async (seg): Promise<Assessment> => {
    const info = await stat(seg.mediaPath).catch(() => null);
    if (!info || !info.isFile()) return { ok: false, reason: 'media file missing' };
    if (info.size === 0) return { ok: false, reason: 'media file is empty' };
    const probed = await probeSegment(ffprobe, seg.mediaPath, seg.meta.kind, signal);
    if (!probed.ok) return probed;
    return assessSegment(seg.meta, probed.probe, probed.packets);
  });
  const usable: EvaluatedSegment[] = [];
  const skipped: (SkippedInput & { segment: FoundSegment })[] = [];
  results.forEach((a, i) => {
    const seg = found[i]!;
    const log = logger.child({ participantId: seg.meta.participantId, file: seg.meta.file });
    if (a.ok) {
      if (a.note) log.warn({ note: a.note }, 'segment used with a correction');
      usable.push({ ...seg, assessment: a });
    } else {
      log.warn({ reason: a.reason }, 'segment skipped');
      skipped.push({ file: seg.meta.file, reason: a.reason, segment: seg });
    }
  });
  return { usable, skipped };
}
