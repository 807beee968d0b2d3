/**
 * Upload speed to an S3-compatible server: moto_server on loopback (started
 * here) unless --endpoint is given. Uploads files of a few sizes through the
 * same ObjectStore the server uses (lib-storage multipart, then HeadObject's
 * size + ETag check) and prints MB/s per size, verification included.
 *
 *   npm run bench:upload -- [--sizes 1,8,64] [--runs 2] [--endpoint http://127.0.0.1:9000 --bucket b]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createObjectStore } from '../src/integrations/storage/s3.js';
import { startMoto } from './lib/moto-server.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,8,64' },
    runs: { type: 'string', default: '2' },
    endpoint: { type: 'string' },
    bucket: { type: 'string', default: 'bench' },
  },
});

async function main() {
  const moto = values.endpoint ? null : await startMoto();
  const endpoint = values.endpoint ?? moto!.endpoint;
  if (moto) await moto.createBucket(values.bucket!);
  const store = createObjectStore({
    bucket: values.bucket!,
    endpoint,
    region: 'us-east-1',
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? 'test',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? 'test',
    prefix: '',
    forcePathStyle: true,
    uploadTracks: false,
    deleteLocal: false,
    retry: { maxAttempts: 1, baseMs: 1, maxMs: 1 },
    presignTtlSeconds: 60,
  });
  const dir = await mkdtemp(join(tmpdir(), 'mr-bench-upload-'));
  try {
    console.log(`endpoint ${endpoint}${moto ? ' (moto_server, started here)' : ''}`);
    for (const mb of values.sizes!.split(',').map(Number)) {
      const file = join(dir, `f-${mb}.bin`);
      await writeFile(file, randomBytes(mb * 1024 * 1024));
      for (let run = 1; run <= Number(values.runs); run++) {
        const t0 = performance.now();
        const o = await store.put(file, `bench/${mb}-${run}.bin`);
        const s = (performance.now() - t0) / 1000;
        console.log(`${String(mb).padStart(4)} MiB run ${run}: ${s.toFixed(2)} s, ${(o.sizeBytes / 1e6 / s).toFixed(1)} MB/s (etag ${o.etag})`);
      }
    }
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
    await moto?.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
