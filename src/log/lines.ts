import { open } from 'node:fs/promises';

export interface Line {
  text: string;
  /** Byte offset of the line's first byte in the file. */
  offset: number;
  /** False for a last line without its newline (a torn write, or a write in progress). */
  terminated: boolean;
}

/**
 * Reads the byte range [start, end) of a file in large chunks and yields its
 * lines a chunk at a time (readline is several times slower at this size).
 */
export async function* readLines(file: string, start: number, end: number, chunkSize = 1 << 20): AsyncGenerator<Line[]> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(chunkSize);
    let pos = start;
    let carry: Buffer | null = null;
    let carryOffset = start;
    while (pos < end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(chunkSize, end - pos), pos);
      if (bytesRead === 0) break;
      let data = buf.subarray(0, bytesRead);
      let base = pos;
      if (carry) {
        data = Buffer.concat([carry, data]);
        base = carryOffset;
        carry = null;
      }
      pos += bytesRead;
      const out: Line[] = [];
      let s = 0;
      // One decode for the whole chunk when every byte became one character (ASCII, as JSON
      // written by JSON.stringify of ASCII data is): string indexes are then byte offsets.
      const text = data.toString('utf8');
      if (text.length === data.length) {
        for (let nl = text.indexOf('\n', s); nl !== -1; nl = text.indexOf('\n', s)) {
          out.push({ text: text.slice(s, nl), offset: base + s, terminated: true });
          s = nl + 1;
        }
      } else {
        for (let nl = data.indexOf(10, s); nl !== -1; nl = data.indexOf(10, s)) {
          out.push({ text: data.toString('utf8', s, nl), offset: base + s, terminated: true });
          s = nl + 1;
        }
      }
      if (s < data.length) {
        carry = Buffer.from(data.subarray(s)); // copy: buf is reused by the next read
        carryOffset = base + s;
      }
      if (out.length > 0) yield out;
    }
    if (carry) yield [{ text: carry.toString('utf8'), offset: carryOffset, terminated: false }];
  } finally {
    await fh.close();
  }
}

/** The line starting at offset (without its newline). */
export async function readLineAt(fh: import('node:fs/promises').FileHandle, offset: number): Promise<string> {
  const parts: Buffer[] = [];
  let pos = offset;
  for (;;) {
    const buf = Buffer.allocUnsafe(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    const nl = buf.subarray(0, bytesRead).indexOf(10);
    if (nl !== -1) {
      parts.push(buf.subarray(0, nl));
      break;
    }
    parts.push(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return Buffer.concat(parts).toString('utf8');
}
