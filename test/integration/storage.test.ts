import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, describe, expect, it } from 'vitest';
import { compositionStream, uploadStream } from '../../machines/actions.js';
import { presignGet } from '../../src/integrations/storage/presign.js';
import { writeFixture } from '../../tools/lib/compose-fixtures.js';
import { freePort, startMoto, type MotoServer } from '../../tools/lib/moto-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

const BUCKET = 'recordings-test';
const started: { stop(): Promise<void> }[] = [];
const apps: TestApp[] = [];
afterAll(async () => {
  for (const a of apps) await a.cleanup();
  for (const s of started) await s.stop();
});

const s3env = (endpoint: string, extra: Record<string, string> = {}) => ({
  S3_BUCKET: BUCKET,
  S3_ENDPOINT: endpoint,
  S3_REGION: 'us-east-1',
  S3_ACCESS_KEY_ID: 'testkey',
  S3_SECRET_ACCESS_KEY: 'testsecret',
  S3_PREFIX: 'org1/',
  S3_FORCE_PATH_STYLE: '1',
  ...extra,
});

/** Track files of a short recording on disk, then its composition asked for (as a stop does). */
async function compose(app: TestApp, meetingId: string, recordingId: string) {
  await writeFixture({
    root: app.root,
    meetingId,
    recordingId,
    width: 160,
    height: 90,
    participants: [{ participantId: 'host', name: 'Host', role: 'host', color: '0xc03030', toneHz: 440, segments: [{ offsetMs: 0, durationMs: 1500 }] }],
  });
  const jobId = `${recordingId}-c1`;
  const r = await app.runtime.dispatch({
    stream: compositionStream(jobId),
    type: 'composition.requested',
    data: { jobId, recordingId, meetingId, layout: 'grid', format: 'webm', durationMs: 1500, maxAttempts: 1 },
  });
  expect(r.accepted).toBe(true);
  const done = await app.runtime.waitFor(compositionStream(jobId), (s) => s.value === 'completed' || s.value === 'failed', 60_000);
  expect(done?.value, JSON.stringify(done?.context)).toBe('completed');
  return jobId;
}

async function gone(files: string[]) {
  const until = Date.now() + 5000;
  while (files.some((f) => existsSync(f)) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const f of files) expect(existsSync(f), f).toBe(false);
}

const s3client = (endpoint: string) =>
  new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, responseChecksumValidation: 'WHEN_REQUIRED', requestChecksumCalculation: 'WHEN_REQUIRED', credentials: { accessKeyId: 'testkey', secretAccessKey: 'testsecret' } });

describe('presigned links', () => {
  it('are the SDK presigner\'s, byte for byte', async () => {
    const client = s3client('http://127.0.0.1:9000');
    const now = Date.UTC(2026, 0, 2, 3, 4, 5);
    const key = 'org1/room a/1700000000000-rec-composed.webm';
    const sdk = await getSignedUrl(client, new GetObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 900, signingDate: new Date(now) });
    const ours = presignGet({
      origin: 'http://127.0.0.1:9000',
      path: `/${BUCKET}/${key}`,
      region: 'us-east-1',
      accessKeyId: 'testkey',
      secretAccessKey: 'testsecret',
      expiresSeconds: 900,
      now,
    });
    const sorted = (u: string) => {
      const url = new URL(u);
      return `${url.origin}${url.pathname}?${[...url.searchParams].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join('&')}`;
    };
    expect(sorted(ours)).toBe(sorted(sdk));
    client.destroy();
  });
});

