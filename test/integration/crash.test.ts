import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { httpClient } from '../helpers/http.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { poll } from '../helpers/wait.js';

const run = promisify(execFile);
/** How far into the recording media must have reached the disk when the process is killed. */
const RECORD_MS = 4_000;

/** A real process: NATS mode only when the test says so. */
const startServer = (env: Record<string, string>) => startServerProcess(env, { inheritNatsUrl: false, timeoutMs: 60_000 });

/**
 * Nothing recorded is lost on a process crash: a real server process is
 * SIGKILLed mid-recording and started again on the same recordings root and
 * event log (the JSONL file, or the JetStream stream). The recording must come
 * back as stopped (interrupted) and its kept, unfinalized track files must be
 * composed; the operator's replay tool must show what happened.
 */
describe.each(['embedded', 'nats'] as const)('SIGKILL mid-recording, then restart on the same log (%s)', (mode) => {
  const root = mkdtempSync(join(tmpdir(), `mr-crash-${mode}-`));
  const tag = randomBytes(4).toString('hex');
  let nats: NatsServer | undefined;
  let server: ServerProcess | undefined;
  const http = httpClient(() => server!.url);
  afterAll(async () => {
    await server?.kill();
    if (nats) {
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      for (const s of [`T_CRASH_EV_${tag}`, `T_CRASH_CO_${tag}`]) await jsm.streams.delete(s).catch(() => {});
      await nc.close();
      await nats.stop();
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('marks the recording interrupted and composes what was kept', async () => {
    const env: Record<string, string> = { RECORDING_DIR: root, NODE_ID: 'crash-node' };
    if (mode === 'nats') {
      nats = await startNats();
      Object.assign(env, {
        NATS_URL: nats.url,
        NATS_EVENT_STREAM: `T_CRASH_EV_${tag}`,
        NATS_SUBJECT_PREFIX: `tcrash${tag}.ev`,
        NATS_COMPOSE_STREAM: `T_CRASH_CO_${tag}`,
      });
    }
    server = await startServer(env);
    const host = await Participant.join(server.url, 'crashroom', { name: 'Host' });
    const guest = await Participant.join(server.url, 'crashroom', { name: 'Guest' });
    const started = await http.post('/api/recording-sessions', { connectionId: 'crashroom' });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id as string;
    const startedAt = Date.parse(started.json.session.startedAt);
    await Promise.all([host, guest].map((p) => p.client.next('recording-answer', () => true, 10_000)));
    const dir = join(root, 'crashroom');
    // Kill once every track file (audio + video of two participants) holds media written 4 s into the
    // recording: on a loaded machine that takes longer than 4 s of wall clock, and a fixed sleep killed early.
    const webms = async () => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.webm'));
    const writtenUntil = async () => Promise.all((await webms()).map(async (f) => ({ f, ...(await stat(join(dir, f)).then((s) => ({ size: s.size, at: s.mtimeMs }))) })));
    const written = await poll(writtenUntil, (fs) => fs.length === 4 && fs.every((x) => x.size > 2_000 && x.at - startedAt >= RECORD_MS), { timeoutMs: 60_000, stepMs: 100 });
    expect(written).toHaveLength(4);
    for (const x of written) {
      expect(x.size, x.f).toBeGreaterThan(2_000);
      expect(x.at - startedAt, x.f).toBeGreaterThanOrEqual(RECORD_MS);
    }

    expect(await server.kill('SIGKILL')).toBe(null); // killed, not exited
    const killedAt = Date.now();
    await Promise.allSettled([host.close(), guest.close()]);
    const left = await webms();
    expect(left.length).toBe(4); // never finalized
    for (const f of (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.includes('levels'))) {
      expect(JSON.parse(await readFile(join(dir, f), 'utf8')).finalized).toBe(false);
    }

    server = await startServer(env);
    const recovered = server.lines.find((l) => l.msg === 'recovery done');
    expect(recovered).toMatchObject({ roomsClosed: 1, recordingsStopped: 1 });

    const session = (await http.get(`/api/recording-sessions/${recordingId}`)).json.session;
    expect(session).toMatchObject({ status: 'stopped', stopReason: 'interrupted' });
    const recordedMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
    expect(recordedMs).toBeGreaterThanOrEqual(RECORD_MS);
    expect(Date.parse(session.stoppedAt)).toBeLessThanOrEqual(killedAt); // ends at the last write, not at the restart

    const job = await poll(
      async () => (await http.get('/api/recording-compositions?meetingId=crashroom')).json.jobs.find((j: any) => j.recordingId === recordingId),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 1_000 },
    );
    expect(job?.status, JSON.stringify(job)).toBe('completed');
    const composed = await probeFile(join(dir, job.output.filename));
    expect(composed.decodeErrors).toBe('');
    expect(Math.abs(composed.durationMs! - recordedMs)).toBeLessThan(500);

    // the operator can see what happened, from the file or from JetStream
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const args =
      mode === 'nats'
        ? ['tools/replay.ts', '--stream', env.NATS_EVENT_STREAM, '--prefix', env.NATS_SUBJECT_PREFIX, '--recording', recordingId]
        : ['tools/replay.ts', '--file', join(root, '.eventlog', 'events.jsonl'), '--recording', recordingId];
    const { NATS_URL: _n, ...base } = process.env;
    const report = await run(tsx, args, { env: mode === 'nats' ? { ...base, NATS_URL: env.NATS_URL } : base });
    expect(report.stdout).toContain(`recording ${recordingId} was interrupted by a server restart`);
    expect(report.stdout).toMatch(/composition:\S+\s+completed/);
  }, 180_000);
});

/**
 * LIVE_COMPOSE=1: a process SIGKILLed while it composes a recording live
 * leaves its finished chunks (and manifest.json); the restarted process's
 * composition job picks them up and composes only what is missing (the rest of
 * the video, and the audio, whose encoder died with the process).
 */
describe('SIGKILL mid-recording while composing it live, then restart', () => {
  const root = mkdtempSync(join(tmpdir(), 'mr-crash-live-'));
  let server: ServerProcess | undefined;
  const http = httpClient(() => server!.url);
  afterAll(async () => {
    await server?.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('keeps the chunks composed before the crash and composes only the rest', async () => {
    const env: Record<string, string> = { RECORDING_DIR: root, NODE_ID: 'crash-live-node', LIVE_COMPOSE: '1', LIVE_COMPOSE_WINDOW_MS: '2000' };
    server = await startServer(env);
    const host = await Participant.join(server.url, 'liveroom', { name: 'Host' });
    const guest = await Participant.join(server.url, 'liveroom', { name: 'Guest' });
    const started = await http.post('/api/recording-sessions', { connectionId: 'liveroom' });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id as string;
    await Promise.all([host, guest].map((p) => p.client.next('recording-answer', () => true, 10_000)));
    const dir = join(root, 'liveroom');
    const manifest = join(dir, `.live-${recordingId}`, 'manifest.json');
    const chunksLeft = async () => ((await readFile(manifest, 'utf8').then(JSON.parse, () => ({ chunks: [] }))) as { chunks: { k: number }[] }).chunks;
    const before = await poll(chunksLeft, (c) => c.length >= 2, { timeoutMs: 60_000, stepMs: 200 });
    expect(before.length).toBeGreaterThanOrEqual(2);
    // Its progress, while it records: this process composes it.
    const live = (await poll(() => http.get(`/api/recording-sessions/${recordingId}`), (r) => r.json.session?.liveComposition?.chunks >= 2, { timeoutMs: 10_000, stepMs: 200 })).json.session.liveComposition;
    expect(live).toMatchObject({ state: 'recording' });
    expect(live.composedUpToMs).toBe(live.chunks * 2000);

    expect(await server.kill('SIGKILL')).toBe(null);
    await Promise.allSettled([host.close(), guest.close()]);
    const left = await chunksLeft(); // what the dead process finished (a window may have ended after the poll)

    server = await startServer(env);
    const session = (await poll(() => http.get(`/api/recording-sessions/${recordingId}`), (r) => r.json.session?.status === 'stopped', { timeoutMs: 30_000, stepMs: 500 })).json.session;
    expect(session.stopReason).toBe('interrupted');
    const recordedMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
    // The dead process's last progress report, from the log (recording.live.progressed): who composed it and how far.
    expect(session.liveComposition, JSON.stringify(session.liveComposition)).toMatchObject({ state: 'finishing', workerId: expect.stringMatching(/^crash-live-node\//) });
    expect(session.liveComposition.chunks).toBeGreaterThanOrEqual(2);
    expect(session.liveComposition.chunks).toBeLessThanOrEqual(left.length);
    expect(session.liveComposition.composedUpToMs).toBe(session.liveComposition.chunks * 2000);
    const timeline = (await http.get(`/api/recording-sessions/${recordingId}/timeline`)).json.timeline;
    expect(timeline.live.length).toBeGreaterThanOrEqual(2);
    expect(timeline.live.map((l: { chunks: number }) => l.chunks)).toEqual([...timeline.live.map((l: { chunks: number }) => l.chunks)].sort((a, b) => a - b));
    const job = await poll(
      async () => (await http.get('/api/recording-compositions?meetingId=liveroom')).json.jobs.find((j: any) => j.recordingId === recordingId),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 1_000 },
    );
    expect(job?.status, JSON.stringify(job)).toBe('completed');

    const found = server.lines.find((l) => l.msg === 'live chunks of a crashed process found');
    expect(found, 'the restarted process picked up the chunks').toMatchObject({ recordingId, chunks: left.length });
    expect(server.lines.some((l) => l.msg?.startsWith('live composition resumed'))).toBe(true);
    // Only what was missing: no window the dead process had finished is composed again.
    const composedAgain = server.lines.filter((l) => l.msg === 'live window composed' && l.window < left.length);
    expect(composedAgain).toEqual([]);
    expect(server.lines.some((l) => l.msg === 'live composition finished' && l.recordingId === recordingId)).toBe(true);

    const composed = await probeFile(join(dir, job.output.filename));
    expect(composed.decodeErrors).toBe('');
    expect(Math.abs(composed.durationMs! - recordedMs)).toBeLessThan(500);
    expect(await stat(join(dir, `.live-${recordingId}`)).then(() => 'kept', () => 'removed')).toBe('removed');
  }, 180_000);
});
