import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createNatsLog } from '../../src/log/nats.js';
import type { LoggedEvent } from '../../src/log/types.js';
import { createNatsQueue } from '../../src/queue/nats.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { ev } from '../helpers/events.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { httpClient } from '../helpers/http.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { poll, sleep } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';

const run = promisify(execFile);

/** A nats-server of this test's own, on a fixed port and store, so it can be SIGKILLed and started again as it was. */
async function ownNats(dir: string) {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(process.env.NATS_SERVER ?? 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      try {
        const nc = await connect({ servers: url, timeout: 500, reconnect: false });
        await nc.close();
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`nats-server on ${url} did not start`);
  };
  const kill = async () => {
    const c = child!;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url, start, kill, stop: () => (child && child.exitCode === null && child.signalCode === null ? kill() : Promise.resolve()) };
}

interface Outage {
  /** Makes the log take nothing, then takes it back. */
  down(): Promise<void>;
  up(): Promise<void>;
}

/**
 * A recording with two werift participants runs through an outage of the
 * event log in its middle. Nothing may be lost: the recording completes and
 * its composed file covers it all, every event is in the log once, clients
 * are told to retry (503, never a 404) while it is down, and the process
 * lives through it.
 */
async function recordThroughOutage(app: TestApp, outage: Outage, outageMs: number, room: string, replayArgs: string[], replayEnv: NodeJS.ProcessEnv) {
  const host = await Participant.join(app.url, room, { name: 'Host' });
  const guest = await Participant.join(app.url, room, { name: 'Guest' });
  try {
    const started = await app.http.post('/api/recording-sessions', { connectionId: room });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id as string;
    await Promise.all([host, guest].map((p) => p.client.next('recording-answer', () => true, 10_000)));
    await sleep(3_000);

    await outage.down();
    const downAt = Date.now();
    // media keeps coming while the log is down: its events wait in the outbox; a client's command is refused
    let refused: { status: number; json: any } | null = null;
    while (Date.now() - downAt < outageMs - 1_000) {
      await sleep(1_000);
      const r = await app.http.post('/api/recording-sessions', { connectionId: room });
      if (r.status === 503) refused = r;
      else expect(r.status, JSON.stringify(r.json)).not.toBe(404);
      const s = await app.http.get(`/api/recording-sessions/${recordingId}`);
      expect(s.status).toBe(200); // a live session is never forgotten
      expect(s.json.session.status).toBe('recording');
    }
    expect(refused?.json).toMatchObject({ success: false, message: expect.stringContaining('event log unavailable, retry') });
    // and a socket's: joining while the log is down is an `error`, not a half-joined member
    const late = await TestClient.open(app.url.replace(/^http/, 'ws') + '/');
    late.send({ type: 'connect', connectionId: room, name: 'Late' });
    expect(await late.next('error', () => true, 10_000)).toMatchObject({ message: expect.stringContaining('event log unavailable, retry') });
    late.close();
    await sleep(Math.max(0, outageMs - (Date.now() - downAt)));
    await outage.up();

    await sleep(3_000); // recording on after the outage
    const stop = await poll(
      () => app.http.delete(`/api/recording-sessions/${recordingId}`),
      (r) => r.status !== 503,
      { timeoutMs: 30_000, stepMs: 500 },
    );
    expect(stop.status, JSON.stringify(stop.json)).toBe(200);
    const session = (await poll(() => app.http.get(`/api/recording-sessions/${recordingId}`), (r) => r.json.session.status === 'stopped', { timeoutMs: 40_000, stepMs: 500 })).json.session;
    const recordedMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
    expect(recordedMs).toBeGreaterThan(outageMs + 5_000);

    const job = await poll(
      async () => (await app.http.get(`/api/recording-compositions?meetingId=${room}`)).json.jobs.find((j: any) => j.recordingId === recordingId),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 180_000, stepMs: 1_000 },
    );
    expect(job?.status, JSON.stringify(job)).toBe('completed');
    const composed = await probeFile(join(app.root, room, job.output.filename));
    expect(composed.decodeErrors).toBe('');
    expect(Math.abs(composed.durationMs! - recordedMs), `composed ${composed.durationMs} ms vs recorded ${recordedMs} ms`).toBeLessThan(500);
    // every segment written is in the session: no peer event was lost
    for (const p of [host, guest]) {
      const mine = session.segments.filter((s: any) => s.participantId === p.participantId);
      expect(mine.map((s: any) => s.kind).sort(), p.participantId).toEqual(['audio', 'video']);
    }

    // every event once: in the log, and in the operator's replay
    const ids: string[] = [];
    for await (const { event } of app.log.read()) ids.push(event.id);
    expect(new Set(ids).size).toBe(ids.length);
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const { stdout } = await run(tsx, ['tools/replay.ts', '--json', ...replayArgs], { env: replayEnv, maxBuffer: 64 * 1024 * 1024 });
    const entries = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((e) => e.kind === 'event');
    expect(entries.length).toBe(ids.length);
    // the live feed came back too: what this process knows durable reaches the log's end
    await poll(async () => app.runtime.lastSeq, (seq) => seq >= ids.length, { timeoutMs: 10_000, stepMs: 200 });
    expect(new Set(entries.map((e) => `${e.stream}#${e.position}`)).size).toBe(entries.length);
  } finally {
    await Promise.allSettled([host.close(), guest.close()]);
  }
}

