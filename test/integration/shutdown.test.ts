import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sidecarOf } from '../../events/files.js';
import { ClipPlayer } from '../../tools/lib/clip-player.js';
import { encodeClip } from '../../tools/lib/media-clip.js';
import { LoadParticipant } from '../../tools/lib/participant.js';
import { probeAll, probeDuration } from '../../tools/lib/results.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { httpClient } from '../helpers/http.js';
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

    const recordingIds: string[] = [];
    for (const room of rooms) {
      const r = await http.post('/api/recording-sessions', { connectionId: room });
      expect(r.status, r.text).toBe(201);
      recordingIds.push(r.json.session.id);
    }
    // Recording for real: every track has its segment on disk (its first packet reached the recorder).
    const sidecars = async () => {
      let n = 0;
      for (const room of rooms) n += (await readdir(join(root, room)).catch(() => [])).filter((f) => f.endsWith('.json') && !f.endsWith('.levels.json')).length;
      return n;
    };
    expect(await poll(sidecars, (n) => n === 2 * PARTICIPANTS, { timeoutMs: 40_000, stepMs: 200 }), 'tracks recording before SIGTERM').toBe(2 * PARTICIPANTS);
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
      { timeoutMs: 60_000, stepMs: 500 },
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
      expect(Math.abs(composed.durationS! * 1000 - recordedMs), `composed ${composed.durationS} s, media ${recordedMs} ms`).toBeLessThan(1_000);
    }
  }, 120_000);
});