describe('object storage (moto_server, a real S3-compatible HTTP server)', () => {
  it('uploads the composed file, its metadata and the tracks, verified; deletes local files only then; the API carries key and presigned link', async () => {
    const moto: MotoServer = await startMoto();
    started.push(moto);
    await moto.createBucket(BUCKET);
    const app = await startTestApp(s3env(moto.endpoint, { S3_UPLOAD_TRACKS: '1', DELETE_LOCAL_AFTER_UPLOAD: '1' }));
    apps.push(app);
    const jobId = await compose(app, 'room-s3', 'recs3');
    const up = await app.runtime.waitFor(uploadStream(jobId), (s) => s.value === 'completed' || s.value === 'failed', 60_000);
    expect(up?.value, JSON.stringify(up?.context)).toBe('completed');
    const { files, objects } = up!.context;
    expect(files.some((f) => /-composed\.webm$/.test(f.file))).toBe(true);
    expect(files.some((f) => /-composed\.json$/.test(f.file))).toBe(true);
    expect(files.some((f) => /-host-video-.*\.webm$/.test(f.file))).toBe(true);
    expect(objects.map((o) => o.key)).toEqual(files.map((f) => `org1/room-s3/${f.file}`));
    // deleted once the verified completion is durable
    await gone(files.map((f) => join(app.root, 'room-s3', f.file)));

    const r = await app.http.get(`/api/recording-compositions/${jobId}`);
    expect(r.status).toBe(200);
    const out = r.json.job.output;
    expect(out.objectKey).toMatch(/^org1\/room-s3\/\d+-recs3-composed\.webm$/);
    expect(out.uploaded).toBe(true);
    expect(r.json.job.upload).toMatchObject({ state: 'completed', bucket: BUCKET, deletedLocal: true });
    // the presigned link serves the very bytes that were verified
    const got = await fetch(out.presignedUrl);
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(out.sizeBytes);

    const metrics = await app.http.get('/metrics');
    expect(metrics.text).toMatch(/^mr_uploads_total\{outcome="completed"\} 1$/m);
    expect(metrics.text).toMatch(/^mr_upload_backlog_bytes 0$/m);
  }, 120_000);

  it('server down when the upload starts: the failure is visible and keeps the files; retried with backoff until the server is back', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const app = await startTestApp(
      s3env(endpoint, { DELETE_LOCAL_AFTER_UPLOAD: '1', S3_UPLOAD_RETRY_BASE_MS: '300', S3_UPLOAD_RETRY_MAX_MS: '1500', S3_UPLOAD_MAX_ATTEMPTS: '100' }),
    );
    apps.push(app);
    const jobId = await compose(app, 'room-down', 'recdown');
    const failing = await app.runtime.waitFor(uploadStream(jobId), (s) => s.context.failures.length >= 2, 30_000);
    expect(failing, 'two failed attempts').not.toBeNull();
    expect(failing!.context.error).toBeTruthy();
    for (const f of failing!.context.files) expect(existsSync(join(app.root, 'room-down', f.file)), f.file).toBe(true);
    const view = await app.http.get(`/api/recording-compositions/${jobId}`);
    expect(view.json.job.output.uploaded).toBe(false);
    expect(view.json.job.upload.error).toBeTruthy();
    expect(view.json.job.upload.failures.length).toBeGreaterThanOrEqual(2);
    const m = await app.http.get('/metrics');
    expect(Number(/^mr_uploads_total\{outcome="failed"\} (\d+)$/m.exec(m.text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/^mr_upload_backlog_bytes (\d+)$/m.exec(m.text)?.[1])).toBeGreaterThan(0);

    // the server comes back (on the same port), with its bucket
    const moto = await startMoto(port);
    started.push(moto);
    await moto.createBucket(BUCKET);
    const up = await app.runtime.waitFor(uploadStream(jobId), (s) => s.value === 'completed' || s.value === 'failed', 30_000);
    expect(up?.value, JSON.stringify(up?.context.failures)).toBe('completed');
    await gone(up!.context.files.map((f) => join(app.root, 'room-down', f.file)));
    const after = await app.http.get(`/api/recording-compositions/${jobId}`);
    expect(after.json.job.upload.state).toBe('completed');
    const got = await fetch(after.json.job.output.presignedUrl);
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(up!.context.objects[0].sizeBytes);
  }, 120_000);

  it('an upload lost with its process is run again after a restart', async () => {
    const moto = await startMoto();
    started.push(moto);
    await moto.createBucket(BUCKET);
    // No such bucket at first: attempts fail and wait for a long backoff when the process stops.
    const env = s3env(moto.endpoint, { S3_BUCKET: 'later-bucket', S3_UPLOAD_RETRY_BASE_MS: '600000', S3_UPLOAD_MAX_ATTEMPTS: '5' });
    const first = await startTestApp(env);
    const jobId = await compose(first, 'room-restart', 'recrestart');
    expect(await first.runtime.waitFor(uploadStream(jobId), (s) => s.value === 'retrying', 30_000)).not.toBeNull();
    await first.stop();
    await moto.createBucket('later-bucket');
    const second = await startTestApp(env, { root: first.root });
    apps.push(second, { ...first, cleanup: first.cleanup } as TestApp);
    const up = await second.runtime.waitFor(uploadStream(jobId), (s) => s.value === 'completed', 30_000);
    expect(up?.value).toBe('completed');
    expect(up!.context.attempt).toBe(2);
  }, 120_000);
});
