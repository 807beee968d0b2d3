import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../events/envelope.js';
import { segmentMetaSchema, type SegmentMeta } from '../../events/segment.js';
import type { TestApp } from '../helpers/app.js';
import { APP_MODES, startModeApp } from '../helpers/app-modes.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { eventually, sleep } from '../helpers/wait.js';

/**
 * A real meeting over the real socket: werift peers fed by ffmpeg join, the
 * host records, one participant joins late, one leaves early; every track file
 * must exist, decode, and carry the duration and offset of what was sent.
 * Once with the embedded log and once with the JetStream log and queue.
 */
describe.each(APP_MODES)('recording a meeting end to end (werift senders, loopback, %s)', (mode) => {
  let app: TestApp;
  const room = 'standup-1';
  let host: Participant, early: Participant, late: Participant;
  let startedAt = 0;
  let leftAt = 0;
  let stopAt = 0;
  let recordingId = '';
  let metas: SegmentMeta[] = [];

  beforeAll(async () => {
    app = await startModeApp(mode);
    // Whose media has reached the recorder (peer.media.started, per kind): the timeline below waits for it
    // instead of assuming that a few seconds of wall clock are enough on a busy machine.
    const started = new Set<string>();
    app.runtime.onEvent(({ event }) => {
      if (event.type === 'peer.media.started') started.add(`${event.stream}/${event.data.kind}`);
    });
    const flowing = async (...ps: Participant[]) => {
      const missing = () => ps.flatMap((p) => ['audio', 'video'].map((k) => `peer:${recordingId}.${p.participantId}/${k}`)).filter((k) => !started.has(k));
      await eventually(() => missing().length === 0, 40_000, 20).catch(() => {
        throw new Error(`no media 40 s into the recording from ${missing().join(', ')}`);
      });
    };
    host = await Participant.join(app.url, room, { name: 'Host' });
    early = await Participant.join(app.url, room, { name: 'Early Leaver' });
    expect(host.role).toBe('host');
    const res = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(res.status).toBe(201);
    recordingId = res.json.session.id;
    startedAt = Date.parse(res.json.session.startedAt);
    await flowing(host, early);
    await sleep(Math.max(0, startedAt + 2_000 - Date.now())); // the late joiner comes about 2 s in
    late = await Participant.join(app.url, room, { name: 'Late Joiner' });
    // the late joiner is asked for its media right after its connect answer
    const lateStarted = await late.client.next('recording-started');
    expect(lateStarted).toMatchObject({ recordingId, connectionId: room, status: 'recording' });
    await late.client.next('recording-peer-request');
    await flowing(late);
    await sleep(1_000); // all three recorded together for a while
    leftAt = Date.now();
    await early.leave();
    await sleep(1_500);
    // The senders stop before the recording does, so "what was sent" is a fact and not a race: left
    // running, a sender counts the packets it sends after the server closed its peer and before the
    // recording-stopped message reaches it (half a second on a loaded machine), which no file can hold.
    // Everything they did send must be in the files; what the server had in flight is flushed at the stop.
    await Promise.all([host, late].map((p) => p.current!.sender.stopMedia()));
    await sleep(300);
    stopAt = Date.now();
    const stop = await app.http.delete(`/api/recording-sessions/${recordingId}?compose=false`);
    expect(stop.status).toBe(200);
    expect(stop.json.session.status).toBe('stopped');
    const dir = join(app.root, room);
    for (const f of (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.endsWith('.levels.json'))) {
      const m = segmentMetaSchema.safeParse(JSON.parse(await readFile(join(dir, f), 'utf8')));
      if (m.success) metas.push(m.data);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([host, early, late].map((p) => p?.close()));
    await app?.cleanup();
  });

  it(`logs to the ${mode} log`, () => {
    expect(existsSync(join(app.root, '.eventlog', 'events.jsonl'))).toBe(mode === 'embedded');
  });

  it('wrote an audio and a video segment for every participant', () => {
    for (const p of [host, early, late]) {
      const mine = metas.filter((m) => m.participantId === p.participantId);
      expect(mine.map((m) => m.kind).sort(), p.participantId).toEqual(['audio', 'video']);
      expect(mine.every((m) => m.finalized && m.recordingId === recordingId)).toBe(true);
    }
  });

  it('every file decodes and lasts as long as what was sent (±0.3 s)', async () => {
    for (const p of [host, early, late]) {
      const sent = p.current!.sender.stats;
      for (const m of metas.filter((x) => x.participantId === p.participantId)) {
        const probed = await probeFile(join(app.root, room, m.file));
        expect(probed.durationMs, `${m.file} has a duration`).toBeGreaterThan(0);
        expect(probed.decodeErrors, `${m.file} decodes cleanly`).toBe('');
        const spanMs = m.kind === 'audio' ? sent.audio!.spanMs : sent.video!.spanMs;
        // what the sender put on the wire until it stopped (left, or its media ended just before the stop)
        expect(Math.abs(m.durationMs! - spanMs), `${m.kind} of ${p.participantId}: sidecar ${m.durationMs} vs sent ${spanMs}`).toBeLessThan(300);
        expect(Math.abs(probed.durationMs! - spanMs), `${m.kind} of ${p.participantId}: file ${probed.durationMs} vs sent ${spanMs}`).toBeLessThan(300);
      }
    }
  });

  it('offsets are when each participant’s media began, the late joiner about 2 s in', async () => {
    // Between the sender handing its first packet to the wire and the server logging that the peer's media
    // began: both are facts of this run, so a busy machine widens the window instead of failing the test.
    const mediaStartedAt = new Map<string, number>();
    for await (const { event } of app.log.read()) {
      if (event.type !== 'peer.media.started') continue;
      const key = `${event.stream}/${event.data.kind}`;
      if (!mediaStartedAt.has(key)) mediaStartedAt.set(key, event.time);
    }
    for (const p of [host, early, late]) {
      const sent = p.current!.sender.stats;
      for (const m of metas.filter((x) => x.participantId === p.participantId)) {
        const firstSent = (m.kind === 'audio' ? sent.audio!.firstSentAt! : sent.video!.firstSentAt!) - startedAt;
        const logged = mediaStartedAt.get(`peer:${recordingId}.${p.participantId}/${m.kind}`)! - startedAt;
        const what = `${m.kind} offset of ${p.participantId}: sent ${firstSent}, file ${m.offsetMs}, logged ${logged}`;
        expect(m.offsetMs, what).toBeGreaterThanOrEqual(firstSent - 5); // Date.now() vs the recorder's clock: ms rounding
        expect(m.offsetMs, what).toBeLessThanOrEqual(logged);
      }
    }
    const lateVideo = metas.find((m) => m.participantId === late.participantId && m.kind === 'video')!;
    expect(lateVideo.offsetMs).toBeGreaterThan(1_800);
  });

  it('the early leaver’s peer is closed when it leaves, the others’ at the stop; the session lists every segment', async () => {
    // Why each recorder peer was told to close, from the log: the event that caused it, which neither a slow
    // sender nor a slow finalize on a busy machine can blur.
    const all: StoredEvent[] = [];
    for await (const { event } of app.log.read()) all.push(event);
    const byId = new Map(all.map((e) => [e.id, e]));
    const closeRequest = async (p: Participant) => {
      const stream = `peer:${recordingId}.${p.participantId}`;
      expect((await app.runtime.read(stream))?.snapshot.value).toBe('closed');
      const req = all.find((e) => e.stream === stream && e.type === 'peer.close.requested');
      if (!req) throw new Error(`${stream} was never asked to close`);
      return { req, cause: req.causationId ? byId.get(req.causationId) : undefined };
    };
    const e = await closeRequest(early);
    expect(e.req.data.reason).toBe('participant-left');
    expect(e.req.time).toBeGreaterThanOrEqual(leftAt);
    expect(e.req.time).toBeLessThan(stopAt);
    expect(e.cause).toMatchObject({ type: 'recording.participant.left', data: { participantId: early.participantId } });
    for (const p of [host, late]) {
      const c = await closeRequest(p);
      expect(c.req.data.reason).toBe('recording-stopped');
      expect(c.req.time).toBeGreaterThanOrEqual(stopAt);
    }
    const recording = await app.runtime.read(`recording:${recordingId}`);
    expect(recording?.snapshot.context.participants[early.participantId]).toMatchObject({ active: false, outcome: 'closed' });
    const s = await app.http.get(`/api/recording-sessions/${recordingId}`);
    expect(s.json.session.segments.length).toBe(metas.length);
  });
});
