import { createHash, createHmac } from 'node:crypto';

export interface PresignInput {
  /** Scheme and host (and port) the object is reached at, and the path of the object, unencoded. */
  origin: string;
  path: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresSeconds: number;
  now: number;
}

/** RFC 3986 encoding as SigV4 wants it, `/` kept. */
const encodePath = (p: string) =>
  p
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * A presigned S3 GET URL (SigV4 query signing, UNSIGNED-PAYLOAD), computed
 * synchronously so an API view can carry one without awaiting: the SDK's
 * presigner is async only because it resolves credentials lazily. The unit
 * test holds it to @aws-sdk/s3-request-presigner's output.
 */
export function presignGet(i: PresignInput): string {
  const amzDate = new Date(i.now).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/s3/aws4_request`;
  const host = new URL(i.origin).host;
  const query: [string, string][] = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
    ['X-Amz-Credential', `${i.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(i.expiresSeconds)],
    ...(i.sessionToken ? [['X-Amz-Security-Token', i.sessionToken] as [string, string]] : []),
    ['X-Amz-SignedHeaders', 'host'],
    ['x-id', 'GetObject'],
  ];
  const canonicalQuery = query
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const path = encodePath(i.path);
  const canonical = ['GET', path, canonicalQuery, `host:${host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${i.secretAccessKey}`, day), i.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return `${i.origin}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}
