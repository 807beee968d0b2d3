import { execFile, execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { readdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * A full disk, for real: the recordings root is a small tmpfs (mounting needs
 * root; where it is refused the tests say so and are skipped), the event log
 * lives apart from it (EVENTLOG_DIR), and werift participants record while a
 * dummy file eats the space.
 */

const run = promisify(execFile);
const MB = 1024 * 1024;
const media = { video: 'vp8' as const, audio: true, width: 320, height: 240, videoKbps: 300, durationMs: 120_000 };

interface Mount {
  dir: string;
  unmount(): Promise<void>;
}

/** A tmpfs of sizeMb at a fresh folder, or why not. */
async function mountTmpfs(sizeMb: number): Promise<Mount | string> {
  const dir = await tempDir('mr-disk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    await removeDir(dir);
    const e = err as { stderr?: Buffer; message: string };
    return `cannot mount a tmpfs here (${(e.stderr?.toString().trim() || e.message).slice(0, 200)})`;
  }
  return {
    dir,
    async unmount() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } finally {
        await removeDir(dir);
      }
    },
  };
}

const freeBytes = async (dir: string) => {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
};

/** Writes `bytes` of zeros (all of it when null: until ENOSPC) into `file`. */
function fill(file: string, bytes: number | null): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(MB);
  let written = 0;
  try {
    for (;;) {
      const n = bytes === null ? chunk.length : Math.min(chunk.length, bytes - written);
      if (n <= 0) break;
      try {
        written += writeSync(fd, chunk, 0, n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        if (n === 1 || bytes !== null) break;
        // the last bytes: smaller writes until not one more fits
        const small = Buffer.alloc(4096);
        for (;;) {
          try {
            written += writeSync(fd, small);
          } catch {
            break;
          }
        }
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Names and sizes of every file under the root but the dummy. */
async function filesUnder(root: string, skip: string) {
  const out: Record<string, number> = {};
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    if (p !== skip) out[path.relative(root, p)] = (await stat(p)).size;
  }
  return out;
}

/** A short recording, stopped without composition: what a disk fault must leave as it was. */
async function earlierRecording(app: TestApp, room: string, people: Participant[]) {
  const host = await Participant.join(app.url, room, { name: 'earlier', media });
  people.push(host);
  const r = await app.http.post('/api/recording-sessions', { connectionId: room });
  expect(r.status).toBe(201);
  await expect.poll(() => host.current?.recordingId, { timeout: 5000 }).toBe(r.json.session.id);
  await host.current!.sender.connected;
  await sleep(1500);
  const stopped = await app.http.delete(`/api/recording-sessions/${r.json.session.id}?compose=false`);
  expect(stopped.json.session.status).toBe('stopped');
  await host.leave();
  return r.json.session.id as string;
}

/** Starts a recording with two werift participants sending, and waits for media on disk. */
async function recordingWithMedia(app: TestApp, room: string, people: Participant[]) {
  const host = await Participant.join(app.url, room, { name: 'host', media });
  const guest = await Participant.join(app.url, room, { name: 'guest', media });
  people.push(host, guest);
  const r = await app.http.post('/api/recording-sessions', { connectionId: room });
  expect(r.status).toBe(201);
  const id: string = r.json.session.id;
  await Promise.all(
    [host, guest].map(async (p) => {
      await expect.poll(() => p.current?.recordingId, { timeout: 5000 }).toBe(id);
      await p.current!.answered;
      await p.current!.sender.connected;
    }),
  );
  const dir = path.join(app.root, room);
  const webmBytes = async () => {
    let n = 0;
    for (const f of await readdir(dir).catch(() => [] as string[])) if (f.endsWith('.webm')) n += (await stat(path.join(dir, f))).size;
    return n;
  };
  await expect.poll(webmBytes, { timeout: 10_000 }).toBeGreaterThan(20_000);
  return id;
}

const session = async (app: TestApp, id: string) => (await app.http.get(`/api/recording-sessions/${id}`)).json;
const job = async (app: TestApp, id: string) => (await app.http.get(`/api/recording-compositions/${id}`)).json?.job;

async function probeDurationMs(file: string): Promise<number> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', file]);
  return Math.round(Number(JSON.parse(stdout).format.duration) * 1000);
}

/**
 * Decodes every frame; resolves with ffmpeg's error output, empty when the
 * file decodes cleanly. werift's unknown-size clusters draw one notice from
 * the demuxer in every file not remuxed (on a full disk there is no room to
 * remux): that notice is not an error of the file.
 */
async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await run('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-f', 'null', '-']);
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/Unknown-sized element at 0x[0-9a-f]+ inside parent with finite size/.test(l))
    .join('\n');
}

