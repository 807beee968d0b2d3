/**
 * Turns a finished WebM into what werift leaves when its process is killed:
 * segment and clusters of unknown size, no cues, no seek head, a header
 * duration of 24 h — and the last cluster cut short. Just enough EBML to do that.
 */
import { readFile, writeFile } from 'node:fs/promises';

const ID = {
  segment: 0x18538067,
  seekHead: 0x114d9b74,
  info: 0x1549a966,
  tracks: 0x1654ae6b,
  cues: 0x1c53bb6b,
  cluster: 0x1f43b675,
  tags: 0x1254c367,
  void: 0xec,
  duration: 0x4489,
} as const;

interface Element {
  id: number;
  idBytes: Buffer;
  dataStart: number;
  /** null: unknown size (to the end of the parent). */
  size: number | null;
}

function vintLength(first: number): number {
  for (let i = 0; i < 8; i++) if (first & (0x80 >> i)) return i + 1;
  throw new Error('bad EBML vint');
}

function readElement(buf: Buffer, at: number): Element {
  const idLen = vintLength(buf[at]!);
  const idBytes = buf.subarray(at, at + idLen);
  const id = idBytes.readUIntBE(0, idLen);
  const sizeAt = at + idLen;
  const sizeLen = vintLength(buf[sizeAt]!);
  let size = buf[sizeAt]! & (0xff >> sizeLen);
  let allOnes = size === 0xff >> sizeLen;
  for (let i = 1; i < sizeLen; i++) {
    size = size * 256 + buf[sizeAt + i]!;
    if (buf[sizeAt + i] !== 0xff) allOnes = false;
  }
  return { id, idBytes: Buffer.from(idBytes), dataStart: sizeAt + sizeLen, size: allOnes ? null : size };
}

function children(buf: Buffer, start: number, end: number): Element[] {
  const out: Element[] = [];
  let at = start;
  while (at < end) {
    const e = readElement(buf, at);
    out.push(e);
    at = e.size === null ? end : e.dataStart + e.size;
  }
  return out;
}

const UNKNOWN = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function size8(n: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x01;
  b.writeUIntBE(n, 2, 6);
  return b;
}

function element(idBytes: Buffer, data: Buffer, unknownSize = false): Buffer {
  return Buffer.concat([idBytes, unknownSize ? UNKNOWN : size8(data.length), data]);
}

/** Rewrites `file` in place; `keepFraction` of the last cluster's bytes survive the "crash". */
export async function makeCrashLeft(file: string, keepFraction = 0.5): Promise<void> {
  const buf = await readFile(file);
  const top = children(buf, 0, buf.length);
  const header = top[0]!;
  const segment = top.find((e) => e.id === ID.segment);
  if (!segment) throw new Error('no Segment');
  const segEnd = segment.size === null ? buf.length : segment.dataStart + segment.size;
  const parts: Buffer[] = [];
  const clusters: Buffer[] = [];
  for (const e of children(buf, segment.dataStart, segEnd)) {
    const end = e.size === null ? segEnd : e.dataStart + e.size;
    const data = buf.subarray(e.dataStart, end);
    if (e.id === ID.info) {
      // Rebuild Info: every child but Duration/Void, then Duration = 86 400 000 ms as a 64-bit float.
      const keep: Buffer[] = [];
      for (const c of children(buf, e.dataStart, end)) {
        if (c.id === ID.duration || c.id === ID.void) continue;
        const cEnd = c.size === null ? end : c.dataStart + c.size;
        keep.push(element(c.idBytes, buf.subarray(c.dataStart, cEnd)));
      }
      const dur = Buffer.alloc(8);
      dur.writeDoubleBE(86_400_000);
      keep.push(Buffer.concat([Buffer.from([0x44, 0x89, 0x88]), dur]));
      parts.push(element(e.idBytes, Buffer.concat(keep)));
    } else if (e.id === ID.tracks) {
      parts.push(element(e.idBytes, data));
    } else if (e.id === ID.cluster) {
      clusters.push(element(e.idBytes, data, true));
    }
    // SeekHead, Cues, Tags, Void: dropped, as werift never wrote them.
  }
  const last = clusters.pop();
  if (last) clusters.push(last.subarray(0, Math.max(12, Math.floor(last.length * keepFraction))));
  const seg = element(segment.idBytes, Buffer.concat([...parts, ...clusters]), true);
  const headerBytes = buf.subarray(0, header.size === null ? 0 : header.dataStart + header.size);
  await writeFile(file, Buffer.concat([headerBytes, seg]));
}
