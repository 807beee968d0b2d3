import { mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokens, createUrlSigner, type Role } from '../../src/auth/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { sleep } from '../helpers/wait.js';
import { Participant } from '../helpers/participant.js';
import { TestClient } from '../helpers/ws-client.js';

/**
 * Access control against the real app (werift recorder, ffmpeg composer,
 * embedded log) with AUTH_SECRET set. A victim room records throughout, with
 * an earlier recording's files on disk and its composition done. Every
 * hostile request is refused, and after each test the sessions, the files and
 * the log are exactly as they were.
 */
const SECRET = 'access-test-secret-0123456789abcdef';
const OTHER_SECRET = 'not-the-secret-0123456789abcdef-xyz';
const ALLOWED = 'https://meet.example.com';
const EVIL = 'https://evil.example';
const tokens = createTokens(SECRET);
const token = (role: Role, room: string, name?: string) => tokens.sign({ sub: `${role}-${room}`, room, role, ...(name ? { name } : {}) }, 600);

let app: TestApp;
let base = '';
let host: Participant;
let guest: Participant;
let runningId = '';
let stoppedId = '';
let jobId = '';
let composedPath = '';
let trackPath = '';
let before: Awaited<ReturnType<typeof fingerprint>>;
const T: Record<string, string> = {};

/** Participant.join only takes a base URL; this one carries the token on the socket URL it derives (`…/?token=T&_=/`). */
const withToken = (url: string, t: string) => `${url}/?token=${t}&_=`;

interface Reply {
  status: number;
  headers: Record<string, any>;
  json: any;
  body: Buffer;
}

/** A request with the path sent byte for byte. */
function raw(method: string, urlPath: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const { port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        let json: any = null;
        try {
          json = JSON.parse(b.toString('utf8'));
        } catch {
          /* a file */
        }
        resolve({ status: res.statusCode!, headers: res.headers, json, body: b });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = { 'content-type': 'application/json' };

/** The upgrade's HTTP status when refused, or 'open' (the socket is closed again at once). */
function upgrade(urlPath: string, headers: Record<string, string> = {}): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + urlPath, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      resolve('open');
      ws.close();
    });
    ws.once('error', (err) => reject(err));
  });
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === '.eventlog') continue;
    const rel = path.join(prefix, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    // The running recording's files grow; every other file keeps its size.
    else out.push(e.name.includes(runningId) ? rel : `${rel} ${(await stat(path.join(dir, e.name))).size}`);
  }
  return out.sort();
}

/** Sessions (every actor's position and state), files, and the log's length. */
async function fingerprint() {
  const actors = (['room', 'recording', 'peer', 'composition'] as const)
    .flatMap((k) => app.runtime.list(k))
    .map((a) => `${a.stream}@${a.position}:${JSON.stringify(a.snapshot.value)}`)
    .sort();
  return { actors, files: await listFiles(app.root), logSeq: app.runtime.lastSeq };
}

