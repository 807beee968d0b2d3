import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import type { NewEvent, StoredEvent } from '../../events/envelope.js';
import { CheckpointMismatchError, ConcurrencyError, eachOf, type AppendOptions, type EventLog, type LoggedEvent, type ReadOptions } from './types.js';
import { buildIndex, checkLine, markAtOrBefore, recentOffset, recordEvent, saveIndex, streamSpan } from './embedded-index.js';
import { readLineAt, readLines } from './lines.js';
import { parseNewEvents, parseStored, serialize, toStored } from './validate.js';

export interface EmbeddedLogOptions {
  /** The JSONL file; created (with its directory) when missing. */
  file: string;
  /** fdatasync after every group-committed write (default true). */
  fsync?: boolean;
  /**
   * Duplicate-drop covers the ids of the last this many events (default
   * 100,000); JetStream's equivalent is its duplicate window in time.
   */
  duplicateWindow?: number;
  /** For readers beside the writing process (the replay tool): appends are refused and nothing is written, not even the index. */
  readOnly?: boolean;
  logger?: Logger;
  /**
   * The file layer's write (default: the file handle's own). A seam for tests
   * that make writes fail (a full or failing disk) without one.
   */
  write?: (fh: FileHandle, buf: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>;
}

/** Appends that arrive while a write is in flight, written together with one fdatasync. */
interface Batch {
  lines: string[];
  events: LoggedEvent[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The index is saved again after this many events (and on close). */
const SAVE_INDEX_EVERY = 50_000;

/**
 * Single-process event log in one append-only JSONL file; only one process may
 * have the file open. What it needs to append (stream positions, recent ids,
 * the global sequence) is an index kept in memory and saved next to the file
 * (`<file>.index.json`): opening reads only what the saved index does not
 * cover, so a restart costs the same whatever the log's length.
 */
export async function createEmbeddedLog({ file, fsync = true, duplicateWindow, readOnly = false, logger, write: writeChunk }: EmbeddedLogOptions): Promise<EventLog> {
  const log = logger ?? pino({ level: 'silent' });
  if (!readOnly) await mkdir(dirname(file), { recursive: true });
  const fh = await open(file, readOnly ? 'r' : 'a+');
  const indexPath = `${file}.index.json`;

  let built: Awaited<ReturnType<typeof buildIndex>>;
  try {
    const end = (await fh.stat()).size;
    // A reader appends nothing, so it keeps no ids and reads on from the saved index's last mark.
    built = await buildIndex(file, end, indexPath, log, readOnly ? 0 : duplicateWindow);
    const ix = built.index;
    log.info({ file, events: ix.seq, streams: ix.positions.size, bytes: end, readFromByte: built.scannedFrom }, 'event log opened');
    if (end === 0 && fsync && !readOnly) await syncDir(dirname(file)); // the new file's directory entry must survive a crash too
  } catch (err) {
    await fh.close();
    throw err;
  }
  // Durable state is in ix; appends reserve positions and sequence numbers ahead of it.
  const ix = built.index;
  let positions = new Map(ix.positions);
  const pending = new Map<string, StoredEvent>(); // event id -> event reserved but not yet written
  let seq = ix.seq;
  let indexSavedAt = built.savedSeq; // what the index on disk covers (-1: none usable)
  let savingIndex: Promise<void> | null = null;

  const subscribers = new Set<(e: LoggedEvent) => void>();
  let current: Batch | null = null;
  let lastDone: Promise<void> = Promise.resolve();
  let writing = false;
  /** A write failed: the file may hold a torn tail past ix.size, cut off before the next write. */
  let torn: unknown = null;
  const writeTo = writeChunk ?? ((h: FileHandle, buf: Buffer, off: number, len: number) => h.write(buf, off, len));
  let closing: Promise<void> | null = null;

  function newBatch(): Batch {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => {}); // the appenders see the error; keep it from being unhandled here
    return { lines: [], events: [], done, resolve, reject };
  }

  async function write(b: Batch): Promise<void> {
    if (b.lines.length === 0) return;
    const buf = Buffer.from(`${ix.needsNewline ? '\n' : ''}${b.lines.join('\n')}\n`);
    for (let off = 0; off < buf.length; ) off += (await writeTo(fh, buf, off, buf.length - off)).bytesWritten;
    if (fsync) await fh.datasync();
    let o = ix.size + (ix.needsNewline ? 1 : 0);
    b.events.forEach(({ event }, i) => {
      recordEvent(ix, event, o, true);
      pending.delete(event.id);
      o += Buffer.byteLength(b.lines[i]) + 1;
    });
    ix.size += buf.length;
    ix.needsNewline = false;
    if (ix.seq - indexSavedAt >= SAVE_INDEX_EVERY && !savingIndex) persistIndex();
  }

  /** Saves the durable index in the background; a failure only means a longer read on the next open. */
  function persistIndex(): Promise<void> {
    indexSavedAt = ix.seq;
    savingIndex = saveIndex(ix, indexPath)
      .catch((err) => log.warn({ err, file }, 'could not save the event log index'))
      .finally(() => (savingIndex = null));
    return savingIndex;
  }

  /** Cuts the file back to its last durable byte after a failed write; throws when even that fails. */
  async function repair(): Promise<void> {
    await fh.truncate(ix.size);
    if (fsync) await fh.datasync();
    log.warn({ file, bytes: ix.size, err: (torn as Error)?.message }, 'event log cut back to its last good write; appending again');
    torn = null;
  }

  /**
   * Appends reserved positions and sequence numbers ahead of the durable
   * index: after a failed write those reservations are void (the batch and
   * any queued behind it are refused), so reserve again from what is durable.
   */
  function forgetReservations(err: unknown): void {
    positions = new Map(ix.positions);
    seq = ix.seq;
    pending.clear();
    const queued = current;
    current = null;
    queued?.reject(err);
  }

  async function flush(): Promise<void> {
    if (writing) return;
    writing = true;
    try {
      while (current) {
        const b = current;
        current = null;
        try {
          if (torn) await repair();
          await write(b);
        } catch (err) {
          // A failed write or fdatasync leaves the file's tail unknown: it is cut back before the next write.
          torn ??= err;
          log.error({ err, file, events: b.events.length }, 'event log write failed; its appends are refused, the next ones are tried again');
          b.reject(err);
          forgetReservations(err);
          continue;
        }
        for (const e of b.events) deliver(e);
        b.resolve();
      }
    } finally {
      writing = false;
    }
  }

  function deliver(e: LoggedEvent): void {
    for (const handler of subscribers) {
      try {
        handler(e);
      } catch (err) {
        log.error({ err, eventId: e.event.id, stream: e.event.stream }, 'subscriber threw');
      }
    }
  }

  function enqueue(lines: string[], events: LoggedEvent[]): Promise<void> {
    if (!current) {
      current = newBatch();
      lastDone = current.done;
      if (!writing) queueMicrotask(() => void flush());
    }
    current.lines.push(...lines);
    current.events.push(...events);
    return current.done;
  }

  async function append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    if (closing) throw new Error(`event log ${file} is closed`);
    if (readOnly) throw new Error(`event log ${file} is open read-only`);
    const input = parseNewEvents(stream, events);
    if (input.length === 0) return [];

    // Everything up to enqueue() runs synchronously, so call order is log order.
    const actual = positions.get(stream) ?? 0;
    let position = actual;
    const out: (StoredEvent | number)[] = []; // a number: offset of a durable copy to read back
    const fresh: StoredEvent[] = [];
    const lines: string[] = [];
    const inCall = input.length > 1 ? new Map<string, StoredEvent>() : null;
    for (const e of input) {
      const known = pending.get(e.id) ?? inCall?.get(e.id) ?? recentOffset(ix, e.id);
      if (known !== undefined) {
        out.push(known);
        continue;
      }
      const stored = toStored(e, ++position);
      lines.push(serialize(stored));
      fresh.push(stored);
      inCall?.set(e.id, stored);
      out.push(stored);
    }
    // A retry whose events are all stored already is answered with the copies, whatever it expected.
    if (fresh.length > 0 && (options.lineage?.broken || (options.expectedPosition !== undefined && options.expectedPosition !== actual))) {
      if (options.lineage) options.lineage.broken = true;
      throw new ConcurrencyError(stream, options.expectedPosition ?? actual, actual);
    }
    const logged = fresh.map((event) => {
      pending.set(event.id, event);
      return { seq: ++seq, event };
    });
    if (fresh.length > 0) positions.set(stream, position);

    await enqueue(lines, logged);
    if (out.every((o) => typeof o !== 'number')) return out as StoredEvent[];
    return Promise.all(out.map((o) => (typeof o === 'number' ? storedAt(o) : o)));
  }

