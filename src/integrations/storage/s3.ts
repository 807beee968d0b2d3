import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { bareEtag, expectedEtags } from './etag.js';
import { presignGet } from './presign.js';
import type { StorageConfig } from './types.js';

/** Part size of multipart uploads (S3's minimum is 5 MiB). */
export const PART_SIZE = 8 * 1024 * 1024;

export interface StoredObject {
  key: string;
  sizeBytes: number;
  etag: string;
}

export interface ObjectStore {
  readonly bucket: string;
  /** Uploads a local file (multipart above PART_SIZE) and reads it back: size and ETag must match, else it throws. */
  put(localPath: string, key: string, onProgress?: (loadedBytes: number) => void): Promise<StoredObject>;
  /** A presigned GET link, or null without static credentials. */
  presign(key: string, now?: number): string | null;
  close(): void;
}

export class UploadVerificationError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
    this.name = 'UploadVerificationError';
  }
}

/** The S3 client of one bucket, with @aws-sdk/client-s3 and lib-storage's multipart Upload. */
export function createObjectStore(cfg: StorageConfig): ObjectStore {
  const credentials =
    cfg.accessKeyId && cfg.secretAccessKey ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } : undefined;
  const client = new S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.forcePathStyle,
    credentials,
    // Our own attempts (events, backoff) do the retrying; the SDK retries a little inside one.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });

  /** Where a presigned link points: the endpoint (path style or virtual host) or AWS. */
  function location(key: string): { origin: string; path: string } {
    const base = new URL(cfg.endpoint ?? `https://s3.${cfg.region}.amazonaws.com`);
    const prefix = base.pathname.replace(/\/$/, '');
    if (cfg.forcePathStyle) return { origin: base.origin, path: `${prefix}/${cfg.bucket}/${key}` };
    return { origin: `${base.protocol}//${cfg.bucket}.${base.host}`, path: `${prefix}/${key}` };
  }

  return {
    bucket: cfg.bucket,
    async put(localPath, key, onProgress) {
      const { size } = await stat(localPath);
      const upload = new Upload({
        client,
        params: { Bucket: cfg.bucket, Key: key, Body: createReadStream(localPath), ContentLength: size },
        partSize: PART_SIZE,
        queueSize: 4,
        leavePartsOnError: false,
      });
      if (onProgress) upload.on('httpUploadProgress', (p) => onProgress(p.loaded ?? 0));
      await upload.done();
      const head = await client.send(new HeadObjectCommand({ Bucket: cfg.bucket, Key: key }));
      if (head.ContentLength !== size) throw new UploadVerificationError(key, `stored size ${head.ContentLength} differs from the local ${size} bytes`);
      const etag = bareEtag(head.ETag);
      const expected = await expectedEtags(localPath, PART_SIZE);
      if (!expected.includes(etag)) throw new UploadVerificationError(key, `stored ETag ${etag} matches neither ${expected.join(' nor ')}`);
      return { key, sizeBytes: size, etag };
    },
    presign(key, now = Date.now()) {
      const accessKeyId = cfg.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
      const secretAccessKey = cfg.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
      if (!accessKeyId || !secretAccessKey) return null;
      const sessionToken = cfg.accessKeyId ? undefined : process.env.AWS_SESSION_TOKEN;
      return presignGet({ ...location(key), region: cfg.region, accessKeyId, secretAccessKey, sessionToken, expiresSeconds: cfg.presignTtlSeconds, now });
    },
    close() {
      client.destroy();
    },
  };
}
