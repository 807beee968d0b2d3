import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/signaling/limits.js';
import { fakeRecorderEffects, startTestServer, type RunningServer } from '../helpers/test-server.js';
import { httpClient } from '../helpers/http.js';
import { TestClient } from '../helpers/ws-client.js';

/**
 * Hostile input: nothing a client sends may crash the server, leak into
 * another room, or change a recording. A victim room records throughout; its
 * snapshots must be identical before and after.
 */
let server: RunningServer;
const sockets: TestClient[] = [];
let victim: { host: TestClient; hostId: string; guestId: string; recordingId: string; stoppedId: string };
let before: string;

async function open(): Promise<TestClient> {
  const c = await TestClient.open(server.wsUrl);
  sockets.push(c);
  return c;
}

/** Every recording, peer and composition snapshot, plus the victim room. */
function fingerprint(): string {
  const kinds = ['recording', 'peer', 'composition'] as const;
  const actors = kinds.flatMap((k) => server.runtime.list(k)).map((a) => [a.stream, a.position, a.snapshot.value, a.snapshot.context]);
  const room = server.runtime.list('room').find((a) => a.stream === 'room:victim');
  return JSON.stringify({ actors, room: [room?.position, room?.snapshot.value, room?.snapshot.context] });
}

const api = httpClient(() => server.url);
const http = (method: string, path: string, body?: string, headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }) =>
  api.request(method, path, { body, headers });

/** The socket still answers: a connect to its room (or a fresh one) gets a reply. */
async function stillUsable(c: TestClient, roomId = `probe-${Math.random().toString(36).slice(2)}`) {
  c.send({ type: 'connect', connectionId: roomId });
  const reply = await c.next('connect');
  expect(reply.connectionId).toBe(roomId);
}

beforeAll(async () => {
  server = await startTestServer({ effects: fakeRecorderEffects({ answer: true }) });
  const host = await open();
  const guest = await open();
  const { participantId: hostId } = await host.join('victim');
  const { participantId: guestId } = await guest.join('victim');
  // one finished recording, one running, both peers negotiating (no timers pending)
  const post = async () => (await http('POST', '/api/recording-sessions', JSON.stringify({ connectionId: 'victim' }))).json.session.id as string;
  const stoppedId = await post();
  await http('DELETE', `/api/recording-sessions/${stoppedId}?compose=false`);
  const recordingId = await post();
  for (const [c, id] of [
    [host, hostId],
    [guest, guestId],
  ] as const) {
    await c.next('recording-peer-request', (m) => m.recordingId === recordingId);
    c.send({ type: 'recording-offer', data: { recordingId, connectionId: 'victim', participantId: id, sdp: 'v=0 real' } });
    await c.next('recording-answer');
  }
  victim = { host, hostId, guestId, recordingId, stoppedId };
  before = fingerprint();
});

afterAll(async () => {
  for (const s of sockets) s.terminate();
  await server.close();
});

