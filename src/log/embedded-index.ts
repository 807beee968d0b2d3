import { open, readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { readLineAt, readLines, type Line } from './lines.js';
import { parseStored } from './validate.js';
import type { StoredEvent } from '../../events/envelope.js';

/** Ids remembered for duplicate-drop by default: an append repeating one of (at least) the last this many events is answered with the stored copy. */
export const DUPLICATE_WINDOW = 100_000;
/** Every this many events the index marks where an event starts, so a read can begin near any sequence. */
export const MARK_EVERY = 1024;

/** The event at global sequence `seq` starts at byte `offset`, on line `line` (1-based, invalid lines counted). */
export interface Mark {
  seq: number;
  offset: number;
  line: number;
  id: string;
}

/**
 * What the embedded log knows about the durable part of its file, so that it
 * need not read the file again: the last position of every stream, where
 * recent events are (for duplicate-drop), and a mark every MARK_EVERY events.
 * Memory grows with streams and history / MARK_EVERY, not with every event.
 */
export interface FileIndex {
  /** Bytes covered: always the end of a line (or of a torn last line, see needsNewline). */
  size: number;
  /** Valid events in [0, size). */
  seq: number;
  /** Lines in [0, size), invalid ones included. */
  lines: number;
  /** The covered part ends in a torn line: the next write starts with a newline. */
  needsNewline: boolean;
  positions: Map<string, number>;
  /**
   * Global sequence of every stream's first event (at most: 1 when not
   * known), so reading one stream starts at the mark before it.
   */
  firsts: Map<string, number>;
  /**
   * Event id -> byte offset of recent events (none when `window` is 0), in two generations of up to
   * `window` ids each: at least the last `window` events are always known,
   * at most twice that many are kept. (Evicting Map entries one by one from
   * the front is quadratic in V8: iteration walks the deleted slots.)
   */
  recent: { current: Map<string, number>; previous: Map<string, number> };
  window: number;
  marks: Mark[];
}

export function emptyIndex(window = DUPLICATE_WINDOW): FileIndex {
  return { size: 0, seq: 0, lines: 0, needsNewline: false, positions: new Map(), firsts: new Map(), recent: { current: new Map(), previous: new Map() }, window, marks: [] };
}

/** Byte offset of a recent event with this id (undefined: not appended within the window). */
export function recentOffset(ix: FileIndex, id: string): number | undefined {
  return ix.recent.current.get(id) ?? ix.recent.previous.get(id);
}

/**
 * Records one durable event (the next valid one, on the next line). `fresh`:
 * the caller knows no recent event has its id (append checked), so the first
 * copy need not be looked for.
 */
export function recordEvent(ix: FileIndex, event: StoredEvent, offset: number, fresh = false): void {
  ix.seq++;
  ix.lines++;
  if ((ix.positions.get(event.stream) ?? 0) < event.position) ix.positions.set(event.stream, event.position);
  if (!ix.firsts.has(event.stream)) ix.firsts.set(event.stream, ix.seq);
  if (ix.window > 0 && (fresh || recentOffset(ix, event.id) === undefined)) {
    ix.recent.current.set(event.id, offset);
    if (ix.recent.current.size >= ix.window) ix.recent = { current: new Map(), previous: ix.recent.current };
  }
  if (ix.seq % MARK_EVERY === 1) ix.marks.push({ seq: ix.seq, offset, line: ix.lines, id: event.id });
}

/** The mark to start reading from to reach sequence `seq` (null: from the start of the file). */
export function markAtOrBefore(ix: FileIndex, seq: number): Mark | null {
  let lo = 0;
  let hi = ix.marks.length - 1;
  let found: Mark | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ix.marks[mid]!.seq <= seq) {
      found = ix.marks[mid]!;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * Where reading one stream starts (the mark at or before its first event)
 * and the last durable position to read up to; null when the stream has no
 * durable event.
 */
export function streamSpan(ix: FileIndex, stream: string): { from: Mark | null; last: number } | null {
  const first = ix.firsts.get(stream);
  const last = ix.positions.get(stream);
  if (first === undefined || last === undefined) return null;
  return { from: markAtOrBefore(ix, first), last };
}

/** Parses one line; null for an empty line; torn or invalid ones are reported. */
export function checkLine(line: Line, lineNo: number, report: (problem: string) => void): StoredEvent | null {
  if (line.text.length === 0) return null;
  const p = parseStored(line.text);
  if (p.ok) return p.event;
  report(
    line.terminated
      ? `line ${lineNo} (byte ${line.offset}) skipped: ${p.problem}`
      : `torn last line ${lineNo} (byte ${line.offset}, no newline) skipped: ${p.problem}`,
  );
  return null;
}

interface IndexFileV1 {
  version: 1;
  size: number;
  seq: number;
  positions: [string, number][];
  /** Absent in indexes saved before per-stream reads: every stream then reads from the start. */
  firsts?: [string, number][];
  marks: [number, number, number, string][];
}

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** The saved index, when it is readable and of this format (else null: the file is scanned). */
async function loadSaved(path: string, log: Logger): Promise<IndexFileV1 | null> {
  let saved: IndexFileV1;
  try {
    saved = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ path, err: (err as Error).message }, 'event log index unreadable: scanning the log');
    return null;
  }
  const ok =
    saved?.version === 1 &&
    isCount(saved.size) &&
    isCount(saved.seq) &&
    Array.isArray(saved.positions) &&
    saved.positions.every((p) => Array.isArray(p) && typeof p[0] === 'string' && isCount(p[1])) &&
    (saved.firsts === undefined ||
      (Array.isArray(saved.firsts) && saved.firsts.every((p) => Array.isArray(p) && typeof p[0] === 'string' && isCount(p[1])))) &&
    Array.isArray(saved.marks) &&
    saved.marks.every((m) => Array.isArray(m) && isCount(m[0]) && isCount(m[1]) && isCount(m[2]) && typeof m[3] === 'string');
  if (!ok) {
    log.warn({ path }, 'event log index malformed: scanning the log');
    return null;
  }
  return saved;
}

