import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { trackSidecarsIn } from '../helpers/recordings.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { eventually, poll, sleep } from '../helpers/wait.js';

/** Every file of a meeting's folder with its size and mtime: what "nothing changed" means for the folder. */
async function folder(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).sort();
  return Promise.all(
    names.map(async (n) => {
      const { size, mtimeMs } = await stat(join(dir, n));
      return `${n} ${size} ${mtimeMs}`;
    }),
  );
}

/**
 * app.stop() while a recorder peer is still being closed by an effect (its
 * participant left a moment ago, so the peer is out of the recorder's live
 * set and finalizing its files): stop returns only once that close is done.
 * Before, stop returned at once and the remux went on writing into the
 * meeting's folder (seen as a test teardown's ENOTEMPTY on a loaded machine).
 * The recorder's ffprobe/ffmpeg are the real ones, started 3 s late for the
 * leaving participant's files (as on a busy machine), so that close outlasts
 * the rest of the shutdown.
 */
describe('app.stop() while a participant’s recorder peer is closing', () => {
  let app: TestApp | undefined;
  let tools = '';
  const clients: Participant[] = [];
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    if (app) {
      await app.stop();
      await removeDir(app.root);
    }
    if (tools) await removeDir(tools);
  });

  it('returns only after that peer’s files are finalized, and nothing writes to the folder afterwards', async () => {
    tools = await tempDir('mr-slow-tools-');
    const slow = async (name: string) => {
      const file = join(tools, name);
      // slow only for the files of the participant named in slow-id: the host's close (the shutdown's own) stays quick
      await writeFile(file, `#!/bin/sh\ncase "$*" in *"$(cat ${join(tools, 'slow-id')} 2>/dev/null || echo none)"*) sleep 3;; esac\nexec ${name} "$@"\n`);
      await chmod(file, 0o755);
      return file;
    };
    app = await startTestApp({ FFMPEG_PATH: await slow('ffmpeg'), FFPROBE_PATH: await slow('ffprobe') });
    const room = 'stop-closing';
    const host = await Participant.join(app.url, room, { name: 'Host' });
    const guest = await Participant.join(app.url, room, { name: 'Guest' });
    clients.push(host, guest);
    await writeFile(join(tools, 'slow-id'), guest.participantId);
    const started = await app.http.post('/api/recording-sessions', { connectionId: room });
    expect(started.status, started.text).toBe(201);
    const recordingId: string = started.json.session.id;
    expect(await poll(() => trackSidecarsIn(app!.root, room), (f) => f.length === 4, { timeoutMs: 20_000, stepMs: 100 })).toHaveLength(4);
    await sleep(1_500); // a second and a half of media: the guest's files have something to remux

    let closeAsked = false;
    app.runtime.onEvent(({ event }) => {
      if (event.type === 'peer.close.requested' && event.stream === `peer:${recordingId}.${guest.participantId}`) closeAsked = true;
    });
    await guest.leave();
    await eventually(() => closeAsked, 10_000, 1);
    await app.stop();

    const dir = join(app.root, room);
    const guestSidecars = (await readdir(dir)).filter((f) => f.includes(guest.participantId) && f.endsWith('.json') && !f.endsWith('.levels.json'));
    expect(guestSidecars).toHaveLength(2);
    for (const f of guestSidecars) {
      const meta = JSON.parse(await readFile(join(dir, f), 'utf8'));
      // the participant's own close (its remux included) finished before stop returned
      expect(meta, f).toMatchObject({ finalized: true });
      expect(meta.needsRemux, f).toBeUndefined();
      expect(meta.durationMs, f).toBeGreaterThan(0);
    }
    const before = await folder(dir);
    await sleep(1_500);
    expect(await folder(dir)).toEqual(before);
    expect(before.filter((l) => /\.tmp|remux|partial/.test(l))).toEqual([]);
  }, 60_000);
});
