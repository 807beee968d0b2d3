import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokens, type Role } from '../../src/auth/index.js';
import { timelineSchema } from '../../src/http/openapi.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { poll } from '../helpers/wait.js';

/**
 * GET /api/recording-sessions/:id/timeline against the real app with access
 * control on, for one real recording (a werift participant, the real
 * recorder): who may read it, and every bad request refused with a clear
 * error, changing nothing.
 */
const SECRET = 'timeline-test-secret-0123456789abcdef';
const tokens = createTokens(SECRET);
const token = (role: Role, room: string) => tokens.sign({ sub: `${role}-${room}`, room, role, name: `${role} of ${room}` }, 600);
const ROOM = 'tl-room';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** The first `n` server-sent events of a GET (then the connection is dropped). */
function firstEvents(url: string, headers: Record<string, string>, n: number, during?: () => Promise<void>): Promise<{ status: number; type: string; events: any[] }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: pathname, headers }, (res) => {
      const events: any[] = [];
      let buf = '';
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({ status: res.statusCode!, type: String(res.headers['content-type']), events });
      }
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)));
          if (events.length === 1) during?.().catch(reject);
          if (events.length >= n) {
            req.destroy();
            resolve({ status: 200, type: String(res.headers['content-type']), events });
          }
        }
      });
    });
    req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
    req.end();
  });
}

describe('GET /api/recording-sessions/:id/timeline', () => {
  let app: TestApp;
  let host: Participant;
  let recordingId = '';
  const T: Record<string, string> = {};

  beforeAll(async () => {
    app = await startTestApp({ AUTH_SECRET: SECRET });
    T.host = await token('host', ROOM);
    T.participant = await token('participant', ROOM);
    T.otherHost = await token('host', 'tl-other');
    T.operator = await token('operator', '*');
    host = await Participant.join(`${app.url}/?token=${T.host}&_=`, ROOM, { name: 'Hana' });
    const start = await app.http.post('/api/recording-sessions', { connectionId: ROOM }, bearer(T.host));
    expect(start.status).toBe(201);
    recordingId = start.json.session.id;
    // a few seconds of media, then stop: the timeline has a finalized segment and speech
    await poll(
      async () => app.runtime.get(`peer:${recordingId}.${host.participantId}`)?.value,
      (v) => v === 'flowing',
      { timeoutMs: 20_000 },
    );
    await new Promise((r) => setTimeout(r, 2_500));
    const stop = await app.http.delete(`/api/recording-sessions/${recordingId}?compose=false`, bearer(T.host));
    expect(stop.json.session.status).toBe('stopped');
  }, 60_000);
  afterAll(async () => {
    await host?.close();
    await app?.cleanup();
  });

  const get = (id: string, headers: Record<string, string> = {}) => app.http.get(`/api/recording-sessions/${id}/timeline`, headers);

  it('an operator and the room’s own tokens read it; it has the host’s lane with a segment and speech', async () => {
    for (const who of ['operator', 'host', 'participant']) {
      const r = await get(recordingId, bearer(T[who]!));
      expect(r.status, who).toBe(200);
      expect(timelineSchema.safeParse(r.json.timeline).success).toBe(true);
    }
    const t = (await get(recordingId, bearer(T.operator!))).json.timeline;
    expect(t).toMatchObject({ recordingId, roomId: ROOM, state: 'stopped', stopReason: 'api' });
    expect(t.lanes).toHaveLength(1);
    const lane = t.lanes[0];
    expect(lane).toMatchObject({ participantId: host.participantId, name: 'host of tl-room', role: 'host' });
    expect(lane.presence).toEqual([{ startMs: 0, endMs: t.durationMs, began: 'at-start', leftReason: null }]);
    expect(lane.segments.map((s: any) => s.kind).sort()).toEqual(['audio', 'video']);
    expect(lane.speech.length).toBeGreaterThan(0);
    // on a loaded machine the sender may fall behind, which shows as a gap; nothing else went wrong
    expect(lane.marks.filter((m: any) => m.kind !== 'gap')).toEqual([]);
  });

  it('refuses without a token (401) and with another room’s token (403)', async () => {
    const none = await get(recordingId);
    expect(none.status).toBe(401);
    const other = await get(recordingId, bearer(T.otherHost!));
    expect(other.status).toBe(403);
    expect(other.json).toEqual({ success: false, message: `this token is for room tl-other, not ${ROOM}` });
  });

  it('answers an unknown id 404, a malformed one 400, another method 405, and changes nothing', async () => {
    const events = app.runtime.lastSeq;
    const unknown = await get('no-such-recording', bearer(T.operator!));
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ success: false, message: 'unknown recording session no-such-recording' });
    for (const bad of ['bad!id', 'x'.repeat(129), '%00', 'a%2Fb']) {
      const r = await get(bad, bearer(T.operator!));
      expect(r.status, bad).toBe(400);
      expect(r.json.message, bad).toMatch(/^invalid recording id/);
    }
    // as for GET /api/recording-sessions/:id: an unknown id is 404 whoever asks
    expect((await get('no-such-recording', bearer(T.otherHost!))).status).toBe(404);
    const post = await app.http.post(`/api/recording-sessions/${recordingId}/timeline`, {}, bearer(T.operator!));
    expect(post.status).toBe(405);
    expect(app.runtime.lastSeq).toBe(events);
  });

  it('the console and its data need an operator token; ?token= lands an operator on /console with the cookie', async () => {
    for (const path of ['/console', '/api/console/state']) {
      expect((await app.http.get(path)).status, path).toBe(401);
      expect((await app.http.get(path, bearer(T.host!))).status, path).toBe(403);
      expect((await app.http.get(path, bearer(T.operator!))).status, path).toBe(200);
    }
    expect((await app.http.get('/console', bearer(T.operator!))).text).toContain('<title>Recorder console</title>');
    const landing = await app.http.get(`/console?token=${T.operator}`);
    expect(landing.status).toBe(303);
    expect(landing.headers.location).toBe('/console');
    expect(String(landing.headers['set-cookie'])).toContain(`recorder_token=${T.operator}`);
    const cookie = `recorder_token=${T.operator}`;
    expect((await app.http.get('/api/console/state', { cookie })).json.accessControl).toBe(true);
    // a host's link does not land on the console (and does not replace the host's cookie)
    const hostLanding = await app.http.get(`/console?token=${T.host}`);
    expect(hostLanding.status).toBe(403);
    expect(hostLanding.headers['set-cookie']).toBeUndefined();
    expect((await firstEvents(`${app.url}/api/console/events`, bearer(T.participant!), 1)).status).toBe(403);
  });

  it('pushes the live view at once and again when something happens', async () => {
    const late: Participant[] = [];
    const r = await firstEvents(`${app.url}/api/console/events`, bearer(T.operator!), 2, async () => {
      late.push(await Participant.join(`${app.url}/?token=${T.participant}&_=`, ROOM, { name: 'Late' }));
    });
    try {
      expect(r.type).toBe('text/event-stream; charset=utf-8');
      const [first, next] = r.events;
      expect(first.rooms.find((x: any) => x.roomId === ROOM).members.map((m: any) => m.name)).toEqual(['host of tl-room']);
      expect(next.rooms.find((x: any) => x.roomId === ROOM).members.map((m: any) => m.name)).toEqual(['host of tl-room', 'participant of tl-room']);
    } finally {
      await Promise.all(late.map((p) => p.close()));
    }
  });
});