describe('hostile frames', () => {
  it('answers malformed JSON and wrong shapes with an error, and the socket stays usable', async () => {
    const c = await open();
    const cases: [string, RegExp][] = [
      ['{', /malformed JSON/],
      ['', /malformed JSON/],
      ['null', /JSON object/],
      ['[]', /JSON object/],
      ['"connect"', /JSON object/],
      ['42', /JSON object/],
      ['{}', /string "type"/],
      ['{"type":5}', /string "type"/],
      ['{"type":"connect"}', /connect: connectionId/],
      ['{"type":"connect","connectionId":"../etc"}', /connectionId: must be/],
      ['{"type":"connect","connectionId":"a/b"}', /connectionId: must be/],
      [`{"type":"connect","connectionId":"${'x'.repeat(129)}"}`, /connectionId: must be/],
      ['{"type":"connect","connectionId":""}', /connectionId: must be/],
      [`{"type":"connect","connectionId":"ok","name":"${'n'.repeat(101)}"}`, /name/],
      ['{"type":"connect","connectionId":["victim"]}', /connectionId/],
      ['{"type":"offer","data":"x"}', /offer: data/],
      ['{"type":"host-userInfo","data":"x"}', /host-userInfo: data/],
      ['{"type":"host-userInfo","data":{"name":5}}', /host-userInfo: data.name/],
      [`{"type":"host-userInfo","data":{"bio":"${'b'.repeat(5000)}"}}`, /host-userInfo: data: must be at most 4096/],
      [`{"type":"on-message","data":"${'m'.repeat(70_000)}"}`, /on-message: data: must be at most 65536/],
      ['{"type":"recording-offer","data":{"recordingId":"r","connectionId":"victim"}}', /data.sdp/],
      ['{"type":"recording-offer","data":{"recordingId":"../r","connectionId":"victim","sdp":"x"}}', /recordingId/],
      ['{"type":"recording-candidate","data":{"recordingId":"r","connectionId":"victim","candidate":"c","sdpMLineIndex":"0"}}', /sdpMLineIndex/],
      ['{"type":"recording-status","data":{"recordingId":"r","connectionId":"victim","status":7}}', /status/],
      [`${'['.repeat(50_000)}${']'.repeat(50_000)}`, /JSON object|malformed/],
    ];
    for (const [frame, message] of cases) {
      c.send(frame);
      const err = await c.next('error');
      expect(err.message, frame.slice(0, 60)).toMatch(message);
    }
    // Types the server does not know are ignored, as the field's server did: no reply at all.
    for (const frame of ['{"type":"nope"}', '{"type":"__proto__"}', '{"type":"constructor"}', '{"type":"toString","data":{}}']) c.send(frame);
    await c.none('error');
    c.send('{"type":"connect","connectionId":"p1","__proto__":{"polluted":true}}');
    await c.next('connect');
    expect(({} as any).polluted).toBeUndefined();
    // a socket out of a room gets no recording messages through
    expect(c.unread.filter((m) => m.type !== 'members')).toEqual([]);
  });

  it('refuses binary frames and random bytes without closing the socket', async () => {
    const c = await open();
    for (let i = 0; i < 20; i++) {
      c.send(randomBytes(1 + (i * 37) % 500), { binary: true });
      expect((await c.next('error')).message).toMatch(/binary frames/);
    }
    for (let i = 0; i < 20; i++) {
      c.send(randomBytes(200).toString('base64'));
      expect((await c.next('error')).message).toMatch(/malformed JSON|JSON object/);
    }
    await stillUsable(c);
  });

  it('closes a socket that sends invalid UTF-8 text (1007), and the server goes on', async () => {
    const c = await open();
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await c.closed).code).toBe(1007);
    await stillUsable(await open());
  });

  it('answers a frame above the limit with an error, and closes on a huge one (1009)', async () => {
    const c = await open();
    c.send(JSON.stringify({ type: 'offer', data: { connectionId: 'victim', sdp: 'x'.repeat(300 * 1024) } }));
    expect((await c.next('error')).message).toMatch(/exceeds the limit/);
    await stillUsable(c);
    const d = await open();
    d.send('x'.repeat(2 * 1024 * 1024));
    expect((await d.closed).code).toBe(1009);
    await stillUsable(await open());
  });

  // Without AUTH_SECRET anyone may simply join any room (that is what access control is for): the
  // plain join of another room is tried, and refused, in access.test.ts. This one proves that a
  // socket in its own room cannot act on another room through the messages it sends.
  it("keeps other rooms out of reach of a socket's messages", async () => {
    const c = await open();
    const { participantId } = await c.join('evil');
    const { recordingId, hostId, guestId } = victim;
    const ref = { recordingId, connectionId: 'victim', participantId: hostId };
    c.send({ type: 'recording-offer', data: { ...ref, sdp: 'v=0 evil' } });
    expect((await c.next('error')).message).toMatch(/ignored/);
    c.send({ type: 'recording-candidate', data: { ...ref, candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 } });
    expect((await c.next('error')).message).toMatch(/ignored/);
    c.send({ type: 'recording-status', data: { ...ref, status: 'no-local-media' } });
    expect((await c.next('error')).message).toMatch(/ignored/);
    // its own room id with the victim's recording: there is no recorder peer for it
    c.send({ type: 'recording-offer', data: { ...ref, connectionId: 'evil', sdp: 'v=0 evil' } });
    expect(await c.next('recording-status')).toMatchObject({ status: 'recorder-unavailable', participantId });
    c.send({ type: 'recording-status', data: { ...ref, connectionId: 'evil', status: 'no-local-media' } });
    c.send({ type: 'offer', to: guestId, data: { connectionId: 'evil', sdp: 'x' } });
    expect((await c.next('error')).message).toMatch(/no member/);
    c.send({ type: 'offer', data: { connectionId: 'victim', sdp: 'x' } });
    expect((await c.next('error')).message).toMatch(/ignored/);
    c.send({ type: 'disconnect', connectionId: 'victim' });
    c.send({ type: 'connect', connectionId: 'victim' });
    expect((await c.next('error')).message).toMatch(/already in room evil/);
    await victim.host.none('offer', 200);
    await victim.host.none('participant-left', 0);
  });

  it('bounds what one socket can push into the log and the relay: a flood is throttled once, then closed', async () => {
    const { messagesPerSecond: rate, messageBurst: burst } = DEFAULT_LIMITS;
    const target = await open();
    const { participantId: targetId } = await target.join('flood');
    const relayer = await open();
    const { participantId: relayerId } = await relayer.join('flood');
    const joiner = await open();
    const eventsBefore = server.events.length;
    const started = Date.now();
    // Relayed offers at a member, and connect/disconnect pairs that each append to the log, as fast as they go.
    const offer = JSON.stringify({ type: 'offer', to: targetId, data: { connectionId: 'flood', sdp: 'v=0 flood' } });
    for (let i = 0; i < 3000; i++) {
      if (relayer.ws.readyState === relayer.ws.OPEN) relayer.send(offer);
      if (joiner.ws.readyState === joiner.ws.OPEN) joiner.send({ type: i % 2 ? 'disconnect' : 'connect', connectionId: 'flood-log' });
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    const [relayerClosed, joinerClosed] = await Promise.all([relayer.closed, joiner.closed]);
    const elapsedS = (Date.now() - started) / 1000;
    const bound = burst + Math.ceil(rate * elapsedS);
    for (const [c, closed] of [
      [relayer, relayerClosed],
      [joiner, joinerClosed],
    ] as const) {
      expect(closed).toMatchObject({ code: 1008, reason: expect.stringMatching(/rate limit/) });
      expect(c.received.filter((m) => m?.type === 'error' && /rate limit/.test(m.message))).toHaveLength(1);
    }
    // What reached the recipient and the log is bounded by the bucket, not by the flood.
    await target.none('disconnect', 300);
    const relayed = target.received.filter((m) => m?.type === 'offer' && m.fromParticipantId === relayerId).length;
    expect(relayed).toBeGreaterThan(0);
    expect(relayed).toBeLessThanOrEqual(bound);
    const logged = server.events.slice(eventsBefore).filter((e) => e.stream === 'room:flood-log').length;
    expect(logged).toBeGreaterThan(0);
    expect(logged).toBeLessThanOrEqual(bound + 1); // + the leave when the socket closed
    // The recipient kept its socket and its room.
    await stillUsable(target, 'flood');
    expect(server.runtime.get('room:flood')?.context.hostId).toBe(targetId);
  });

  it('survives many sockets sending garbage at once', async () => {
    const many = await Promise.all(Array.from({ length: 30 }, () => open()));
    for (const c of many) for (let i = 0; i < 50; i++) c.send(i % 2 ? randomBytes(64) : '{"type":"connect","connectionId":5}');
    await Promise.all(many.map(async (c) => stillUsable(c)));
    for (const c of many) c.terminate();
  });
});

