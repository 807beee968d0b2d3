import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { segmentMetaSchema } from '../../events/segment.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { httpClient } from '../helpers/http.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * README "Recovery": `SIGTERM` finalizes every open file before exiting. A real
 * server process records two werift participants and gets SIGTERM mid-recording;
 * it must exit cleanly with every track file finalized (sidecar says so, every
 * packet sent before the signal is in it, the WebM decodes and lasts what its
 * sidecar says); started again on the same root
 * and log, it stops the recording as interrupted and composes it.
 */
describe('SIGTERM mid-recording (a real server process)', () => {
  let root = '';
  let server: ServerProcess | undefined;
  let people: Participant[] = [];
  const http = httpClient(() => server!.url);
  afterAll(async () => {
    await Promise.allSettled(people.map((p) => p.close()));
    await server?.kill();
    if (root) await removeDir(root);
  });

  it('finalizes every open file, exits 0, and the restart composes what was recorded', async () => {
    root = await tempDir('mr-sigterm-');
    const env = { RECORDING_DIR: root, NODE_ID: 'term-node' };
    const start = () => startServerProcess(env, { inheritNatsUrl: false, timeoutMs: 30_000 });
    server = await start();
    const room = 'termroom';
    people = [await Participant.join(server.url, room, { name: 'Host' }), await Participant.join(server.url, room, { name: 'Guest' })];
    const started = await http.post('/api/recording-sessions', { connectionId: room });
    expect(started.status).toBe(201);
    const recordingId: string = started.json.session.id;
    await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 10_000)));
    await sleep(3_000); // what is recorded: 3 s of both

    // What each participant had sent when the signal went out: all of it must be in finalized files.
    const sent = new Map(people.map((p) => [p.participantId, { audio: p.peers[0]!.sender.stats.audio!.packets, video: p.peers[0]!.sender.stats.video!.packets }]));
    expect(await server.stop(20_000)).toBe(0);
    expect(server.lines.some((l) => l.msg === 'shutting down: finalizing recordings')).toBe(true);
    await Promise.allSettled(people.map((p) => p.close()));

    const dir = join(root, room);
    const files = await readdir(dir);
    const tracks = files.filter((f) => f.endsWith('.webm'));
    expect(tracks.length).toBe(4); // audio + video of two participants
    for (const f of tracks) {
      const meta = segmentMetaSchema.parse(JSON.parse(await readFile(join(dir, f.replace(/\.webm$/, '.json')), 'utf8')));
      expect(meta, f).toMatchObject({ finalized: true });
      // (a packet or two may still have been on the wire; the sender is starved on a loaded machine, so no wall-clock length)
      expect(meta.packets, f).toBeGreaterThanOrEqual(sent.get(meta.participantId)![meta.kind] - 2);
      expect(meta.durationMs!, f).toBeGreaterThan(0);
      const probed = await probeFile(join(dir, f));
      expect(probed.decodeErrors, f).toBe('');
      expect(Math.abs(probed.durationMs! - meta.durationMs!), f).toBeLessThan(300);
    }

    server = await start();
    const session = (await http.get(`/api/recording-sessions/${recordingId}`)).json.session;
    expect(session).toMatchObject({ status: 'stopped', stopReason: 'interrupted' });
    const job = await poll(
      async () => ((await http.get(`/api/recording-compositions?meetingId=${room}`)).json.jobs as any[]).find((j) => j.recordingId === recordingId),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 250 },
    );
    expect(job?.status, JSON.stringify(job)).toBe('completed');
    expect((await probeFile(join(dir, job.output.filename))).decodeErrors).toBe('');
  }, 240_000);
});
