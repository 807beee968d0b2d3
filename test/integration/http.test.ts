import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClient } from '../helpers/http.js';
import { fakeRecorderEffects, startTestServer, type RunningServer } from '../helpers/test-server.js';
import { TestClient } from '../helpers/ws-client.js';

let server: RunningServer;
const sockets: TestClient[] = [];

const http = httpClient(() => server.url);

function expectError(r: { status: number; json: any }, status: number, message?: RegExp) {
  expect(r.status).toBe(status);
  expect(r.json).toMatchObject({ success: false, message: expect.any(String) });
  if (message) expect(r.json.message).toMatch(message);
}

async function openRoom(roomId: string, members = 1) {
  for (let i = 0; i < members; i++) {
    const c = await TestClient.open(server.wsUrl);
    sockets.push(c);
    await c.join(roomId, `m${i}`);
  }
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

beforeAll(async () => {
  server = await startTestServer({ effects: fakeRecorderEffects(), stopWaitMs: 3000 });
});
afterAll(async () => {
  for (const s of sockets) s.terminate();
  await rm(`${server.root}-outside`, { recursive: true, force: true });
  await server.close();
});

describe('recording sessions', () => {
  let recordingId: string;

  it('POST validates the body', async () => {
    expectError(await http.post('/api/recording-sessions', {}), 400, /connectionId/);
    expectError(await http.post('/api/recording-sessions', { connectionId: 'a b' }), 400, /connectionId/);
    expectError(await http.post('/api/recording-sessions', { connectionId: 'r', layout: 'mosaic' }), 400, /layout/);
    expectError(await http.post('/api/recording-sessions', { connectionId: 'r', format: 'avi' }), 400, /format/);
    expectError(await http.post('/api/recording-sessions', { connectionId: 42 }), 400, /connectionId/);
    expectError(await http.post('/api/recording-sessions', '{"connectionId":'), 400, /JSON/);
    expectError(await http.post('/api/recording-sessions', '[1,2]'), 400, /object/);
    expectError(await http.post('/api/recording-sessions', ''), 400);
  });

  it('POST answers 404 for a room that is not live', async () => {
    expectError(await http.post('/api/recording-sessions', { connectionId: 'nobody-here' }), 404, /no live room/);
  });

  it('POST starts a recording: 201 with the session', async () => {
    await openRoom('http-room', 2);
    const r = await http.post('/api/recording-sessions', { connectionId: 'http-room', layout: 'speaker', extra: 'ignored' });
    expect(r.status).toBe(201);
    const s = r.json.session;
    expect(r.json.success).toBe(true);
    expect(s).toMatchObject({ connectionId: 'http-room', status: 'recording', layout: 'speaker', format: 'webm' });
    expect(s.createdAt).toMatch(ISO);
    expect(s.startedAt).toMatch(ISO);
    expect(s.updatedAt).toMatch(ISO);
    expect(s.stoppedAt).toBeUndefined();
    expect(s.participants).toHaveLength(2);
    expect(s.participants[0]).toMatchObject({ role: 'host', name: 'm0', active: true });
    expect(s.segments).toEqual([]);
    recordingId = s.id;
  });

  it('POST answers 409 with the active session when the room already records', async () => {
    const r = await http.post('/api/recording-sessions', { connectionId: 'http-room' });
    expectError(r, 409, /already recording/);
    expect(r.json.session.id).toBe(recordingId);
  });

  it('GET lists sessions, filters by connectionId, and returns one', async () => {
    await openRoom('other-room');
    expect((await http.post('/api/recording-sessions', { connectionId: 'other-room', format: 'mp4' })).status).toBe(201);
    const all = await http.request('GET', '/api/recording-sessions');
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({ success: true, totalCount: 2 });
    const filtered = await http.request('GET', '/api/recording-sessions?connectionId=http-room');
    expect(filtered.json.totalCount).toBe(1);
    expect(filtered.json.sessions[0].id).toBe(recordingId);
    expect((await http.request('GET', '/api/recording-sessions?connectionId=none')).json).toEqual({ success: true, sessions: [], totalCount: 0 });
    const one = await http.request('GET', `/api/recording-sessions/${recordingId}`);
    expect(one.json).toMatchObject({ success: true, session: { id: recordingId }, compositionJob: null });
    expectError(await http.request('GET', '/api/recording-sessions/unknown-id'), 404);
    expectError(await http.request('GET', '/api/recording-sessions/bad%20id'), 404);
  });

  it('DELETE stops: 200 with the stopped session and its composition job; again is idempotent', async () => {
    const r = await http.request('DELETE', `/api/recording-sessions/${recordingId}`);
    expect(r.status).toBe(200);
    expect(r.json.success).toBe(true);
    expect(r.json.session).toMatchObject({ id: recordingId, status: 'stopped', state: 'stopped', stopReason: 'api' });
    expect(r.json.session.stoppedAt).toMatch(ISO);
    expect(r.json.compositionJob).toMatchObject({
      recordingId,
      meetingId: 'http-room',
      status: 'queued',
      layout: 'speaker',
      format: 'webm',
      inputFiles: [],
    });
    expect(r.json.compositionJob.createdAt).toMatch(ISO);
    const again = await http.request('DELETE', `/api/recording-sessions/${recordingId}`);
    expect(again.status).toBe(200);
    expect(again.json.session.stoppedAt).toBe(r.json.session.stoppedAt);
    expect(again.json.compositionJob.id).toBe(r.json.compositionJob.id);
    expectError(await http.request('DELETE', '/api/recording-sessions/unknown-id'), 404);
  });

  it('DELETE ?compose=false stops without a composition job', async () => {
    const other = (await http.request('GET', '/api/recording-sessions?connectionId=other-room')).json.sessions[0];
    const r = await http.request('DELETE', `/api/recording-sessions/${other.id}?compose=false`);
    expect(r.status).toBe(200);
    expect(r.json.session.status).toBe('stopped');
    expect(r.json.compositionJob).toBeNull();
  });

  it('POST compositions: 400, 404, 409, then 202 with a job; GET lists and returns it', async () => {
    expectError(await http.post('/api/recording-compositions', { meetingId: 'http-room' }), 400, /recordingId/);
    expectError(await http.post('/api/recording-compositions', { meetingId: 'http-room', recordingId: 'nope' }), 404);
    expectError(await http.post('/api/recording-compositions', { meetingId: 'other-room', recordingId }), 404);
    await openRoom('busy-room');
    const busy = (await http.post('/api/recording-sessions', { connectionId: 'busy-room' })).json.session.id;
    expectError(await http.post('/api/recording-compositions', { meetingId: 'busy-room', recordingId: busy }), 409, /not stopped/);

    // One composition of a recording at a time: the stop's job is still queued (no worker here) until it completes.
    const first = (await http.request('GET', '/api/recording-compositions?meetingId=http-room')).json.jobs[0];
    expectError(await http.post('/api/recording-compositions', { meetingId: 'http-room', recordingId }), 409, /already has composition/);
    const jobStream = `composition:${first.id}`;
    await server.runtime.dispatch({ stream: jobStream, type: 'composition.started', data: { attempt: 1, workerId: 'test', delivery: 1 } });
    await server.runtime.dispatch({
      stream: jobStream,
      type: 'composition.completed',
      data: { attempt: 1, output: { file: 'x-composed.webm', durationMs: 1000, sizeBytes: 1 }, skipped: [] },
    });

    const r = await http.post('/api/recording-compositions', { meetingId: 'http-room', recordingId, format: 'mp4' });
    expect(r.status).toBe(202);
    expect(r.json.job).toMatchObject({ recordingId, meetingId: 'http-room', status: 'queued', layout: 'speaker', format: 'mp4', progress: 0, attempts: 0 });
    const jobs = await http.request('GET', '/api/recording-compositions?meetingId=http-room');
    expect(jobs.json).toMatchObject({ success: true, totalCount: 2 });
    expect((await http.request('GET', '/api/recording-compositions')).json.totalCount).toBe(2);
    expect((await http.request('GET', '/api/recording-compositions?meetingId=x')).json.totalCount).toBe(0);
    const one = await http.request('GET', `/api/recording-compositions/${r.json.job.id}`);
    expect(one.json).toMatchObject({ success: true, job: { id: r.json.job.id } });
    expectError(await http.request('GET', '/api/recording-compositions/nope'), 404);
  });
});

describe('recordings on disk', () => {
  const composedName = '1700000000000-rec-1-composed.webm';
  const trackName = '1700000000000-rec-1-p-1-audio-t1.webm';
  const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));

  beforeAll(async () => {
    const dir = path.join(server.root, 'meeting-1');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, composedName), content);
    await writeFile(path.join(dir, composedName.replace('.webm', '.json')), JSON.stringify({ recordingId: 'rec-1', durationMs: 5000 }));
    await writeFile(path.join(dir, trackName), content.subarray(0, 300));
    await writeFile(
      path.join(dir, trackName.replace('.webm', '.json')),
      JSON.stringify({ recordingId: 'rec-1', participantId: 'p-1', participantName: 'Ann', role: 'host', kind: 'audio', codec: 'opus', durationMs: 4900, offsetMs: 10, segmentIndex: 0 }),
    );
    await writeFile(path.join(server.root, 'secret.webm'), 'outside any meeting');
    await symlink(path.join(server.root, 'secret.webm'), path.join(dir, 'link.webm'));
    const outside = `${server.root}-outside`;
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'x.webm'), 'outside root');
    await symlink(outside, path.join(server.root, 'escape'));
  });

  it('lists recordings with their metadata', async () => {
    const r = await http.request('GET', '/api/recordings');
    expect(r.status).toBe(200);
    expect(r.json.success).toBe(true);
    const rec = r.json.recordings.find((x: any) => x.recordingId === 'rec-1');
    expect(rec).toMatchObject({
      meetingId: 'meeting-1',
      durationMs: 5000,
      size: 1300,
      host: { participantId: 'p-1', name: 'Ann', role: 'host' },
      participants: [{ participantId: 'p-1', name: 'Ann', role: 'host' }],
    });
    expect(rec.composed[0]).toMatchObject({
      filename: composedName,
      format: 'webm',
      size: 1000,
      contentType: 'video/webm',
      streamUrl: `/api/recordings/meeting-1/${composedName}/stream`,
      downloadUrl: `/api/recordings/meeting-1/${composedName}/download`,
    });
    expect(rec.tracks[0]).toMatchObject({ filename: trackName, kind: 'audio', codec: 'opus', contentType: 'audio/webm', name: 'Ann' });
    // the event log folder is not a meeting
    expect(r.json.recordings.some((x: any) => x.meetingId.startsWith('.'))).toBe(false);
  });

  it('streams a file whole, by range, and by suffix range; 416 when unsatisfiable', async () => {
    const base = `/api/recordings/meeting-1/${composedName}/stream`;
    const whole = await http.request('GET', base);
    expect(whole.status).toBe(200);
    expect(whole.headers['content-type']).toBe('video/webm');
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expect(whole.body.equals(content)).toBe(true);

    const part = await http.request('GET', base, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/1000');
    expect(part.headers['content-length']).toBe('100');
    expect(part.body.equals(content.subarray(100, 200))).toBe(true);

    const open = await http.request('GET', base, { headers: { range: 'bytes=900-' } });
    expect(open.status).toBe(206);
    expect(open.body.equals(content.subarray(900))).toBe(true);

    const suffix = await http.request('GET', base, { headers: { range: 'bytes=-10' } });
    expect(suffix.headers['content-range']).toBe('bytes 990-999/1000');

    const beyond = await http.request('GET', base, { headers: { range: 'bytes=5000-6000' } });
    expectError(beyond, 416);
    expect(beyond.headers['content-range']).toBe('bytes */1000');

    // a malformed range is ignored: the whole file
    expect((await http.request('GET', base, { headers: { range: 'bits=1-2' } })).status).toBe(200);
    expect((await http.request('HEAD', base)).body.length).toBe(0);
  });

  it('downloads as an attachment, with the right content types', async () => {
    const d = await http.request('GET', `/api/recordings/meeting-1/${composedName}/download`);
    expect(d.status).toBe(200);
    expect(d.headers['content-disposition']).toBe(`attachment; filename="${composedName}"`);
    expect((await http.request('GET', `/api/recordings/meeting-1/${trackName}/stream`)).headers['content-type']).toBe('audio/webm');
    const json = await http.request('GET', `/api/recordings/meeting-1/${trackName.replace('.webm', '.json')}/stream`);
    expect(json.headers['content-type']).toBe('application/json');
    expect(json.json.participantName).toBe('Ann');
  });

  it('refuses traversal and unknown files', async () => {
    for (const p of [
      '/api/recordings/../secret.webm/stream',
      '/api/recordings/meeting-1/../stream',
      '/api/recordings/..%2Fsecret.webm/x/stream',
      '/api/recordings/meeting-1/..%2F..%2Fetc%2Fpasswd/stream',
      '/api/recordings/.eventlog/events.jsonl/stream',
      '/api/recordings/meeting-1/.hidden.webm/stream',
    ]) {
      const r = await http.request('GET', p);
      expect([400, 404], p).toContain(r.status);
      expect(r.json?.success, p).toBe(false);
    }
    expectError(await http.request('GET', '/api/recordings/meeting-1/missing.webm/stream'), 404);
    // a symlink is followed only while it stays inside the root
    expect((await http.request('GET', '/api/recordings/meeting-1/link.webm/stream')).status).toBe(200);
    expectError(await http.request('GET', '/api/recordings/escape/x.webm/stream'), 404);
    expectError(await http.request('GET', '/api/recordings/meeting-1/notes.txt/stream'), 404);
  });
});