describe('hostile HTTP', () => {
  /** The victim's state, every file under the root, and the log's length: none may change. */
  async function untouched() {
    // sockets of earlier tests are still leaving their rooms: wait until the log is quiet
    for (let n = -1; n !== server.events.length; ) {
      n = server.events.length;
      await new Promise((r) => setTimeout(r, 300));
    }
    const files = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { withFileTypes: true, recursive: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
    return { state: fingerprint(), events: server.events.length, files: await files(server.root) };
  }

  it('refuses bad bodies and unknown ids with clear errors, and changes nothing', async () => {
    const was = await untouched();
    const cases: [string, string, string | undefined, number, RegExp][] = [
      ['POST', '/api/recording-sessions', JSON.stringify({ connectionId: '../victim' }), 400, /connectionId/],
      ['POST', '/api/recording-sessions', JSON.stringify({ connectionId: 'victim', layout: '../../x' }), 400, /layout/],
      ['POST', '/api/recording-sessions', JSON.stringify({ connectionId: 'victim' }), 409, /already recording/],
      ['POST', '/api/recording-sessions', '{"connectionId":"victim","__proto__":{"x":1}}', 409, /already recording/],
      ['POST', '/api/recording-compositions', JSON.stringify({ meetingId: '../../etc', recordingId: 'x' }), 400, /meetingId/],
      ['POST', '/api/recording-compositions', JSON.stringify({ meetingId: 'victim', recordingId: '../x' }), 400, /recordingId/],
      ['POST', '/api/recording-compositions', JSON.stringify({ meetingId: 'evil', recordingId: 'anything' }), 404, /no recording/],
      // ids in the path are checked before any lookup
      ['DELETE', '/api/recording-sessions/..%2F..%2Fx', undefined, 404, /unknown recording session/],
      ['DELETE', '/api/recording-sessions/unknown', undefined, 404, /unknown recording session/],
      ['GET', '/api/recording-compositions/..%2Fx', undefined, 404, /unknown composition job/],
      ['GET', '/api/recording-compositions/unknown', undefined, 404, /unknown composition job/],
    ];
    for (const [method, p, body, status, message] of cases) {
      const r = await http(method, p, body);
      expect(r.status, `${method} ${p}`).toBe(status);
      expect(r.json, `${method} ${p}`).toMatchObject({ success: false, message: expect.stringMatching(message) });
    }
    expect(await untouched()).toEqual(was);
  });

  it('refuses path tricks at the path check itself (its own message, not routing), and changes nothing', async () => {
    // a directory in the root that links outside it, holding a file the file route would serve
    const outside = `${server.root}-outside`;
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret.webm'), 'not yours');
    await symlink(outside, path.join(server.root, 'escape'));
    await mkdir(path.join(server.root, '.eventlog'), { recursive: true });
    await writeFile(path.join(server.root, '.eventlog', 'hidden.json'), '{}');
    const was = await untouched();
    try {
      const cases: [string, number, RegExp][] = [
        // the file route: names are checked segment by segment (raw, never decoded), then resolved inside the root
        ['/api/recordings/..%2F..%2Fetc/passwd/stream', 400, /^invalid path/],
        ['/api/recordings/victim/..%2F..%2F..%2Fetc%2Fpasswd/download', 400, /^invalid path/],
        ['/api/recordings/../package.json/download', 400, /^invalid path/],
        ['/api/recordings/victim/../download', 400, /^invalid path/],
        ['/api/recordings/.eventlog/hidden.json/download', 400, /^invalid path/],
        ['/api/recordings/%2e%2e/package.json/stream', 400, /^invalid path/],
        ['/api/recordings/escape/secret.webm/stream', 404, /^not found$/],
        // the demo page's files: the same check, answered 404
        ['/../package.json', 404, /^invalid path/],
        ['/..%2f..%2fpackage.json', 404, /^invalid path/],
        ['/.%2e/package.json', 404, /^invalid path/],
      ];
      for (const [p, status, message] of cases) {
        const r = await http('GET', p);
        expect(r.status, p).toBe(status);
        expect(r.json, p).toMatchObject({ success: false, message: expect.stringMatching(message) });
      }
      // the escaping file is there: the 404 is the check's (it resolves links), not a missing file's
      expect((await stat(path.join(server.root, 'escape', 'secret.webm'))).isFile()).toBe(true);
      expect(await untouched()).toEqual(was);
    } finally {
      await rm(path.join(server.root, 'escape'), { force: true });
      await rm(path.join(server.root, '.eventlog', 'hidden.json'), { force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('turns away paths the router has no route for (no path check involved)', async () => {
    for (const [method, p] of [
      ['GET', '/api/recordings/../../etc/passwd/stream'],
      ['GET', '/../../etc/passwd'],
      ['DELETE', '/api/recording-sessions/../victim'],
    ]) {
      const r = await http(method, p);
      expect(r.status, p).toBe(404);
      expect(r.json.message, p).toMatch(/^no route/);
    }
    // the victim still records: its session is unchanged
    const s = (await http('GET', `/api/recording-sessions/${victim.recordingId}`)).json.session;
    expect(s.status).toBe('recording');
  });
});

describe('afterwards', () => {
  it('is still up, and no recording, peer or composition changed', async () => {
    expect((await http('GET', '/')).status).toBe(200);
    expect((await http('GET', '/api/recording-sessions')).json.totalCount).toBe(2);
    expect(fingerprint()).toBe(before);
    await stillUsable(await open());
  });
});
