import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { sidecarOf } from '../../events/files.js';
import { roomStream } from '../../events/streams.js';
import { createHttpApi } from '../../src/http/index.js';
import { createEmbeddedLog } from '../../src/log/embedded.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createSignaling } from '../../src/signaling/index.js';
import { ClipPlayer } from '../../tools/lib/clip-player.js';
import { encodeClip } from '../../tools/lib/media-clip.js';
import { LoadParticipant } from '../../tools/lib/participant.js';
import { probeAll, probeDuration } from '../../tools/lib/results.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { httpClient } from '../helpers/http.js';
import { trackSidecarsIn } from '../helpers/recordings.js';
import { fakeRecorderEffects, PUBLIC_DIR } from '../helpers/test-server.js';
import { TestClient } from '../helpers/ws-client.js';
import { poll, sleep } from '../helpers/wait.js';

const PARTICIPANTS = 24;
const ROOMS = 4;
const RECORD_MS = 5_000;

/** A real process on the embedded log: NATS mode is not what this test is about. */
const startServer = (env: Record<string, string>) => startServerProcess(env, { inheritNatsUrl: false, timeoutMs: 30_000 });

/**
 * SIGTERM drains: a real server process recording 24 werift participants in
 * 4 rooms gets SIGTERM and must exit well inside a 30 s grace period, every
 * track file finalized and readable. The next process on the same recordings
 * root finds the recordings interrupted and composes each of them.
 */
describe('SIGTERM while 24 participants record', () => {
  const root = mkdtempSync(join(tmpdir(), 'mr-drain-'));
  const env = { RECORDING_DIR: root, NODE_ID: 'drain-node', LOG_LEVEL: 'info' };
  let server: ServerProcess | undefined;
  let player: ClipPlayer | undefined;
  const participants: LoadParticipant[] = [];
  const http = httpClient(() => server!.url);
  afterAll(async () => {
    player?.stop();
    await Promise.allSettled(participants.map((p) => p.close()));
    await server?.kill('SIGKILL');
    if (!process.env.KEEP_DRAIN_ROOT) rmSync(root, { recursive: true, force: true });
    else console.log('kept', root);
  });

  it('exits quickly, keeps every track readable, and the next process composes the interrupted recordings', async () => {
    const began = Date.now();
    const phase = (what: string) => console.log(`[shutdown test +${((Date.now() - began) / 1000).toFixed(1)} s] ${what}`);
    const clip = await encodeClip({ seconds: 2, width: 320, height: 240, fps: 30, gopFrames: 30, videoKbps: 300, audioKbps: 32, ffmpegPath: 'ffmpeg' });
    server = await startServer(env);
    player = new ClipPlayer(clip);
    player.start();

    const rooms = Array.from({ length: ROOMS }, (_, r) => `drain-r${r}`);
    const roomOf = (i: number) => rooms[i % ROOMS]!;
    // Hosts first, so the first socket of each room is its host.
    for (let i = 0; i < ROOMS; i++) participants.push(await LoadParticipant.join(server.url, roomOf(i), player, `p${i}`));
    participants.push(
      ...(await Promise.all(Array.from({ length: PARTICIPANTS - ROOMS }, (_, k) => LoadParticipant.join(server!.url, roomOf(ROOMS + k), player!, `p${ROOMS + k}`)))),
    );

    // Recording for real: every track has its segment on disk (its first packet reached the recorder).
    const sidecarsIn = async (room: string) => (await trackSidecarsIn(root, room)).length;
    // One room at a time: 24 DTLS handshakes at once fail now and then on a loaded 2-core machine.
    const recordingIds: string[] = [];
    for (const room of rooms) {
      const r = await http.post('/api/recording-sessions', { connectionId: room });
      expect(r.status, r.text).toBe(201);
      recordingIds.push(r.json.session.id);
      const tracks = (2 * PARTICIPANTS) / ROOMS;
      expect(await poll(() => sidecarsIn(room), (n) => n === tracks, { timeoutMs: 20_000, stepMs: 200 }), `tracks recording in ${room}; server: ${server!.problems.join('; ')}; clients: ${participants.flatMap((p) => p.errors).join('; ')}`).toBe(tracks);
    }
    phase(`all ${2 * PARTICIPANTS} tracks recording`);
    await sleep(RECORD_MS);

    const t0 = Date.now();
    const code = await server.kill('SIGTERM');
    const exitMs = Date.now() - t0;
    console.log(`SIGTERM with ${PARTICIPANTS} participants recording in ${ROOMS} rooms: exited (code ${code}) after ${exitMs} ms`);
    
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(15_000);
    const drained = server.lines.find((l) => l.msg === 'drained');
    expect(drained).toMatchObject({ peers: PARTICIPANTS, skipRemux: true });
    console.log(`drain: ${drained.peers} recorder peers finalized in ${drained.finalizedMs} ms, process closed in ${drained.ms} ms`);
    player.stop();
    await Promise.allSettled(participants.splice(0).map((p) => p.close()));

    // Every track file is finalized, marked for a later remux, and readable with a duration.
    const media: string[] = [];
    /** Per recording: the end of its last written media, from the recording's start (what a composition must cover). */
    const mediaEndMs = new Map<string, number>();
    for (const room of rooms) {
      const names = await readdir(join(root, room));
      for (const n of names.filter((n) => n.endsWith('.webm'))) media.push(join(root, room, n));
      for (const n of names.filter((n) => n.endsWith('.json') && !n.endsWith('.levels.json'))) {
        const meta = JSON.parse(await readFile(join(root, room, n), 'utf8'));
        expect(meta, n).toMatchObject({ finalized: true, needsRemux: true });
        mediaEndMs.set(meta.recordingId, Math.max(mediaEndMs.get(meta.recordingId) ?? 0, meta.offsetMs + meta.durationMs));
      }
    }
    expect(media.length, media.map((m) => m.split('/').pop()).sort().join('\n')).toBe(2 * PARTICIPANTS);
    const probes = await probeAll('ffprobe', media, 4);
    for (const p of probes) expect(p.ok, `${p.file}: ${p.error}`).toBe(true);

    phase('track files checked');

    // The next process finds them interrupted and composes each.
    server = await startServer(env);
    phase('restarted');
    expect(server.lines.find((l) => l.msg === 'recovery done')).toMatchObject({ roomsClosed: ROOMS, recordingsStopped: ROOMS });
    for (const id of recordingIds) {
      const session = (await http.get(`/api/recording-sessions/${id}`)).json.session;
      expect(session).toMatchObject({ status: 'stopped', stopReason: 'interrupted' });
    }
    const jobs = await poll(
      async () => (await http.get('/api/recording-compositions')).json.jobs.filter((j: any) => recordingIds.includes(j.recordingId)),
      (js: any[]) => js.length === ROOMS && js.every((j) => j.status === 'completed' || j.status === 'failed'),
      { timeoutMs: 100_000, stepMs: 500 },
    );
    phase('compositions done');
    for (const job of jobs) {
      expect(job.status, JSON.stringify(job)).toBe('completed');
      const session = (await http.get(`/api/recording-sessions/${job.recordingId}`)).json.session;
      const dir = join(root, session.connectionId);
      // Every drained track went into the composition as it was: none skipped.
      const metadata = JSON.parse(await readFile(join(dir, sidecarOf(job.output.filename)), 'utf8'));
      expect(metadata.skipped, JSON.stringify(metadata.skipped)).toEqual([]);
      const recordedMs = mediaEndMs.get(job.recordingId)!;
      expect(recordedMs).toBeGreaterThan(RECORD_MS - 500);
      const composed = await probeDuration('ffprobe', join(dir, job.output.filename));
      expect(composed.ok, composed.error).toBe(true);
      const offMs = Math.round(composed.durationS! * 1000 - recordedMs);
      console.log(`${session.connectionId}: ${recordedMs} ms of media, composed ${composed.durationS} s (${offMs >= 0 ? '+' : ''}${offMs} ms)`);
      expect(Math.abs(offMs), `composed ${composed.durationS} s, media ${recordedMs} ms`).toBeLessThan(1_000);
    }
  }, 180_000);
});

