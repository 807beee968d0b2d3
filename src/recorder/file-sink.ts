import { open, type FileHandle } from 'node:fs/promises';
import { DurationPosition, SegmentSizePosition, replaceSegmentSize, type WebmOutput } from 'werift/nonstandard';

/**
 * Writes werift's WebM output to one file, in order, coalescing chunks that
 * pile up while a write is in flight. Unlike werift's own saveToFileSystem,
 * a failed write never becomes an unhandled rejection: the first error is kept,
 * later output is dropped, and `error`/`onError` report it.
 */
export interface WebmFileSink {
  write(o: WebmOutput): void;
  /** Resolves when werift's end-of-stream output has been written and the header patched (or on error / close). */
  readonly ended: Promise<void>;
  /** True once the end-of-stream output (cues, duration) is in the file. */
  readonly sawEnd: boolean;
  /** True once anything was written (the file exists). */
  readonly opened: boolean;
  readonly bytes: number;
  readonly error: Error | null;
  /**
   * After a failed write: cuts the file back to the output written whole
   * (`bytes`) and patches the header's duration and segment size to match, so
   * the file is a complete, shorter WebM. Only overwrites or frees bytes the
   * file already holds: works on a full disk. Never rejects.
   */
  salvage(durationElement: Buffer | null): Promise<void>;
  /** Flushes, closes the file. Never rejects. */
  close(): Promise<void>;
}

export function createWebmFileSink(path: string, onError: (e: Error) => void): WebmFileSink {
  let handle: FileHandle | null = null;
  let opening: Promise<void> | null = null;
  let pending: Buffer[] = [];
  let end: WebmOutput['eol'] | null = null;
  let draining: Promise<void> | null = null;
  let error: Error | null = null;
  let bytes = 0;
  let closed = false;
  let endWritten = false;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => (resolveEnded = r));

  const fail = (e: unknown) => {
    if (error) return;
    error = e instanceof Error ? e : new Error(String(e));
    pending = [];
    resolveEnded();
    onError(error);
  };

  const ensureOpen = (): Promise<void> => {
    opening ??= open(path, 'wx').then((h) => {
      handle = h;
    });
    return opening;
  };

  const drain = async (): Promise<void> => {
    await ensureOpen();
    while (!error && handle && (pending.length > 0 || end)) {
      if (pending.length > 0) {
        const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [];
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, off, chunk.length - off, bytes + off);
          off += bytesWritten;
        }
        bytes += chunk.length;
        continue;
      }
      const eol = end!;
      end = null;
      await handle.write(eol.durationElement, 0, eol.durationElement.length, DurationPosition);
      const size = replaceSegmentSize(bytes);
      await handle.write(size, 0, size.length, SegmentSizePosition);
      endWritten = true;
      resolveEnded();
    }
  };

  const kick = () => {
    if (draining || error) return;
    draining = drain()
      .catch(fail)
      .finally(() => {
        draining = null;
        if (!error && (pending.length > 0 || end)) kick();
      });
  };

  return {
    write(o) {
      if (error || closed) return;
      if (o.saveToFile) pending.push(o.saveToFile);
      if (o.eol) end = o.eol;
      kick();
    },
    ended,
    get sawEnd() {
      return endWritten;
    },
    get opened() {
      return opening !== null;
    },
    get bytes() {
      return bytes;
    },
    get error() {
      return error;
    },
    async salvage(durationElement) {
      while (draining) await draining;
      const h = handle as FileHandle | null;
      if (!h || closed) return;
      try {
        await h.truncate(bytes);
        if (durationElement && bytes >= DurationPosition + durationElement.length) {
          await h.write(durationElement, 0, durationElement.length, DurationPosition);
        }
        const size = replaceSegmentSize(bytes);
        if (bytes < SegmentSizePosition + size.length) return; // not even the segment header was written whole
        await h.write(size, 0, size.length, SegmentSizePosition);
      } catch {
        // the file stays as the failed write left it; the composer probes what it can
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      while (draining) await draining;
      const h = handle as FileHandle | null;
      handle = null;
      if (h) await h.close().catch(fail);
      resolveEnded();
    },
  };
}
