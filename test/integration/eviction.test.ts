import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createHttpApi } from '../../src/http/index.js';
import { createNatsLog } from '../../src/log/nats.js';
import { startNats } from '../../tools/lib/nats-server.js';
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

  it('NATS, two processes: a stream one evicted and the other writes to is read back by the first', async () => {
    const nats = await startNats();
    const tag = randomBytes(5).toString('hex');
    const opts = { servers: nats.url, stream: `T_${tag}`, subjectPrefix: `t${tag}.ev` };
    const logA = await createNatsLog(opts);
    const logB = await createNatsLog(opts);
    const a = createRuntime({ log: logA, logger, actorGraceMs: 50, keepFinished: 0 });
    const b = createRuntime({ log: logB, logger, actorGraceMs: Infinity });
    try {
      await a.load();
      await b.load();
      a.follow();
      b.follow();
      const m = await shortMeeting(a, 'm1', 'rec1');
      await eventually(() => a.stats().live === 0 && b.get(m.room)?.value === 'closed', 5_000);
      expect(a.get(m.room)).toBeUndefined();
      const closedAt = (await a.read(m.room))!.position;
      expect(b.position(m.room)).toBe(closedAt);
      // B opens the room again; A, which evicted it, folds it back at the right position.
      const again = await b.dispatch({ stream: m.room, type: 'room.member.joined', data: { participantId: 'h2', name: null, nodeId: 'n2' } });
      expect(again).toMatchObject({ accepted: true, event: { position: closedAt + 1 } });
      await eventually(() => a.get(m.room)?.value === 'open', 5_000);
      expect(a.position(m.room)).toBe(closedAt + 1);
      // And A writes on from there.
      const left = await a.dispatch({ stream: m.room, type: 'room.member.left', data: { participantId: 'h2', reason: 'left' } });
      expect(left).toMatchObject({ accepted: true, event: { position: closedAt + 2 } });
    } finally {
      await a.close();
      await b.close();
      await logA.close();
      await logB.close();
      const nc = await connect({ servers: nats.url });
      await (await jetstreamManager(nc)).streams.delete(opts.stream).catch(() => {});
      await nc.close();
      await nats.stop();
    }
  });
});