beforeAll(async () => {
  // Stats and stall events off: a quiet recording appends nothing while it runs, so any new event is the attack's.
  app = await startTestApp(
    { AUTH_SECRET: SECRET, ALLOWED_ORIGINS: ALLOWED },
    { peerOptions: { statsIntervalMs: 3_600_000, stallTimeoutMs: 3_600_000, noMediaTimeoutMs: 3_600_000 } },
  );
  base = app.url;
  for (const [k, role, room] of [
    ['host', 'host', 'victim'],
    ['participant', 'participant', 'victim'],
    ['evilHost', 'host', 'evil'],
    ['evilParticipant', 'participant', 'evil'],
    ['operator', 'operator', '*'],
  ] as const) {
    T[k] = await token(role, room);
  }
  T.forged = await createTokens(OTHER_SECRET).sign({ sub: 'x', room: 'victim', role: 'host' }, 600);
  T.expired = await createTokens(SECRET, () => Date.now() - 3_600_000).sign({ sub: 'x', room: 'victim', role: 'host' }, 60);
  T.garbage = 'eyJhbGciOiJIUzI1NiJ9.e30.x';

  const media = { width: 160, height: 120, fps: 10, videoKbps: 150 };
  host = await Participant.join(withToken(app.url, await token('host', 'victim', 'Alice')), 'victim', { name: 'Mallory', media });
  guest = await Participant.join(withToken(app.url, await token('participant', 'victim', 'Bob')), 'victim', { name: 'Mallory', media });
  expect([host.role, guest.role]).toEqual(['host', 'participant']);

  const start = async () => {
    const r = await raw('POST', '/api/recording-sessions', { ...json, ...bearer(T.host) }, JSON.stringify({ connectionId: 'victim' }));
    expect(r.status).toBe(201);
    const id: string = r.json.session.id;
    const flowing = () => app.runtime.list('peer').filter((a) => a.stream.startsWith(`peer:${id}.`) && a.snapshot.value === 'flowing').length;
    await waitUntil('peers flowing', flowing, (n) => n === 2, 20_000);
    return id;
  };
  stoppedId = await start();
  await sleep(1500);
  expect((await raw('DELETE', `/api/recording-sessions/${stoppedId}?compose=false`, bearer(T.host))).status).toBe(200);
  const composed = await raw('POST', '/api/recording-compositions', { ...json, ...bearer(T.host) }, JSON.stringify({ meetingId: 'victim', recordingId: stoppedId }));
  expect(composed.status).toBe(202);
  jobId = composed.json.job.id;
  await waitUntil('composition', async () => (await raw('GET', `/api/recording-compositions/${jobId}`, bearer(T.host))).json.job.status, (s) => s === 'completed', 60_000);
  runningId = await start();
  // every track of the running recording has its file
  const tracks = async () => (await readdir(path.join(app.root, 'victim'))).filter((f) => f.includes(runningId) && f.endsWith('.webm')).length;
  await waitUntil('track files', tracks, (n) => n === 4, 10_000);
  const files = (await raw('GET', '/api/recordings', bearer(T.host))).json.recordings.find((r: any) => r.recordingId === stoppedId);
  composedPath = files.composed[0].streamUrl.split('?')[0];
  trackPath = files.tracks[0].downloadUrl.split('?')[0];
  await sleep(500);
  before = await fingerprint();
}, 120_000);

afterEach(async () => {
  expect(await fingerprint()).toEqual(before);
});

afterAll(async () => {
  await Promise.allSettled([host?.close(), guest?.close()]);
  await app?.cleanup();
});