describe('routing', () => {
  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    expectError(await http.request('GET', '/api/nothing'), 404);
    expectError(await http.request('GET', '/api/recording-sessions/a/b'), 404);
    const r = await http.request('PUT', '/api/recording-sessions');
    expectError(r, 405);
    expect(r.headers.allow).toBe('GET, POST');
    expectError(await http.request('DELETE', '/api/recordings'), 405);
    expectError(await http.request('POST', '/'), 405);
  });

  it('refuses bodies over 1 MiB with 413', async () => {
    const big = JSON.stringify({ connectionId: 'x', pad: 'a'.repeat(1024 * 1024 + 10) });
    expectError(await http.post('/api/recording-sessions', big), 413);
  });

  it('serves the demo page and public files, nothing else', async () => {
    const home = await http.request('GET', '/');
    expect(home.status).toBe(200);
    expect(home.headers['content-type']).toMatch(/text\/html/);
    expect(home.body.toString()).toContain('<script type="module" src="/app.js">');
    const client = await http.request('GET', '/recorder-client.js');
    expect(client.headers['content-type']).toMatch(/javascript/);
    expect(client.body.toString()).toContain('export function createRecorderClient');
    for (const p of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/nope.js', '/app.ts']) {
      expectError(await http.request('GET', p), 404);
    }
  });
});