/**
 * The drain flag at the adapters (a real process drains too fast to aim a
 * request at): while it is set, a socket `connect` to a room without a socket
 * here gets `error`, POST /api/recording-sessions gets 503; reads and the
 * rooms already here carry on.
 */
describe('while draining', () => {
  it('refuses new rooms and new recordings, and says why', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mr-drain-flag-'));
    const logger = pino({ level: 'silent' });
    const log = await createEmbeddedLog({ file: join(root, '.eventlog', 'events.jsonl'), fsync: false });
    const runtime = createRuntime({ log, logger, effects: fakeRecorderEffects() });
    let draining = false;
    const api = createHttpApi({ runtime, root, logger, newId: randomUUID, publicDir: PUBLIC_DIR, draining: () => draining });
    const server = createServer(api);
    const signaling = createSignaling({ runtime, server, logger, nodeId: 'test-node', newId: randomUUID, draining: () => draining });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const http = httpClient(url);
    const clients: TestClient[] = [];
    const client = async () => {
      const c = await TestClient.open(url.replace('http', 'ws') + '/');
      clients.push(c);
      return c;
    };
    try {
      expect((await (await client()).join('open-room', 'Host')).role).toBe('host');

      draining = true;
      const late = await client();
      late.send({ type: 'connect', connectionId: 'new-room', name: 'Late' });
      expect((await late.next('error')).message).toMatch(/new-room refused: this server is shutting down/);
      await late.none('connect');
      expect(runtime.get(roomStream('new-room'))).toBeUndefined();
      // A room already here is not new: its members may still come and go.
      expect((await (await client()).join('open-room', 'Guest')).role).toBe('participant');

      const refused = await http.post('/api/recording-sessions', { connectionId: 'open-room' });
      expect(refused.status).toBe(503);
      expect(refused.json.message).toMatch(/shutting down/);
      expect(refused.headers['retry-after']).toBe('5');
      expect(runtime.list('recording')).toEqual([]);
      expect((await http.get('/api/recording-sessions')).status).toBe(200);

      draining = false;
      expect((await http.post('/api/recording-sessions', { connectionId: 'open-room' })).status).toBe(201);
    } finally {
      for (const c of clients) c.close();
      await signaling.close();
      api.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await runtime.close();
      await log.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