/** expect.poll for beforeAll (where vitest does not allow it). */
async function waitUntil<T>(what: string, read: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Every route of protocol.md section 3, against the victim room. */
const routes = (): [string, string, string?][] => [
  ['POST', '/api/recording-sessions', JSON.stringify({ connectionId: 'victim' })],
  ['DELETE', `/api/recording-sessions/${runningId}`],
  ['DELETE', `/api/recording-sessions/${runningId}?compose=false`],
  ['GET', '/api/recording-sessions'],
  ['GET', '/api/recording-sessions?connectionId=victim'],
  ['GET', `/api/recording-sessions/${runningId}`],
  ['POST', '/api/recording-compositions', JSON.stringify({ meetingId: 'victim', recordingId: stoppedId })],
  ['GET', '/api/recording-compositions'],
  ['GET', `/api/recording-compositions/${jobId}`],
  ['GET', '/api/recordings'],
];

describe('without a valid token', () => {
  it('answers 401 on every API route: no token, forged, expired, garbage (header and cookie)', async () => {
    for (const [method, p, body] of routes()) {
      const variants: [string, Record<string, string>][] = [
        ['none', {}],
        ['forged', bearer(T.forged)],
        ['expired', bearer(T.expired)],
        ['garbage', bearer(T.garbage)],
        ['forged cookie', { cookie: `recorder_token=${T.forged}` }],
        ['expired cookie', { cookie: `recorder_token=${T.expired}` }],
        ['basic', { authorization: 'Basic dTpw' }],
      ];
      for (const [what, headers] of variants) {
        const r = await raw(method, p, { ...(body ? json : {}), ...headers }, body);
        expect(r.status, `${what} ${method} ${p}`).toBe(401);
        expect(r.json, `${what} ${method} ${p}`).toMatchObject({ success: false, message: expect.stringMatching(/token/) });
      }
    }
    expect((await raw('GET', '/api/recordings', bearer(T.expired))).json.message).toMatch(/expired/);
  });

  it('refuses file links that are unsigned (403), and a bad token on them (401)', async () => {
    for (const p of [`${composedPath}`, trackPath, composedPath.replace('/stream', '/download')]) {
      expect((await raw('GET', p)).status, p).toBe(403);
      expect((await raw('GET', p, bearer(T.forged))).status, p).toBe(401);
      expect((await raw('GET', p, { cookie: `recorder_token=${T.expired}` })).status, p).toBe(401);
    }
  });

  it('refuses the socket upgrade with 401: no socket is opened', async () => {
    expect(await upgrade('/')).toBe(401);
    expect(await upgrade(`/?token=${T.forged}`)).toBe(401);
    expect(await upgrade(`/?token=${T.expired}`)).toBe(401);
    expect(await upgrade(`/?token=${T.garbage}`)).toBe(401);
    expect(await upgrade('/', { cookie: `recorder_token=${T.forged}` })).toBe(401);
    expect(await upgrade('/', bearer(T.expired))).toBe(401);
    expect(await upgrade(`/elsewhere?token=${T.host}`)).toBe(400);
  });

  it('GET /?token= with a bad token sets no cookie', async () => {
    for (const t of [T.forged, T.expired, T.garbage]) {
      const r = await raw('GET', `/?room=victim&token=${t}`);
      expect(r.status).toBe(401);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
  });
});

describe('a token for another room', () => {
  it('gets 403 on every route of the victim room and sees none of it in lists', async () => {
    for (const t of [T.evilHost, T.evilParticipant]) {
      for (const [method, p, body] of routes()) {
        const r = await raw(method, p, { ...(body ? json : {}), ...bearer(t) }, body);
        if (method === 'GET' && !/[0-9a-f-]{36}$/.test(p)) {
          expect(r.status, `${method} ${p}`).toBe(200);
          expect(r.json.totalCount, `${method} ${p}`).toBe(0);
        } else {
          expect(r.status, `${method} ${p}`).toBe(403);
          expect(r.json).toMatchObject({ success: false, message: expect.stringMatching(/evil, not victim|may not/) });
        }
      }
      expect((await raw('GET', composedPath, bearer(t))).status).toBe(403);
      expect((await raw('GET', trackPath, { cookie: `recorder_token=${t}` })).status).toBe(403);
    }
  });

  it('cannot join the victim room, nor open an empty room without a host token', async () => {
    const seen = host.client.received.length;
    const evil = await TestClient.open(base.replace(/^http/, 'ws') + `/?token=${T.evilHost}`);
    evil.send({ type: 'connect', connectionId: 'victim' });
    expect((await evil.next('error')).message).toMatch(/token is for room evil, not victim/);
    const squatter = await TestClient.open(base.replace(/^http/, 'ws') + `/?token=${T.evilParticipant}`);
    squatter.send({ type: 'connect', connectionId: 'evil' });
    expect((await squatter.next('error')).message).toMatch(/no host yet/);
    expect(app.runtime.get('room:evil')).toBeUndefined();
    // nor with a participant token of the victim room for a room of its own
    const guestToo = await TestClient.open(base.replace(/^http/, 'ws') + `/?token=${T.participant}`);
    guestToo.send({ type: 'connect', connectionId: 'victim-2' });
    expect((await guestToo.next('error')).message).toMatch(/not victim-2/);
    await sleep(300);
    expect(host.client.received.slice(seen).filter((m) => m.type === 'members')).toEqual([]);
    for (const c of [evil, squatter, guestToo]) c.close();
    await Promise.all([evil.closed, squatter.closed, guestToo.closed]);
    await sleep(200);
  });
});

describe('a participant token', () => {
  it('cannot start, stop or compose (403); it sees its room', async () => {
    const r1 = await raw('POST', '/api/recording-sessions', { ...json, ...bearer(T.participant) }, JSON.stringify({ connectionId: 'victim' }));
    expect(r1.status).toBe(403);
    expect(r1.json.message).toMatch(/participant token may not/);
    expect((await raw('DELETE', `/api/recording-sessions/${runningId}`, bearer(T.participant))).status).toBe(403);
    expect((await raw('DELETE', `/api/recording-sessions/${runningId}?compose=false`, { cookie: `recorder_token=${T.participant}` })).status).toBe(403);
    const r3 = await raw('POST', '/api/recording-compositions', { ...json, ...bearer(T.participant) }, JSON.stringify({ meetingId: 'victim', recordingId: stoppedId }));
    expect(r3.status).toBe(403);
    const sessions = (await raw('GET', '/api/recording-sessions', bearer(T.participant))).json;
    expect(sessions.sessions.map((s: any) => s.id).sort()).toEqual([runningId, stoppedId].sort());
  });

  it("is the member's identity: the token's name and sub win over what the client sent", async () => {
    const room = app.runtime.get('room:victim')!;
    const members = Object.values(room.context.members as Record<string, { name: string; role: string; userId?: string }>);
    expect(members.map((m) => [m.role, m.name, m.userId]).sort()).toEqual([
      ['host', 'Alice', 'host-victim'],
      ['participant', 'Bob', 'participant-victim'],
    ]);
    // The recording's participants carry the same identity (GET /api/recording-sessions/:id).
    const session = (await raw('GET', `/api/recording-sessions/${runningId}`, bearer(T.host))).json.session;
    expect(session.participants.map((p: any) => [p.role, p.userId]).sort()).toEqual([
      ['host', 'host-victim'],
      ['participant', 'participant-victim'],
    ]);
  });
});

describe('cross-site requests', () => {
  it('refuses a cross-site form POST even when the browser sends the cookie', async () => {
    const cookie = { cookie: `recorder_token=${T.host}` };
    const form = await raw('POST', '/api/recording-sessions', { ...cookie, origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' }, 'connectionId=victim');
    expect(form.status).toBe(403);
    expect(form.json.message).toMatch(/cross-site/);
    // same origin but a form's content type (a form on a page that was injected here): 415
    const sameOrigin = { origin: base, 'content-type': 'text/plain' };
    expect((await raw('POST', '/api/recording-sessions', { ...cookie, ...sameOrigin }, JSON.stringify({ connectionId: 'victim' }))).status).toBe(415);
    expect((await raw('POST', '/api/recording-compositions', { ...cookie, 'content-type': 'multipart/form-data; boundary=x' }, '--x--')).status).toBe(415);
    expect((await raw('DELETE', `/api/recording-sessions/${runningId}?compose=false`, { ...cookie, origin: EVIL })).status).toBe(403);
    // (a DELETE body needs an explicit length: node's client would send it unframed)
    expect((await raw('DELETE', `/api/recording-sessions/${runningId}`, { ...cookie, 'content-type': 'text/plain', 'content-length': '1' }, 'x')).status).toBe(415);
  });

  it('sends CORS headers only to ALLOWED_ORIGINS', async () => {
    const evil = await raw('OPTIONS', '/api/recording-sessions', { origin: EVIL, 'access-control-request-method': 'POST' });
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const ok = await raw('OPTIONS', '/api/recording-sessions', { origin: ALLOWED, 'access-control-request-method': 'POST' });
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(ok.headers['access-control-allow-headers']).toMatch(/authorization/);
    const get = await raw('GET', '/api/recordings', { origin: EVIL, ...bearer(T.host) });
    expect(get.status).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
    expect((await raw('GET', '/api/recordings', { origin: ALLOWED, ...bearer(T.host) })).headers['access-control-allow-origin']).toBe(ALLOWED);
  });

  it('refuses a cookie-only socket from another site; a ?token= socket may come from anywhere', async () => {
    const cookie = { cookie: `recorder_token=${T.host}` };
    expect(await upgrade('/', { ...cookie, origin: EVIL })).toBe(403);
    expect(await upgrade('/', { ...cookie, origin: 'null' })).toBe(403);
    expect(await upgrade('/', { ...cookie, origin: base })).toBe('open');
    expect(await upgrade('/', { ...cookie, origin: ALLOWED })).toBe('open');
    expect(await upgrade(`/?token=${T.host}`, { origin: EVIL })).toBe('open');
    await sleep(200);
  });
});

describe('signed file links', () => {
  it('carry exp and sig in API answers and play without headers, Range included', async () => {
    const { recordings } = (await raw('GET', '/api/recordings', bearer(T.host))).json;
    const rec = recordings.find((r: any) => r.recordingId === stoppedId);
    const link: string = rec.composed[0].streamUrl;
    expect(link).toMatch(/^\/api\/recordings\/victim\/[^?]+\/stream\?exp=\d+&sig=[\w-]{43}$/);
    expect(Number(new URLSearchParams(link.split('?')[1]).get('exp')) - Date.now() / 1000).toBeGreaterThan(3500);
    const whole = await raw('GET', link);
    expect(whole.status).toBe(200);
    expect(whole.headers['content-type']).toBe('video/webm');
    const part = await raw('GET', link, { range: 'bytes=0-99' });
    expect(part.status).toBe(206);
    expect(part.body.length).toBe(100);
    expect((await raw('GET', rec.tracks[0].downloadUrl)).status).toBe(200);
    const job = (await raw('GET', `/api/recording-compositions/${jobId}`, bearer(T.host))).json.job;
    expect((await raw('GET', job.output.downloadUrl)).headers['content-disposition']).toMatch(/attachment/);
  });

  it('refuses an altered or expired link with 403, unless a token may see the room', async () => {
    const { recordings } = (await raw('GET', '/api/recordings', bearer(T.host))).json;
    const rec = recordings.find((r: any) => r.recordingId === stoppedId);
    const [p, q] = (rec.composed[0].streamUrl as string).split('?');
    const params = new URLSearchParams(q);
    const other = rec.tracks[0].streamUrl.split('?')[0];
    const cases = [
      `${other}?${q}`, // another file with this file's signature
      `${p.replace('/stream', '/download')}?${q}`,
      `${p}?exp=${Number(params.get('exp')) + 3600}&sig=${params.get('sig')}`,
      `${p}?exp=${params.get('exp')}&sig=${params.get('sig')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}`,
      `${p}?exp=${params.get('exp')}`,
      createUrlSigner(SECRET, 60, () => Date.now() - 3_600_000).sign(p),
      createUrlSigner(OTHER_SECRET, 3600).sign(p),
    ];
    for (const c of cases) {
      const r = await raw('GET', c);
      expect(r.status, c).toBe(403);
      expect(r.json.message, c).toMatch(/link/);
    }
    expect((await raw('GET', cases[5])).json.message).toMatch(/expired/);
    // a token that may see the room reads it anyway; one for another room does not
    expect((await raw('GET', cases[0], bearer(T.participant))).status).toBe(200);
    expect((await raw('GET', p, { cookie: `recorder_token=${T.operator}` })).status).toBe(200);
    expect((await raw('GET', cases[0], bearer(T.evilHost))).status).toBe(403);
  });
});

describe('path tricks that reach the path check', () => {
  it('are refused by it even for an operator, who may see every room', async () => {
    const outside = `${app.root}-outside`;
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret.webm'), 'not yours');
    await symlink(outside, path.join(app.root, 'escape'));
    try {
      const op = bearer(T.operator);
      const cases: [string, number, RegExp][] = [
        ['/api/recordings/..%2F..%2Fetc/passwd/stream', 400, /invalid path/],
        ['/api/recordings/victim/..%2F..%2F..%2Fetc%2Fpasswd/download', 400, /invalid path/],
        ['/api/recordings/../passwd/stream', 400, /invalid path/],
        ['/api/recordings/victim/../download', 400, /invalid path/],
        ['/api/recordings/.eventlog/events.jsonl/download', 400, /invalid path/],
        ['/api/recordings/escape/secret.webm/stream', 404, /^not found$/],
      ];
      for (const [p, status, message] of cases) {
        const r = await raw('GET', p, op);
        expect(r.status, p).toBe(status);
        expect(r.json.message, p).toMatch(message);
        // without the operator's token the link check refuses first
        expect((await raw('GET', p)).status, p).toBe(403);
      }
    } finally {
      await rm(path.join(app.root, 'escape'));
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('GET /?token=', () => {
  it('keeps the token in an HttpOnly SameSite=Strict cookie and redirects without it', async () => {
    const r = await raw('GET', `/?room=victim&token=${T.participant}`);
    expect([302, 303]).toContain(r.status);
    expect(r.headers.location).toBe('/?room=victim');
    const cookie: string = r.headers['set-cookie'][0];
    expect(cookie).toMatch(new RegExp(`^recorder_token=${T.participant.replace(/\./g, '\\.')};`));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    const jar = { cookie: cookie.split(';')[0] };
    expect((await raw('GET', '/api/recordings', jar)).json.totalCount).toBeGreaterThan(0);
    expect(await upgrade('/', { ...jar, origin: base })).toBe('open');
    expect((await raw('GET', '/', jar)).status).toBe(200);
    await sleep(200);
  });
});

describe('afterwards', () => {
  it('the victim still records with both members', async () => {
    const s = (await raw('GET', `/api/recording-sessions/${runningId}`, bearer(T.host))).json.session;
    expect(s.status).toBe('recording');
    expect(Object.keys(app.runtime.get('room:victim')!.context.members)).toHaveLength(2);
  });
});
