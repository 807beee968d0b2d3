import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { startTestServer, type RunningServer } from '../helpers/test-server.js';
import { TestClient } from '../helpers/ws-client.js';

/**
 * Without AUTH_SECRET the server works as before (no tokens, unsigned links)
 * and says so once at start; the cross-site rules hold all the same.
 */
const ALLOWED = 'https://meet.example.com';
const EVIL = 'https://evil.example';

function upgrade(url: string, headers: Record<string, string> = {}): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      resolve('open');
      ws.close();
    });
    ws.once('error', reject);
  });
}

describe('without AUTH_SECRET, with ALLOWED_ORIGINS', () => {
  let app: TestApp;
  const lines: any[] = [];
  let host: TestClient;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    app = await startTestApp({ ALLOWED_ORIGINS: ALLOWED }, { logger: pino({ level: 'warn' }, sink) });
    host = await TestClient.open(app.url.replace(/^http/, 'ws') + '/');
    await host.join('open-room');
  });
  afterAll(async () => {
    host?.terminate();
    await app?.cleanup();
  });

  it('logs one clear warning at start', () => {
    const warnings = lines.filter((l) => /AUTH_SECRET/.test(l.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, msg: expect.stringMatching(/access control is OFF.*anyone.*record and download/) });
  });

  it('refuses a cross-site form POST and a text/plain one; nothing starts', async () => {
    const before = app.runtime.lastSeq;
    const form = await fetch(`${app.url}/api/recording-sessions`, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'connectionId=open-room',
    });
    expect(form.status).toBe(403);
    expect(await form.json()).toMatchObject({ success: false, message: expect.stringMatching(/cross-site/) });
    const plain = await fetch(`${app.url}/api/recording-sessions`, { method: 'POST', body: JSON.stringify({ connectionId: 'open-room' }) });
    expect(plain.status).toBe(415);
    expect(app.runtime.list('recording')).toHaveLength(0);
    expect(app.runtime.lastSeq).toBe(before);
  });

  it('takes a JSON POST from a listed origin, with CORS headers, and no token (as before)', async () => {
    const r = await fetch(`${app.url}/api/recording-sessions`, {
      method: 'POST',
      headers: { origin: ALLOWED, 'content-type': 'application/json' },
      body: JSON.stringify({ connectionId: 'open-room' }),
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const id = (await r.json()).session.id;
    const stop = await fetch(`${app.url}/api/recording-sessions/${id}?compose=false`, { method: 'DELETE' });
    expect(stop.status).toBe(200);
  });

  it('accepts sockets only from its own and listed origins (or with no Origin)', async () => {
    const ws = app.url.replace(/^http/, 'ws') + '/';
    expect(await upgrade(ws, { origin: EVIL })).toBe(403);
    expect(await upgrade(ws, { origin: ALLOWED })).toBe('open');
    expect(await upgrade(ws, { origin: app.url })).toBe('open');
    expect(await upgrade(ws)).toBe('open');
  });

  it('hands out unsigned file links, as before', async () => {
    const { recordings } = await (await fetch(`${app.url}/api/recordings`)).json();
    for (const r of recordings) for (const f of [...r.composed, ...r.tracks]) expect(f.streamUrl).not.toContain('sig=');
  });
});

describe('without AUTH_SECRET and ALLOWED_ORIGINS', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it('accepts sockets from any origin (meeting pages served elsewhere keep working)', async () => {
    expect(await upgrade(server.wsUrl, { origin: EVIL })).toBe('open');
    expect(await upgrade(server.wsUrl, { origin: 'null' })).toBe('open');
  });
});