/**
 * One scenario's fixture: the recordings root on a tmpfs of `sizeMb`, the event
 * log apart on the ordinary disk, an app with MIN_FREE_DISK_MB `minFreeMb`.
 * `mount` is the reason, as a string, where mounting is refused.
 */
function onSmallDisk(sizeMb: number, minFreeMb: number) {
  const s = { mount: '' as Mount | string, logDir: '', app: null as TestApp | null, people: [] as Participant[] };
  beforeAll(async () => {
    s.mount = await mountTmpfs(sizeMb);
    s.logDir = await tempDir('mr-disk-log-');
    if (typeof s.mount === 'string') return;
    s.app = await startTestApp(
      { EVENTLOG_DIR: s.logDir, MIN_FREE_DISK_MB: String(minFreeMb), DISK_CHECK_INTERVAL_MS: '200' },
      { root: path.join(s.mount.dir, 'rec'), peerOptions: { statsIntervalMs: 1000 } },
    );
  });
  afterAll(async () => {
    await Promise.allSettled(s.people.map((p) => p.close()));
    await s.app?.cleanup();
    if (typeof s.mount !== 'string') await s.mount.unmount();
    await removeDir(s.logDir);
  });
  return s;
}

/** An earlier recording, and what it holds now: the disk filling up later must change none of it. */
async function untouched(a: TestApp, people: Participant[], dummy: string) {
  const earlierId = await earlierRecording(a, 'earlier-room', people);
  const before = { session: (await session(a, earlierId)).session, files: await filesUnder(a.root, dummy) };
  return {
    async check() {
      expect((await session(a, earlierId)).session).toEqual(before.session);
      const after = await filesUnder(a.root, dummy);
      for (const [f, size] of Object.entries(before.files)) expect(after[f], f).toBe(size);
    },
  };
}

describe('disk below the reserve (MIN_FREE_DISK_MB)', () => {
  const disk = onSmallDisk(64, 16);

  it('stops the recording (disk-low) and composes it, refuses new ones (507), /readyz says why; freed space lets recording resume', async (ctx) => {
    const { mount, people } = disk;
    if (typeof mount === 'string') return ctx.skip(mount);
    const a = disk.app!;
    const dummy = path.join(mount.dir, 'dummy.bin');
    const earlier = await untouched(a, people, dummy);
    expect((await a.http.get('/readyz')).status).toBe(200);
    // the log lives apart from the media
    expect((await readdir(disk.logDir)).some((f) => f === 'events.jsonl')).toBe(true);
    expect(Object.keys(await filesUnder(a.root, dummy)).filter((f) => f.includes('.eventlog'))).toEqual([]);

    const id = await recordingWithMedia(a, 'disk-room', people);
    await sleep(1000);
    // Cross the reserve (16 MB) with 12 MB still free: room enough to finalize and compose.
    const free = await freeBytes(mount.dir);
    fill(dummy, Math.max(0, free - 12 * MB));
    expect(await freeBytes(mount.dir)).toBeLessThan(16 * MB);
    const stopped = await poll(() => session(a, id), (s) => s.session.state === 'stopped', { timeoutMs: 20_000 });
    expect(stopped.session).toMatchObject({ status: 'stopped', stopReason: 'disk-low', compose: true });
    expect(stopped.session.segments.length).toBeGreaterThan(0);

    // composed from what was written
    const done = await poll(() => job(a, stopped.session.compositionJobId), (j) => j?.status === 'completed' || j?.status === 'failed', {
      timeoutMs: 90_000,
      stepMs: 500,
    });
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    const composed = path.join(a.root, 'disk-room', done.output.filename);
    const recorded = Date.parse(stopped.session.stoppedAt) - Date.parse(stopped.session.startedAt);
    expect(Math.abs((await probeDurationMs(composed)) - recorded)).toBeLessThanOrEqual(500);
    expect(await decodeErrors(composed)).toBe('');

    // below the reserve: no new recording, not ready, but alive
    const refused = await a.http.post('/api/recording-sessions', { connectionId: 'disk-room' });
    expect(refused.status).toBe(507);
    expect(refused.json).toMatchObject({ success: false, message: expect.stringMatching(/disk space.*MIN_FREE_DISK_MB/) });
    const notReady = await a.http.get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.json.reasons.join('\n')).toMatch(/^disk: .*below MIN_FREE_DISK_MB/m);
    expect((await a.http.get('/healthz')).json).toEqual({ ok: true });
    expect((await a.http.get('/')).status).toBe(200);

    // nothing else changed: the earlier session and its files
    await earlier.check();
    expect((await a.http.get('/api/recording-sessions')).json.totalCount).toBe(2);

    // space back: ready again, and a new recording starts
    await rm(dummy);
    expect((await a.http.get('/readyz')).json).toEqual({ ok: true, reasons: [] });
    const again = await a.http.post('/api/recording-sessions', { connectionId: 'disk-room' });
    expect(again.status).toBe(201);
    await sleep(1000);
    expect((await session(a, again.json.session.id)).session.status).toBe('recording');
    await a.http.delete(`/api/recording-sessions/${again.json.session.id}?compose=false`);
  }, 180_000);
});

