import { open, stat } from 'node:fs/promises';

/**
 * An index of the clusters of a (possibly still growing) WebM/Matroska file,
 * read incrementally: where each cluster starts, its time, whether it starts
 * on a keyframe, and the newest block that is wholly on disk. The live
 * composer uses it to know how far a track's media reaches and to cut a
 * window's slice (the file's header + the clusters covering the window) out
 * of a file the recorder is still writing, without ffmpeg seeking in a file
 * that has no cues yet.
 *
 * werift starts a video cluster on every keyframe and an audio cluster every
 * 32.767 s; an ffmpeg-remuxed (finalized) file has its own cluster layout and
 * is indexed the same way.
 */
export interface ClusterEntry {
  offset: number;
  /** Cluster timecode, ms (file time). */
  timeMs: number;
  /** The cluster's first block is a keyframe (audio: always). */
  keyframe: boolean;
  /** Byte after the last whole block of the cluster seen so far. */
  end: number;
  /** Newest whole block's time in this cluster, ms (file time). */
  lastBlockMs: number | null;
  /** Whole blocks (frames) seen in this cluster so far. */
  blocks: number;
}

export interface WebmIndex {
  /** Offset of the first cluster: the bytes before it are the header a slice starts with. */
  headerEnd: number | null;
  clusters: ClusterEntry[];
  /** Time of the file's first block (the file's t = 0 for the composer), ms. */
  firstBlockMs: number | null;
  /** Newest whole block, ms (file time). */
  lastBlockMs: number | null;
  /** Identity of the file indexed (a remux replaces the file: the index starts over). */
  ino: number;
  size: number;
  /** Where the next read resumes (the start of the last cluster, which may still grow). */
  resumeAt: number;
  timecodeScaleNs: number;
}

const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  ReferenceBlock: 0xfb,
} as const;
/** Level-1 elements: in a cluster of unknown size, one of these ends it. */
const LEVEL1 = new Set([0x1f43b675, 0x1c53bb6b, 0x1254c367, 0x114d9b74, 0x1549a966, 0x1654ae6b, 0x1043a770, 0x1941a469]);

interface Vint {
  value: number;
  length: number;
  unknown: boolean;
}