  async function storedAt(offset: number): Promise<StoredEvent> {
    const p = parseStored(await readLineAt(fh, offset));
    if (!p.ok) throw new Error(`event log ${file}: stored copy at byte ${offset} unreadable: ${p.problem}`);
    return p.event;
  }

  async function position(stream: string): Promise<number> {
    const p = positions.get(stream) ?? 0;
    await lastDone.catch(() => {});
    return p;
  }

  async function* readBatches(options: ReadOptions = {}, onInvalid?: (problem: string) => void): AsyncGenerator<LoggedEvent[]> {
    const report = onInvalid ?? ((problem: string) => log.warn({ file }, problem));
    const { stream, correlationId, untilSeq, after } = options;
    if (untilSeq !== undefined && untilSeq < 1) return;
    let n = 0;
    let lineNo = 0;
    let start = 0;
    // Reading on from a checkpoint: start at the nearest mark, skip silently up to its event, which must be the one named.
    const skipThrough = after?.seq ?? 0;
    // One stream: from the mark before its first event, up to its last durable one.
    const span = stream !== undefined && !after ? streamSpan(ix, stream) : undefined;
    if (span === null) return;
    let spanEnded = false;
    const mark = after ? markAtOrBefore(ix, after.seq) : (span?.from ?? null);
    if (mark) {
      start = mark.offset;
      n = mark.seq - 1;
      lineNo = mark.line - 1;
    }
    const quiet = () => {};
    for await (const lines of readLines(file, start, ix.size)) {
      const batch: LoggedEvent[] = [];
      for (const line of lines) {
        lineNo++;
        const event = checkLine(line, lineNo, n < skipThrough ? quiet : report);
        if (!event) continue;
        n++;
        if (n <= skipThrough) {
          if (n === skipThrough && event.id !== after!.eventId) throw new CheckpointMismatchError(after!.seq, after!.eventId, 'another event is there');
          continue;
        }
        if ((stream === undefined || event.stream === stream) && (correlationId === undefined || event.correlationId === correlationId)) {
          batch.push({ seq: n, event });
        }
        if (untilSeq !== undefined && n >= untilSeq) break;
        if (span && event.stream === stream && event.position >= span.last) {
          spanEnded = true;
          break;
        }
      }
      if (batch.length > 0) yield batch;
      if ((untilSeq !== undefined && n >= untilSeq) || spanEnded) return;
    }
    if (n < skipThrough) throw new CheckpointMismatchError(after!.seq, after!.eventId, `the log holds only ${n} events`);
  }

  const read = (options?: ReadOptions, onInvalid?: (problem: string) => void) => eachOf(readBatches(options, onInvalid));

  function subscribe(handler: (e: LoggedEvent) => void): () => void {
    const h = (e: LoggedEvent) => handler(e); // a distinct entry per call, so one handler may subscribe twice
    subscribers.add(h);
    return () => void subscribers.delete(h);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      await lastDone.catch(() => {});
      subscribers.clear();
      await savingIndex;
      if (torn) await repair().catch((err) => log.error({ err, file }, 'could not cut the event log back to its last good write'));
      if (!readOnly && ix.seq > indexSavedAt) await persistIndex();
      await fh.close();
    })();
    return closing;
  }

  const localFile = () => ({ file, end: ix.size });

  return { kind: 'embedded', append, position, read, readBatches, localFile, subscribe, close };
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
