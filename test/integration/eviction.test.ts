import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createHttpApi } from '../../src/http/index.js';
import { createEmbeddedLog } from '../../src/log/embedded.js';
import type { EventLog } from '../../src/log/types.js';
import type { Checkpoint } from '../../src/runtime/checkpoint.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { shortMeeting } from '../../tools/lib/short-meeting.js';
import { PUBLIC_DIR } from '../helpers/test-server.js';
import { httpClient } from '../helpers/http.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { eventually } from '../helpers/wait.js';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** The real HTTP API over a runtime on the embedded log, with a short grace period. */
async function serve(root: string, keepFinished: number, checkpoint?: Checkpoint) {
  const log: EventLog = await createEmbeddedLog({ file: join(root, '.eventlog', 'events.jsonl'), fsync: false });
  const runtime: Runtime = createRuntime({ log, logger, actorGraceMs: 50, keepFinished });
  await runtime.load(undefined, checkpoint);
  runtime.follow();
  const server: Server = createServer(createHttpApi({ runtime, root, logger, newId: randomUUID, publicDir: PUBLIC_DIR }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const http = httpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return {
    runtime,
    http,
    async close() {
      const cp = runtime.checkpoint();
      await new Promise<void>((r) => server.close(() => r()));
      await runtime.close();
      await log.close();
      return cp;
    },
  };
}

describe('evicted sessions and jobs through the HTTP API', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('answers an evicted session and job with the same JSON as before, takes commands on them, and after a restart', async () => {
    const root = await tempDir('mr-evict-http-');
    dirs.push(root);
    const s = await serve(root, 0); // nothing kept: every read below comes from the log
    await shortMeeting(s.runtime, 'm1', 'rec1');
    const session = (await s.http.get('/api/recording-sessions/rec1')).json;
    const job = (await s.http.get('/api/recording-compositions/rec1-c1')).json;
    expect(session).toMatchObject({ success: true, session: { id: 'rec1', status: 'stopped' }, compositionJob: { id: 'rec1-c1', status: 'completed' } });
    expect(job.job.inputFiles).toHaveLength(2);

    await eventually(() => s.runtime.stats().live === 0, 3_000);
    expect(s.runtime.get('recording:rec1')).toBeUndefined();
    expect((await s.http.get('/api/recording-sessions/rec1')).json).toEqual(session);
    expect((await s.http.get('/api/recording-compositions/rec1-c1')).json).toEqual(job);
    expect((await s.http.get('/api/recording-sessions/nope')).status).toBe(404);

    // Stopping a stopped (evicted) session is answered with it, as before.
    const stop = await s.http.delete('/api/recording-sessions/rec1');
    expect(stop.status).toBe(200);
    expect(stop.json.session).toEqual(session.session);
    // Composing it again: the evicted recording is read back, the evicted job's id is not reused.
    const again = await s.http.post('/api/recording-compositions', { meetingId: 'm1', recordingId: 'rec1' });
    expect(again.status).toBe(202);
    expect(again.json.job).toMatchObject({ id: 'rec1-c2', status: 'queued', inputFiles: job.job.inputFiles });
    expect((await s.http.get('/api/recording-compositions/rec1-c2')).json.job.status).toBe('queued');

    const cp = await s.close();
    expect(cp).not.toBeNull();
    // Live only: the queued job (and the recording, if its read-back for the stop has not left yet).
    const inCheckpoint = cp!.actors.map((a) => a.stream);
    expect(inCheckpoint).toContain('composition:rec1-c2');
    expect(inCheckpoint.filter((x) => x !== 'recording:rec1')).toEqual(['composition:rec1-c2']);
    const r = await serve(root, 0, cp!);
    expect((await r.http.get('/api/recording-sessions/rec1')).json.session).toEqual(session.session);
    expect((await r.http.get('/api/recording-compositions/rec1-c1')).json).toEqual(job);
    await r.close();
  });

  it('lists keep showing the recently finished sessions and jobs after eviction', async () => {
    const root = await tempDir('mr-evict-list-');
    dirs.push(root);
    const s = await serve(root, 500);
    await shortMeeting(s.runtime, 'm1', 'rec1');
    await shortMeeting(s.runtime, 'm2', 'rec2', { close: false });
    const sessions = (await s.http.get('/api/recording-sessions')).json;
    const jobs = (await s.http.get('/api/recording-compositions')).json;
    expect(sessions.totalCount).toBe(2);
    expect(jobs.totalCount).toBe(2);
    await eventually(() => s.runtime.stats().live === 1, 3_000);
    expect((await s.http.get('/api/recording-sessions')).json).toEqual(sessions);
    expect((await s.http.get('/api/recording-compositions')).json).toEqual(jobs);
    await s.close();
  });
});