function readVint(buf: Buffer, pos: number, keepMarker: boolean): Vint | null {
  if (pos >= buf.length) return null;
  const first = buf[pos]!;
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length++;
  if (length > 8 || pos + length > buf.length) return null;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = (first & (0xff >> length)) === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = buf[pos + i]!;
    value = value * 256 + b;
    if (b !== 0xff) allOnes = false;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

function readUint(buf: Buffer, pos: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + buf[pos + i]!;
  return v;
}

export function emptyIndex(): WebmIndex {
  return { headerEnd: null, clusters: [], firstBlockMs: null, lastBlockMs: null, ino: -1, size: 0, resumeAt: 0, timecodeScaleNs: 1_000_000 };
}

/**
 * Parses `buf` (the file's bytes from `base`) into `index`, from
 * `index.resumeAt`. Pure apart from mutating the index. Exported for tests.
 */
export function parseInto(index: WebmIndex, buf: Buffer, base: number): void {
  let pos = index.resumeAt - base;
  const scale = () => index.timecodeScaleNs / 1_000_000;
  if (index.resumeAt === 0) {
    // EBML header, then the Segment's header; then its children are walked.
    const id = readVint(buf, pos, true);
    if (!id || id.value !== ID.EBML) return;
    const size = readVint(buf, pos + id.length, false);
    if (!size) return;
    pos += id.length + size.length + size.value;
    const seg = readVint(buf, pos, true);
    if (!seg || seg.value !== ID.Segment) return;
    const segSize = readVint(buf, pos + seg.length, false);
    if (!segSize) return;
    pos += seg.length + segSize.length;
    index.resumeAt = base + pos;
  }
  // Drop the last cluster: it is parsed again whole.
  if (index.clusters.length > 0 && index.clusters.at(-1)!.offset === index.resumeAt) index.clusters.pop();

  while (pos < buf.length) {
    const start = pos;
    const id = readVint(buf, pos, true);
    const size = id ? readVint(buf, pos + id.length, false) : null;
    if (!id || !size) break;
    const dataStart = pos + id.length + size.length;
    if (id.value !== ID.Cluster) {
      if (size.unknown || dataStart + size.value > buf.length) break; // not whole yet
      if (id.value === ID.Info) {
        let p = dataStart;
        while (p < dataStart + size.value) {
          const cid = readVint(buf, p, true);
          const csz = cid ? readVint(buf, p + cid.length, false) : null;
          if (!cid || !csz) break;
          const d = p + cid.length + csz.length;
          if (cid.value === ID.TimecodeScale) index.timecodeScaleNs = readUint(buf, d, csz.value);
          p = d + csz.value;
        }
      }
      pos = dataStart + size.value;
      index.resumeAt = base + pos;
      continue;
    }
    // A cluster.
    index.headerEnd ??= base + start;
    const limit = size.unknown ? buf.length : Math.min(buf.length, dataStart + size.value);
    const entry: ClusterEntry = { offset: base + start, timeMs: 0, keyframe: false, end: base + dataStart, lastBlockMs: null, blocks: 0 };
    let p = dataStart;
    let ended = !size.unknown && dataStart + size.value <= buf.length;
    while (p < limit) {
      const cid = readVint(buf, p, true);
      const csz = cid ? readVint(buf, p + cid.length, false) : null;
      if (!cid || !csz) break;
      if (size.unknown && LEVEL1.has(cid.value)) {
        ended = true;
        break;
      }
      const d = p + cid.length + csz.length;
      if (csz.unknown || d + csz.value > buf.length) break;
      if (cid.value === ID.Timecode) entry.timeMs = readUint(buf, d, csz.value) * scale();
      else if (cid.value === ID.SimpleBlock || cid.value === ID.BlockGroup) {
        let bp = d;
        let key = true;
        if (cid.value === ID.BlockGroup) {
          // Block inside; a ReferenceBlock makes it a delta frame.
          let q = d;
          bp = -1;
          while (q < d + csz.value) {
            const gid = readVint(buf, q, true);
            const gsz = gid ? readVint(buf, q + gid.length, false) : null;
            if (!gid || !gsz) break;
            if (gid.value === ID.Block) bp = q + gid.length + gsz.length;
            if (gid.value === ID.ReferenceBlock) key = false;
            q += gid.length + gsz.length + gsz.value;
          }
        }
        const track = bp >= 0 ? readVint(buf, bp, false) : null;
        if (track) {
          const rel = buf.readInt16BE(bp + track.length);
          if (cid.value === ID.SimpleBlock) key = (buf[bp + track.length + 2]! & 0x80) !== 0;
          const t = entry.timeMs + rel * scale();
          if (entry.blocks === 0) entry.keyframe = key;
          entry.blocks++;
          entry.lastBlockMs = entry.lastBlockMs === null ? t : Math.max(entry.lastBlockMs, t);
          index.firstBlockMs ??= t;
          index.lastBlockMs = index.lastBlockMs === null ? t : Math.max(index.lastBlockMs, t);
        }
      }
      p = d + csz.value;
      entry.end = base + p;
    }
    index.clusters.push(entry);
    if (!ended) {
      // Still growing: read it again next time.
      index.resumeAt = entry.offset;
      break;
    }
    pos = size.unknown ? p : dataStart + size.value;
    index.resumeAt = base + pos;
  }
}

/** Brings the index up to the file's current length. A replaced or shrunk file is indexed again. */
export async function refreshIndex(file: string, index: WebmIndex = emptyIndex()): Promise<WebmIndex> {
  const info = await stat(file);
  if (info.ino !== index.ino || info.size < index.size) index = { ...emptyIndex(), ino: info.ino };
  if (info.size === index.size) return index;
  const h = await open(file, 'r');
  try {
    const from = index.resumeAt;
    const len = info.size - from;
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await h.read(buf, got, len - got, from + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    parseInto(index, got === len ? buf : buf.subarray(0, got), from);
    index.size = from + got;
  } finally {
    await h.close();
  }
  return index;
}

/**
 * The byte ranges of a slice that holds file time [fromMs, toMs]: the
 * header, then from the last keyframe cluster at or before fromMs to the first
 * cluster after toMs (or everything whole so far). Null when nothing of it is
 * indexed yet.
 */
export function sliceRanges(index: WebmIndex, fromMs: number, toMs: number): { ranges: [number, number][]; startMs: number } | null {
  if (index.headerEnd === null || index.clusters.length === 0) return null;
  const cs = index.clusters;
  let first = 0;
  for (let i = 0; i < cs.length; i++) {
    if (cs[i]!.timeMs > fromMs) break;
    if (cs[i]!.keyframe) first = i;
  }
  let last = cs.length - 1;
  for (let i = first; i < cs.length; i++) {
    if (cs[i]!.timeMs > toMs) {
      last = Math.max(first, i - 1);
      break;
    }
  }
  const end = last + 1 < cs.length ? cs[last + 1]!.offset : cs[last]!.end;
  return { ranges: [[0, index.headerEnd], [cs[first]!.offset, end]], startMs: cs[first]!.timeMs };
}

/** Writes the slice's bytes to `out`. */
export async function writeSlice(file: string, ranges: readonly [number, number][], out: string): Promise<void> {
  const src = await open(file, 'r');
  const dst = await open(out, 'w');
  try {
    let at = 0;
    for (const [a, b] of ranges) {
      const buf = Buffer.alloc(b - a);
      const { bytesRead } = await src.read(buf, 0, b - a, a);
      await dst.write(buf, 0, bytesRead, at);
      at += bytesRead;
    }
  } finally {
    await src.close();
    await dst.close();
  }
}