describe('the NATS event log goes away mid-recording (nats-server SIGKILLed, then restarted on its store)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mr-outage-nats-'));
  let nats: Awaited<ReturnType<typeof ownNats>>;
  let app: TestApp | undefined;
  afterAll(async () => {
    await app?.cleanup();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([10_000, 60_000])('loses nothing over a %i ms outage', async (outageMs) => {
    nats ??= await ownNats(join(dir, 'store'));
    app ??= await startTestApp({ NATS_URL: nats.url, NATS_EVENT_STREAM: 'T_OUTAGE_EV', NATS_SUBJECT_PREFIX: 'toutage.ev', NATS_COMPOSE_STREAM: 'T_OUTAGE_CO' });
    const { NATS_URL: _n, ...base } = process.env;
    await recordThroughOutage(app, { down: nats.kill, up: nats.start }, outageMs, `outage-${outageMs}`, ['--stream', 'T_OUTAGE_EV', '--prefix', 'toutage.ev'], {
      ...base,
      NATS_URL: nats.url,
    });
  }, 360_000);
});

describe('the live feed and the compose queue consumer after the server was SIGKILLed and restarted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mr-outage-feed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('deliver again without being asked', async () => {
    const nats = await ownNats(join(dir, 'store'));
    const log = await createNatsLog({ servers: nats.url, stream: 'T_FEED', subjectPrefix: 'tfeed.ev' });
    const queue = await createNatsQueue({ servers: nats.url, stream: 'T_FEED_CO', subject: 'tfeed.jobs' });
    // a second process's log and queue: they start following while the server is down
    const log2 = await createNatsLog({ servers: nats.url, stream: 'T_FEED', subjectPrefix: 'tfeed.ev' });
    const queue2 = await createNatsQueue({ servers: nats.url, stream: 'T_FEED_CO', subject: 'tfeed.jobs' });
    const got: LoggedEvent[] = [];
    const got2: LoggedEvent[] = [];
    const handled: string[] = [];
    const off = log.subscribe((e) => got.push(e));
    const stop = queue.consume(async (item) => void handled.push(item.jobId), 1);
    let off2 = () => {};
    let stop2 = async () => {};
    const retrying = async (fn: () => Promise<unknown>) => {
      for (let i = 0; ; i++) {
        try {
          return await fn();
        } catch (err) {
          if (i > 60) throw err;
          await sleep(500);
        }
      }
    };
    try {
      await log.append('room:feed', [ev('room:feed')]);
      await queue.enqueue({ jobId: 'job-1', position: 1 }, 'job-1-a');
      await poll(async () => got.length + handled.length, (n) => n === 2, { timeoutMs: 10_000 });
      await stop(); // from here on, the second process's consumer takes the jobs

      await nats.kill();
      off2 = log2.subscribe((e) => got2.push(e));
      stop2 = queue2.consume(async (item) => void handled.push(item.jobId), 1);
      await sleep(3_000);
      await nats.start();

      const e2 = ev('room:feed');
      await retrying(() => log.append('room:feed', [e2]));
      await retrying(() => queue.enqueue({ jobId: 'job-2', position: 1 }, 'job-2-a'));
      await poll(async () => got.some((e) => e.event.id === e2.id) && got2.some((e) => e.event.id === e2.id) && handled.includes('job-2'), Boolean, {
        timeoutMs: 30_000,
        stepMs: 200,
      });
      expect(got.map((e) => e.event.position)).toEqual([1, 2]);
      expect(got2.filter((e) => e.event.id === e2.id).length).toBe(1);
      expect(handled).toEqual(['job-1', 'job-2']);
    } finally {
      off();
      off2();
      await stop2();
      await Promise.all([queue.close(), queue2.close()]);
      await Promise.all([log.close(), log2.close()]);
      await nats.stop();
    }
  }, 90_000);
});

