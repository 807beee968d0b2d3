import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import type { NewEvent, StoredEvent } from '../../events/envelope.js';
import { CheckpointMismatchError, ConcurrencyError, eachOf, type AppendOptions, type EventLog, type LoggedEvent, type ReadOptions } from './types.js';
import { readLineAt, readLines, type Line } from './lines.js';
import { parseNewEvents, parseStored, serialize, toStored } from './validate.js';

export interface EmbeddedLogOptions {
  /** The JSONL file; created (with its directory) when missing. */
  file: string;
  /** fdatasync after every group-committed write (default true). */
  fsync?: boolean;
  logger?: Logger;
}

/** Appends that arrive while a write is in flight, written together with one fdatasync. */
interface Batch {
  lines: string[];
  events: LoggedEvent[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Single-process event log in one append-only JSONL file. Positions, known ids
 * and the global sequence live in memory, rebuilt by a scan on open; only one
 * process may have the file open.
 */
export async function createEmbeddedLog({ file, fsync = true, logger }: EmbeddedLogOptions): Promise<EventLog> {
  const log = logger ?? pino({ level: 'silent' });
  await mkdir(dirname(file), { recursive: true });
  const fh = await open(file, 'a+');

  const positions = new Map<string, number>(); // reserved: includes batches not yet written
  const offsets = new Map<string, number>(); // event id -> byte offset of its durable line
  const pending = new Map<string, StoredEvent>(); // event id -> event reserved but not yet written
  let seq = 0;
  let size = 0;
  let needsNewline = false;
  try {
    ({ seq, size, needsNewline } = await scan(file, (await fh.stat()).size, positions, offsets, log));
    if (size === 0 && fsync) await syncDir(dirname(file)); // the new file's directory entry must survive a crash too
  } catch (err) {
    await fh.close();
    throw err;
  }

  const subscribers = new Set<(e: LoggedEvent) => void>();
  let current: Batch | null = null;
  let lastDone: Promise<void> = Promise.resolve();
  let writing = false;
  let failed: unknown = null;
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
    const buf = Buffer.from(`${needsNewline ? '\n' : ''}${b.lines.join('\n')}\n`);
    for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
    if (fsync) await fh.datasync();
    let o = size + (needsNewline ? 1 : 0);
    b.events.forEach(({ event }, i) => {
      offsets.set(event.id, o);
      pending.delete(event.id);
      o += Buffer.byteLength(b.lines[i]) + 1;
    });
    size += buf.length;
    needsNewline = false;
  }

  async function flush(): Promise<void> {
    if (writing) return;
    writing = true;
    try {
      while (current) {
        const b = current;
        current = null;
        if (failed) {
          b.reject(failed);
          continue;
        }
        try {
          await write(b);
        } catch (err) {
          // A failed write or fdatasync leaves the file's state unknown: refuse all further appends.
          failed = err;
          log.error({ err, file }, 'event log write failed; log is now read-only until reopened');
          b.reject(err);
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
    if (failed) throw failed;
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
      const known = pending.get(e.id) ?? inCall?.get(e.id) ?? offsets.get(e.id);
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
    if (fresh.length > 0 && options.expectedPosition !== undefined && options.expectedPosition !== actual) {
      throw new ConcurrencyError(stream, options.expectedPosition, actual);
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
    let skipFirst = false;
    if (after) {
      // Start at the checkpoint's own line (its offset is known from the scan on open), then skip it.
      const off = offsets.get(after.eventId);
      if (off === undefined) throw new CheckpointMismatchError(after.seq, after.eventId, 'no such event id');
      start = off;
      n = after.seq;
      skipFirst = true;
    }
    for await (const lines of readLines(file, start, size)) {
      const batch: LoggedEvent[] = [];
      for (const line of lines) {
        lineNo++;
        if (skipFirst) {
          skipFirst = false;
          const first = check(line, lineNo, report);
          if (first?.id !== after!.eventId) throw new CheckpointMismatchError(after!.seq, after!.eventId, 'offset does not hold it');
          continue;
        }
        const event = check(line, lineNo, report);
        if (!event) continue;
        n++;
        if ((stream === undefined || event.stream === stream) && (correlationId === undefined || event.correlationId === correlationId)) {
          batch.push({ seq: n, event });
        }
        if (untilSeq !== undefined && n >= untilSeq) break;
      }
      if (batch.length > 0) yield batch;
      if (untilSeq !== undefined && n >= untilSeq) return;
    }
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
      await fh.close();
    })();
    return closing;
  }

  return { kind: 'embedded', append, position, read, readBatches, subscribe, close };
}

/** Parses one line; returns null for an empty line, and reports torn or invalid ones. */
function check(line: Line, lineNo: number, report: (problem: string) => void): StoredEvent | null {
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

async function scan(
  file: string,
  end: number,
  positions: Map<string, number>,
  offsets: Map<string, number>,
  log: Logger,
): Promise<{ seq: number; size: number; needsNewline: boolean }> {
  let seq = 0;
  let lineNo = 0;
  let needsNewline = false;
  const report = (problem: string) => log.warn({ file }, problem);
  for await (const lines of readLines(file, 0, end)) {
    for (const line of lines) {
      lineNo++;
      if (!line.terminated) needsNewline = true;
      const event = check(line, lineNo, report);
      if (!event) continue;
      seq++;
      positions.set(event.stream, Math.max(positions.get(event.stream) ?? 0, event.position));
      if (!offsets.has(event.id)) offsets.set(event.id, line.offset);
    }
  }
  log.info({ file, events: seq, streams: positions.size, bytes: end }, 'event log opened');
  return { seq, size: end, needsNewline };
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
