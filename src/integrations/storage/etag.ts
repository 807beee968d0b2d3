import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * The ETags S3 gives a file uploaded whole (its MD5) or in parts of
 * `partSize` (the MD5 of the parts' MD5s, then `-<parts>`). Both are
 * computed in one read, as lib-storage may use either for a file of about
 * one part. Not valid for SSE-KMS objects, whose ETag is no MD5.
 */
export async function expectedEtags(file: string, partSize: number): Promise<string[]> {
  const whole = createHash('md5');
  const parts: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(partSize - inPart, chunk.length - off);
      part.update(chunk.subarray(off, off + take));
      inPart += take;
      off += take;
      if (inPart === partSize) {
        parts.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0) parts.push(part.digest());
  const multipart = `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}`;
  return [whole.digest('hex'), multipart];
}

/** An ETag header without its quotes (and weak marker). */
export const bareEtag = (etag: string | undefined) => (etag ?? '').replace(/^W\//, '').replace(/"/g, '');
