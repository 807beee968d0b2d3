import { checkLine } from './embedded-index.js';
import { readLines } from './lines.js';
import { eachOf, type EventLog, type LoggedEvent, type ReadOptions } from './types.js';

/**
 * One shard of the embedded log's file, read straight from its raw lines:
 * a stream belongs to shard k when its name hashes to k. Every line is read
 * but only the shard's own are parsed (the stream is found in the raw line,
 * where our writer always puts it), so several threads can share one file.
 * A line whose parsed stream is not the one found in the raw text (a foreign
 * writer's key order) marks the read as `mismatch`: the split cannot be trusted.
 */

export interface ShardTask {
  file: string;
  /** Bytes of the file to read (its length when the log was opened). */
  end: number;
  shard: number;
  shards: number;
}

/** What a whole read of the shard found, filled in as it goes. */
export interface ShardReadReport {
  /** The line (1-based) of each stream's first event. */
  firstLines: Record<string, number>;
  /** Valid events of this shard. */
  count: number;
  /** The shard's last valid event: its line and id. */
  last: { line: number; eventId: string } | null;
  /** Lines of this shard that failed to parse, with the message the sequential read would give. */
  problems: { line: number; problem: string }[];
  /** A line's parsed stream belonged to another shard. */
  mismatch: boolean;
}

const STREAM_KEY = '"stream":"';

/** FNV-1a: which shard a stream belongs to. */
export function shardOf(stream: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < stream.length; i++) {
    h ^= stream.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** The shard a raw line goes to: by the stream written in it, or 0 (which parses and reports it) if none is found. */
function ownerOf(text: string, shards: number): number {
  const i = text.indexOf(STREAM_KEY);
  if (i === -1) return 0;
  const j = text.indexOf('"', i + STREAM_KEY.length);
  return j === -1 ? 0 : shardOf(text.slice(i + STREAM_KEY.length, j), shards);
}

/**
 * A read-only log of one shard's events, numbered by line (unique and in log
 * order, not the log's own sequence). Whole reads fill in `report`; a read of
 * one stream (a resync) does not.
 */
export function openShard({ file, end, shard, shards }: ShardTask): { log: EventLog; report: ShardReadReport } {
  const report: ShardReadReport = { firstLines: {}, count: 0, last: null, problems: [], mismatch: false };
  async function* readBatches(options: ReadOptions = {}): AsyncGenerator<LoggedEvent[]> {
    const whole = options.stream === undefined;
    let lineNo = 0;
    for await (const lines of readLines(file, 0, end)) {
      const batch: LoggedEvent[] = [];
      for (const line of lines) {
        lineNo++;
        if (ownerOf(line.text, shards) !== shard) continue;
        const event = checkLine(line, lineNo, (problem) => whole && report.problems.push({ line: lineNo, problem }));
        if (!event) continue;
        if (shardOf(event.stream, shards) !== shard) {
          report.mismatch = true;
          return;
        }
        if (!whole && event.stream !== options.stream) continue;
        batch.push({ seq: lineNo, event });
        if (whole) {
          report.firstLines[event.stream] ??= lineNo;
          report.count++;
          report.last = { line: lineNo, eventId: event.id };
        }
      }
      if (batch.length > 0) yield batch;
    }
  }
  const log: EventLog = {
    kind: 'embedded',
    readBatches,
    read: (options) => eachOf(readBatches(options)),
    append: () => Promise.reject(new Error('read-only shard view')),
    position: () => Promise.reject(new Error('read-only shard view')),
    subscribe: () => () => {},
    close: async () => {},
  };
  return { log, report };
}
