/**
 * A rejoin keeps one tile, from the log and from the sidecars alone (issue 16):
 * a guest identified by host-userInfo before the recording, who leaves and
 * comes back under a new participantId and says who they are only once their
 * new peer is already recording. Real werift participants, the real app
 * (embedded log, and JetStream log + queue), the real composer. The sidecars of both peers must carry the
 * userId (the second one's rewritten while it records), the composition must
 * put both on one tile, and so must a composition from the sidecars alone (as
 * when the recording cannot be read from the log).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarOf } from '../../events/files.js';
import { segmentMetaSchema, type SegmentMeta } from '../../events/segment.js';
import { createComposer } from '../../src/composer/index.js';
import type { TestApp } from '../helpers/app.js';
import { APP_MODES, startModeApp } from '../helpers/app-modes.js';
import { waitForJob } from '../helpers/compositions.js';
import { Participant } from '../helpers/participant.js';
import { eventually, poll, sleep } from '../helpers/wait.js';

describe.each(APP_MODES)('a rejoin with the same userId (werift participants, real app and composer, %s)', (mode) => {
  let app: TestApp;
  const room = 'rejoin-1';
  let host: Participant, first: Participant, again: Participant;
  let recordingId = '';
  let job: any;
  const started = new Set<string>();
  const identifiedPeers: string[] = [];
  /** Kinds of the second peer's sidecars that said the userId before the stop (still open). */
  let whileRecording: string[] = [];

  const flowing = (recording: string, p: Participant) =>
    eventually(() => ['audio', 'video'].every((k) => started.has(`peer:${recording}.${p.participantId}/${k}`)), 40_000, 20);
  const sidecars = async (): Promise<SegmentMeta[]> => {
    const dir = join(app.root, room);
    const names = (await readdir(dir)).filter((n) => n.includes(recordingId) && /-(audio|video)-.*\.json$/.test(n) && !n.endsWith('.levels.json'));
    return Promise.all(names.map(async (n) => segmentMetaSchema.parse(JSON.parse(await readFile(join(dir, n), 'utf8')))));
  };

  beforeAll(async () => {
    app = await startModeApp(mode);
    app.runtime.onEvent(({ event }) => {
      if (event.type === 'peer.media.started') started.add(`${event.stream}/${event.data.kind}`);
      if (event.type === 'peer.identified') identifiedPeers.push(event.stream);
    });
    host = await Participant.join(app.url, room, { name: 'Hal' });
    first = await Participant.join(app.url, room, { name: 'guest' });
    first.client.send({ type: 'host-userInfo', data: { userId: 'u-gwen', name: 'Gwen', avatar: 'gwen.png' } });
    await eventually(() => (app.runtime.get(`room:${room}`)?.context as any)?.members?.[first.participantId]?.userId === 'u-gwen', 10_000, 20);
    const res = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(res.status).toBe(201);
    recordingId = res.json.session.id;
    await flowing(recordingId, host);
    await flowing(recordingId, first);
    await sleep(1500);
    await first.leave();
    await sleep(800);
    again = await Participant.join(app.url, room, { name: 'guest again' });
    await flowing(recordingId, again);
    // Said only now, while the new peer records: its open sidecars are rewritten.
    again.client.send({ type: 'host-userInfo', data: { userId: 'u-gwen', name: 'Gwen' } });
    await eventually(() => identifiedPeers.includes(`peer:${recordingId}.${again.participantId}`), 10_000, 20);
    const rewritten = (ms: SegmentMeta[]) => ms.filter((m) => m.participantId === again.participantId && m.userId === 'u-gwen' && m.participantName === 'Gwen' && !m.finalized);
    whileRecording = rewritten(await poll(sidecars, (ms) => rewritten(ms).length === 2, { timeoutMs: 10_000, stepMs: 50 })).map((m) => m.kind).sort();
    await sleep(1500);
    const stop = await app.http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stop.status).toBe(200);
    job = await waitForJob(app.http, stop.json.compositionJob.id, 120_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([host, first, again].filter(Boolean).map((p) => p.close()));
    await app?.cleanup();
  });

  it("the second peer's open sidecars were rewritten with the identity while it recorded", () => {
    expect(whileRecording).toEqual(['audio', 'video']);
  });

  it('every sidecar of both peers carries the userId, finalized', async () => {
    expect(first.participantId).not.toBe(again.participantId);
    const metas = (await sidecars()).filter((m) => m.participantId === first.participantId || m.participantId === again.participantId);
    expect(metas.map((m) => [m.participantId === first.participantId ? 'first' : 'again', m.kind, m.userId, m.finalized]).sort()).toEqual([
      ['again', 'audio', 'u-gwen', true],
      ['again', 'video', 'u-gwen', true],
      ['first', 'audio', 'u-gwen', true],
      ['first', 'video', 'u-gwen', true],
    ]);
    // The host said nothing: no userId, and nothing invented.
    for (const m of (await sidecars()).filter((m) => m.participantId === host.participantId)) expect(m.userId).toBeUndefined();
  });

  it('the composition puts the rejoin on the first tile', async () => {
    expect(job.status, JSON.stringify(job)).toBe('completed');
    const metadata = JSON.parse(await readFile(join(app.root, room, sidecarOf(job.output.filename)), 'utf8'));
    const people = metadata.participants;
    expect(people.map((p: any) => [p.participantIds, p.label, p.userId ?? null])).toEqual([
      [[host.participantId], 'Hal', null],
      [[first.participantId, again.participantId], 'Gwen', 'u-gwen'],
    ]);
  });

  it('so does a composition from the sidecars alone (no members from the log)', async () => {
    const session = (await app.http.get(`/api/recording-sessions/${recordingId}`)).json.session;
    const result = await createComposer({ root: app.root, logger: pino({ level: 'warn' }) }).compose({
      jobId: 'sidecars-only', meetingId: room, recordingId, durationMs: Date.parse(session.stoppedAt) - Date.parse(session.startedAt),
      layout: 'grid', format: 'webm', width: 640, height: 360, fps: 30, createdAt: Date.now(),
    });
    expect(result.metadata.participants.map((p) => [p.participantIds, p.userId ?? null])).toEqual([
      [[host.participantId], null],
      [[first.participantId, again.participantId], 'u-gwen'],
    ]);
    // Names come from the sidecars: the rewritten one says Gwen.
    expect(result.metadata.participants[1]!.label).toBe('Gwen');
  }, 120_000);
});