/**
 * Builds the index of `file` up to byte `end`. A saved index that still
 * matches the file (its last mark's event is where it says) is taken as it is
 * and only what follows it is read, starting `window` events earlier so the
 * duplicate-drop window is whole again. Otherwise the whole file is read.
 */
export async function buildIndex(
  file: string,
  end: number,
  indexPath: string,
  log: Logger,
  window = DUPLICATE_WINDOW,
): Promise<{ index: FileIndex; scannedFrom: number; savedSeq: number }> {
  const ix = emptyIndex(window);
  let from = 0;
  let savedSeq = -1;
  const saved = await loadSaved(indexPath, log);
  if (saved && saved.seq > 0 && saved.size > end) log.warn({ file, indexed: saved.size, bytes: end }, 'the log is shorter than its index says: scanning the log');
  else if (saved && saved.seq > 0) {
    const last = saved.marks.at(-1);
    let matches = false;
    if (last) {
      const fh = await open(file, 'r');
      try {
        const p = parseStored(await readLineAt(fh, last[1]));
        matches = p.ok && p.event.id === last[3];
      } finally {
        await fh.close();
      }
    }
    if (!matches) log.warn({ file }, 'event log index does not match the log: scanning the log');
    else {
      savedSeq = saved.seq;
      ix.positions = new Map(saved.positions);
      // Streams whose first event the saved index does not name are read from the start.
      ix.firsts = new Map(saved.firsts ?? []);
      for (const [stream] of saved.positions) if (!ix.firsts.has(stream)) ix.firsts.set(stream, 1);
      ix.marks = saved.marks.map(([seq, offset, line, id]) => ({ seq, offset, line, id }));
      const resume = markAtOrBefore(ix, saved.seq - window);
      if (resume) {
        ix.marks = ix.marks.filter((m) => m.seq < resume.seq);
        ix.seq = resume.seq - 1;
        ix.lines = resume.line - 1;
        from = resume.offset;
      } else ix.marks = [];
      // Positions only grow, so reading events the saved index had seen again changes none of them.
    }
  }
  const report = (problem: string) => log.warn({ file }, problem);
  for await (const lines of readLines(file, from, end)) {
    for (const line of lines) {
      if (!line.terminated) ix.needsNewline = true; // only ever the last line
      const event = checkLine(line, ix.lines + 1, report);
      if (event) recordEvent(ix, event, line.offset);
      else ix.lines++;
    }
  }
  ix.size = end;
  return { index: ix, scannedFrom: from, savedSeq };
}

/** Saves the index next to the log (atomically replaced; losing it only costs a longer scan). */
export async function saveIndex(ix: FileIndex, indexPath: string): Promise<void> {
  const data: IndexFileV1 = {
    version: 1,
    size: ix.size,
    seq: ix.seq,
    positions: [...ix.positions],
    firsts: [...ix.firsts],
    marks: ix.marks.map((m) => [m.seq, m.offset, m.line, m.id]),
  };
  const tmp = `${indexPath}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(data));
  await rename(tmp, indexPath);
}