describe('the embedded event log cannot write for a while (failing disk at the file layer)', () => {
  let app: TestApp | undefined;
  afterAll(() => app?.cleanup());

  it('loses nothing over a 10 s run of failed writes', async () => {
    const disk = { failing: false };
    const write = (fh: FileHandle, buf: Buffer, offset: number, length: number) =>
      disk.failing ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) : fh.write(buf, offset, length);
    app = await startTestApp({}, { eventLogWrite: write });
    const { NATS_URL: _n, ...base } = process.env;
    const outage: Outage = {
      down: async () => void (disk.failing = true),
      up: async () => void (disk.failing = false),
    };
    await recordThroughOutage(app, outage, 10_000, 'outage-embedded', ['--file', join(app.root, '.eventlog', 'events.jsonl')], base);
  }, 240_000);
});

describe('the server process dies (SIGKILL) while the NATS log is down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mr-outage-crash-'));
  const root = join(dir, 'recordings');
  let nats: Awaited<ReturnType<typeof ownNats>> | undefined;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.kill();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends what waited in its outbox once, after the restart, and the recording completes', async () => {
    nats = await ownNats(join(dir, 'store'));
    const env = {
      RECORDING_DIR: root,
      NODE_ID: 'outbox-node',
      NATS_URL: nats.url,
      NATS_EVENT_STREAM: 'T_OUTBOX_EV',
      NATS_SUBJECT_PREFIX: 'toutbox.ev',
      NATS_COMPOSE_STREAM: 'T_OUTBOX_CO',
    };
    const start = () => startServerProcess(env, { inheritNatsUrl: false, timeoutMs: 30_000 });
    server = await start();
    const http = httpClient(() => server!.url);
    const room = 'outbox-crash';
    const host = await Participant.join(server.url, room, { name: 'Host' });
    const guest = await Participant.join(server.url, room, { name: 'Guest' });
    let recordingId: string;
    try {
      const started = await http.post('/api/recording-sessions', { connectionId: room });
      expect(started.status).toBe(201);
      recordingId = started.json.session.id as string;
      await Promise.all([host, guest].map((p) => p.client.next('recording-answer', () => true, 10_000)));
      await sleep(2_000);

      await nats.kill();
      // the peers' periodic results (media stats) meet the outage: kept in the outbox, on disk
      const first = server;
      await poll(async () => first.lines.filter((l) => l.msg === 'event kept in the outbox until the log takes it').length, (n) => n >= 2, { timeoutMs: 30_000, stepMs: 200 });
      expect(await first.kill('SIGKILL')).toBe(null);
    } finally {
      await Promise.allSettled([host.close(), guest.close()]);
    }
    const file = join(root, '.eventlog', 'outbox-nats-T_OUTBOX_EV-outbox-node.jsonl');
    const kept = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((l) => l.op === 'kept')
      .map((l) => l.draft.id as string);
    expect(kept.length).toBeGreaterThanOrEqual(2);

    await nats.start();
    server = await start();
    const handedBack = server.lines.find((l) => l.msg === 'outbox file: events of an earlier process handed back');
    expect(handedBack).toMatchObject({ kept: kept.length, refused: 0, waiting: 0, left: 0 });
    expect(handedBack.appended + handedBack.inLog).toBe(kept.length);
    // handed back before recovery closed the room
    expect(server.lines.findIndex((l) => l.msg === 'recovery done')).toBeGreaterThan(server.lines.indexOf(handedBack));

    const session = (await poll(() => http.get(`/api/recording-sessions/${recordingId}`), (r) => r.json.session?.status === 'stopped', { timeoutMs: 30_000, stepMs: 500 })).json.session;
    expect(session.stopReason).toBe('interrupted');
    const job = await poll(
      async () => (await http.get(`/api/recording-compositions?meetingId=${room}`)).json.jobs.find((j: any) => j.recordingId === recordingId),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 1_000 },
    );
    expect(job?.status, JSON.stringify(job)).toBe('completed');
    const composed = await probeFile(join(root, room, job.output.filename));
    expect(composed.decodeErrors).toBe('');
    const recordedMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
    expect(Math.abs(composed.durationMs! - recordedMs), `composed ${composed.durationMs} ms vs recorded ${recordedMs} ms`).toBeLessThan(500);

    // each kept event is in the log exactly once, and nothing is there twice
    const log = await createNatsLog({ servers: nats.url, stream: 'T_OUTBOX_EV', subjectPrefix: 'toutbox.ev' });
    const ids: string[] = [];
    try {
      for await (const { event } of log.read()) ids.push(event.id);
    } finally {
      await log.close();
    }
    for (const id of kept) expect(ids.filter((x) => x === id), id).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
    // and the file is cut back: nothing waits
    await poll(async () => readFileSync(file, 'utf8'), (t) => t === '', { timeoutMs: 10_000, stepMs: 200 });
  }, 240_000);
});