describe('a write that fails anyway (ENOSPC, no reserve)', () => {
  const disk = onSmallDisk(48, 0);

  it('finalizes every segment with what was written, the session shows disk-full, the composition waits for space', async (ctx) => {
    const { mount, people } = disk;
    if (typeof mount === 'string') return ctx.skip(mount);
    const a = disk.app!;
    const dummy = path.join(mount.dir, 'dummy.bin');
    const earlier = await untouched(a, people, dummy);

    const id = await recordingWithMedia(a, 'full-room', people);
    await sleep(1000);
    fill(dummy, null);
    const stopped = await poll(() => session(a, id), (s) => s.session.state === 'stopped', { timeoutMs: 30_000 });
    expect(stopped.session).toMatchObject({ status: 'stopped', stopReason: 'disk-full', error: expect.stringMatching(/^disk-full: writing .*\.webm/) });

    // every segment is finalized: sidecar says so, the file decodes, its duration is what it holds
    const dir = path.join(a.root, 'full-room');
    const sidecars = (await readdir(dir)).filter((f) => f.includes(id) && f.endsWith('.json') && !f.endsWith('.levels.json'));
    expect(sidecars.length).toBeGreaterThanOrEqual(4);
    for (const f of sidecars) {
      const meta = JSON.parse(await readFile(path.join(dir, f), 'utf8'));
      expect(meta.finalized, f).toBe(true);
      if (meta.durationMs === null) continue; // nothing decodable reached the disk: no media file kept
      const media = path.join(dir, meta.file);
      expect(await decodeErrors(media), meta.file).toBe('');
      expect(Math.abs((await probeDurationMs(media)) - meta.durationMs), meta.file).toBeLessThanOrEqual(100);
    }
    expect(stopped.session.segments.filter((s: any) => s.durationMs > 0).length).toBeGreaterThan(0);

    // the composition fails for space, says so, and waits without burning its attempts
    const jobId = stopped.session.compositionJobId;
    const waiting = await poll(() => job(a, jobId), (j) => j?.failures?.length > 0, { timeoutMs: 60_000, stepMs: 500 });
    expect(waiting).toMatchObject({ status: 'queued', state: 'retrying', maxAttempts: 3 });
    expect(waiting.failures[0]).toMatchObject({ reason: 'disk-full', error: expect.stringMatching(/no space left/i) });

    // no crash; nothing else changed
    expect((await a.http.get('/healthz')).status).toBe(200);
    await earlier.check();

    // space back: the retry (asked for now rather than after its long backoff) composes it
    await rm(dummy);
    const retried = await a.runtime.dispatch({ stream: `composition:${jobId}`, type: 'composition.retry.requested', data: {} });
    expect(retried.accepted).toBe(true);
    const done = await poll(() => job(a, jobId), (j) => j?.status === 'completed' || j?.status === 'failed', { timeoutMs: 90_000, stepMs: 500 });
    expect(done.status).toBe('completed');
    expect(await decodeErrors(path.join(dir, done.output.filename))).toBe('');
  }, 180_000);
});
