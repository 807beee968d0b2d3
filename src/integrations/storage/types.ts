/** Object storage settings (src/config.ts reads them from S3_*). */
export interface StorageConfig {
  bucket: string;
  /** An S3-compatible endpoint (MinIO, moto, R2, …); unset: AWS. */
  endpoint: string | undefined;
  region: string;
  /** Unset: the SDK's default credential chain (environment, profile, instance role). */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  /** Prepended to every key: `<prefix><meetingId>/<file>`. */
  prefix: string;
  forcePathStyle: boolean;
  /** Upload the track files (and their sidecars) too, not only the composed file and its metadata. */
  uploadTracks: boolean;
  /** Delete a local file once its upload is verified. */
  deleteLocal: boolean;
  /** Automatic attempts and their backoff. */
  retry: { maxAttempts: number; baseMs: number; maxMs: number };
  /** Lifetime of presigned GET links in API answers. */
  presignTtlSeconds: number;
}

/** The object key of a file of a meeting: the recordings layout under the prefix. */
export const objectKey = (prefix: string, meetingId: string, file: string) => `${prefix}${meetingId}/${file}`;
