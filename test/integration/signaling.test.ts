import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serverMessageSchemas } from '../../events/wire.js';
import { peerStream, roomStream } from '../../machines/actions.js';
import { httpClient } from '../helpers/http.js';
import { fakeRecorderEffects, startTestServer, type RunningServer } from '../helpers/test-server.js';
import { TestClient } from '../helpers/ws-client.js';

let server: RunningServer;
const clients: TestClient[] = [];

async function client(): Promise<TestClient> {
  const c = await TestClient.open(server.wsUrl);
  clients.push(c);
  return c;
}

const http = httpClient(() => server.url);

/** The message has exactly the protocol's shape (extra fields allowed). */
function conforms(m: any) {
  const schema = serverMessageSchemas[m.type as keyof typeof serverMessageSchemas];
  expect(schema, `schema for ${m.type}`).toBeDefined();
  expect(schema.safeParse(m).success, JSON.stringify(m)).toBe(true);
  return m;
}

const eventsOf = (type: string, where: (e: any) => boolean = () => true) => server.events.filter((e) => e.type === type && where(e));

async function room(n: number, roomId = 'room-1') {
  const members = [];
  for (let i = 0; i < n; i++) {
    const c = await client();
    const reply = await c.join(roomId, `member ${i}`);
    members.push({ c, ...reply });
  }
  return members;
}

async function startRecording(roomId = 'room-1') {
  const r = await http.post('/api/recording-sessions', { connectionId: roomId });
  expect(r.status).toBe(201);
  return r.json.session.id as string;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await server?.close();
});

describe('room signaling', () => {
  beforeEach(async () => {
    server = await startTestServer();
  });

  it('makes the first member host (polite: false) and later ones participants (polite: true)', async () => {
    const [host, p1, p2] = await room(3);
    conforms(host);
    expect(host).toMatchObject({ connectionId: 'room-1', role: 'host', polite: false });
    expect(p1).toMatchObject({ connectionId: 'room-1', role: 'participant', polite: true });
    expect(p2.role).toBe('participant');
    expect(new Set([host.participantId, p1.participantId, p2.participantId]).size).toBe(3);
    const ev = eventsOf('room.member.joined');
    expect(ev.map((e) => e.data.participantId)).toEqual([host.participantId, p1.participantId, p2.participantId]);
    expect(ev[0].data).toMatchObject({ name: 'member 0', nodeId: 'test-node' });
    // extra message: the member list, to everyone
    const members = await p2.c.next('members', (m) => m.members.length === 3);
    conforms(members);
    expect(members.members.map((m: any) => m.role)).toEqual(['host', 'participant', 'participant']);
  });

  it('relays offer/answer/candidate to the other members, or only to `to`', async () => {
    const [a, b, c] = await room(3);
    a.c.send({ type: 'offer', data: { connectionId: 'room-1', sdp: 'v=0 a', polite: false } });
    for (const x of [b, c]) {
      const m = conforms(await x.c.next('offer'));
      expect(m).toMatchObject({ from: 'room-1', to: '', fromParticipantId: a.participantId, data: { connectionId: 'room-1', sdp: 'v=0 a', polite: false } });
      expect(typeof m.data.datetime).toBe('number');
    }
    await a.c.none('offer', 100);

    b.c.send({ type: 'answer', to: a.participantId, data: { connectionId: 'room-1', sdp: 'v=0 b' } });
    expect(await a.c.next('answer')).toMatchObject({ from: 'room-1', to: '', data: { sdp: 'v=0 b' } });
    await c.c.none('answer', 150);

    c.c.send({ type: 'candidate', to: b.participantId, data: { connectionId: 'room-1', candidate: 'candidate:x', sdpMid: '0', sdpMLineIndex: 0 } });
    conforms(await b.c.next('candidate'));
    await a.c.none('candidate', 150);

    c.c.send({ type: 'candidate', to: 'nobody', data: { connectionId: 'room-1', candidate: 'c', sdpMid: null, sdpMLineIndex: null } });
    expect((await c.c.next('error')).message).toMatch(/no member nobody/);
  });

  it('tells the host when a participant leaves, by disconnect or by closing the socket', async () => {
    const [host, p1, p2] = await room(3);
    p1.c.send({ type: 'disconnect', connectionId: 'room-1' });
    expect(conforms(await host.c.next('participant-left'))).toMatchObject({ connectionId: 'room-1', participantId: p1.participantId });
    p2.c.close();
    expect(await host.c.next('participant-left')).toMatchObject({ participantId: p2.participantId });
    expect(eventsOf('room.member.left').map((e) => e.data)).toEqual([
      { participantId: p1.participantId, reason: 'left' },
      { participantId: p2.participantId, reason: 'socket-closed' },
    ]);
    // a socket that left may join again, as a new member
    const again = await p1.c.join('room-1');
    expect(again.role).toBe('participant');
    expect(again.participantId).not.toBe(p1.participantId);
  });

  it('sends disconnect host-left to everyone when the host goes; the room can be opened again', async () => {
    const [host, p1, p2] = await room(3);
    host.c.close();
    for (const p of [p1, p2]) expect(conforms(await p.c.next('disconnect'))).toEqual({ type: 'disconnect', connectionId: 'room-1', reason: 'host-left' });
    expect((await server.runtime.read(roomStream('room-1')))?.snapshot.value).toBe('closed'); // read back if already evicted
    await p1.c.none('participant-left', 100);
    // the socket is out of the room: the next connect opens it anew, as host
    const reopened = await p1.c.join('room-1');
    expect(reopened.role).toBe('host');
  });

  it('refuses a second room on one socket and answers a repeated connect with the same membership', async () => {
    const [a] = await room(1);
    a.c.send({ type: 'connect', connectionId: 'room-2' });
    expect((await a.c.next('error')).message).toMatch(/already in room room-1/);
    const again = await a.c.join('room-1');
    expect(again).toMatchObject({ role: 'host', participantId: a.participantId });
    expect(eventsOf('room.member.joined')).toHaveLength(1);
  });

  it('counts a socket that stops answering pings as gone', async () => {
    await server.close();
    server = await startTestServer({ pingIntervalMs: 100 });
    const [host] = await room(1);
    const silent = await TestClient.open(server.wsUrl, { autoPong: false });
    clients.push(silent);
    const { participantId } = await silent.join('room-1');
    expect(await host.c.next('participant-left', () => true, 2000)).toMatchObject({ participantId });
    expect(eventsOf('room.member.left')[0].data).toEqual({ participantId, reason: 'timed-out' });
    expect((await silent.closed).code).toBe(1006);
  });
});

describe("the field's other messages (host-userInfo, invite-call, on-message)", () => {
  beforeEach(async () => {
    server = await startTestServer();
  });

  const roomSnapshot = (roomId = 'room-1') => JSON.stringify(server.runtime.get(roomStream(roomId))?.context);

  it('relays invite-call and on-message unchanged to the other members, or only to `to`', async () => {
    const [a, b, c] = await room(3);
    const data = { text: 'hello', nested: { n: 1 }, list: [1, 'two'] };
    a.c.send({ type: 'on-message', data });
    for (const x of [b, c]) {
      const m = conforms(await x.c.next('on-message'));
      expect(m).toEqual({ type: 'on-message', from: 'room-1', to: '', fromParticipantId: a.participantId, data });
    }
    await a.c.none('on-message');

    b.c.send({ type: 'invite-call', to: c.participantId, data: 'call me' });
    expect(conforms(await c.c.next('invite-call'))).toEqual({ type: 'invite-call', from: 'room-1', to: '', fromParticipantId: b.participantId, data: 'call me' });
    await a.c.none('invite-call');
    await b.c.none('invite-call');

    c.c.send({ type: 'invite-call', to: 'nobody', data: {} });
    expect((await c.c.next('error')).message).toMatch(/invite-call: no member nobody/);
    c.c.send({ type: 'on-message', data: 'x'.repeat(70_000) });
    expect((await c.c.next('error')).message).toMatch(/on-message: data: must be at most 65536/);
    await a.c.none('on-message');
  });

  it('ignores a type it does not know: no reply, nothing relayed, nothing changed', async () => {
    const [a, b] = await room(2);
    const events = server.events.length;
    const state = roomSnapshot();
    a.c.send({ type: 'screen-share', data: { connectionId: 'room-1' } });
    a.c.send({ type: 'hello' });
    await a.c.none('error');
    await b.c.none('screen-share');
    expect(a.c.unread.filter((m) => m.type !== 'members')).toEqual([]);
    expect(server.events.length).toBe(events);
    expect(roomSnapshot()).toBe(state);
  });

  it('host-userInfo becomes the member identity: name, userId and avatar, other fields kept', async () => {
    const [host, p] = await room(2);
    const info = { userId: 'user-42', name: 'Ada Lovelace', avatar: 'https://example.test/ada.png', team: 'math' };
    p.c.send({ type: 'host-userInfo', data: info });
    const members = conforms(await host.c.next('members', (m) => m.members.some((x: any) => x.name === 'Ada Lovelace')));
    expect(members.members.find((x: any) => x.participantId === p.participantId)).toEqual({
      participantId: p.participantId,
      role: 'participant',
      name: 'Ada Lovelace',
      avatar: info.avatar,
    });
    const member = server.runtime.get(roomStream('room-1'))!.context.members[p.participantId];
    expect(member).toMatchObject({ name: 'Ada Lovelace', userId: 'user-42', avatar: info.avatar, userInfo: info });
    expect(eventsOf('room.member.identified')).toHaveLength(1);
    await p.c.none('error');
  });

  it('a malformed or oversized host-userInfo gets error and changes nothing', async () => {
    const [host, p] = await room(2);
    while ((await host.c.next('members')).members.length < 2);
    const events = server.events.length;
    const state = roomSnapshot();
    const bad: [unknown, RegExp][] = [
      [{ type: 'host-userInfo' }, /host-userInfo: data/],
      [{ type: 'host-userInfo', data: 'Ada' }, /host-userInfo: data/],
      [{ type: 'host-userInfo', data: { name: 42 } }, /host-userInfo: data.name/],
      [{ type: 'host-userInfo', data: { userId: '' } }, /host-userInfo: data.userId/],
      [{ type: 'host-userInfo', data: { name: 'Ada', bio: 'b'.repeat(5000) } }, /host-userInfo: data: must be at most 4096/],
    ];
    for (const [message, why] of bad) {
      p.c.send(message);
      expect((await p.c.next('error')).message).toMatch(why);
    }
    await host.c.none('members');
    expect(server.events.length).toBe(events);
    expect(roomSnapshot()).toBe(state);
  });
});

describe('recording messages', () => {
  beforeEach(async () => {
    server = await startTestServer({ effects: fakeRecorderEffects({ answer: true }) });
  });

  it('asks every member for a recorder peer when a recording starts', async () => {
    const members = await room(3);
    const recordingId = await startRecording();
    for (const m of members) {
      const started = conforms(await m.c.next('recording-started'));
      const request = conforms(await m.c.next('recording-peer-request'));
      expect(started).toMatchObject({ connectionId: 'room-1', recordingId, status: 'recording', layout: 'grid', format: 'webm' });
      expect(new Date(started.startedAt).toISOString()).toBe(started.startedAt);
      expect(request).toMatchObject({ ...started, type: 'recording-peer-request', mediaMode: 'webrtc-sendonly' });
      // started comes before the request
      const order = m.c.received.map((x) => x.type);
      expect(order.indexOf('recording-started')).toBeLessThan(order.indexOf('recording-peer-request'));
    }
  });

  it('sends a late joiner recording-started and recording-peer-request right after its connect', async () => {
    await room(2);
    const recordingId = await startRecording();
    const late = await client();
    late.send({ type: 'connect', connectionId: 'room-1' });
    await late.next('recording-peer-request');
    const messages = late.received.filter((m) => m.type !== 'members');
    expect(messages.map((m) => m.type)).toEqual(['connect', 'recording-started', 'recording-peer-request']);
    expect(messages[1]).toMatchObject({ recordingId, connectionId: 'room-1' });
    expect(late.received[0].type).toBe('connect');
  });

  it('passes host-userInfo on to the running recording: the composition names and groups by it', async () => {
    const [, p] = await room(2);
    const recordingId = await startRecording();
    await p.c.next('recording-peer-request');
    p.c.send({ type: 'host-userInfo', data: { userId: 'u-ada', name: 'Ada', avatar: 'ada.png' } });
    const snap = await server.runtime.waitFor(`recording:${recordingId}`, (s) => s.context.participants[p.participantId]?.userId === 'u-ada', 5000);
    expect(snap?.context.participants[p.participantId]).toMatchObject({ name: 'Ada', userId: 'u-ada', avatar: 'ada.png', active: true });
    // A rejoin under a new socket says who it is again: both participantIds carry the same userId.
    p.c.send({ type: 'disconnect', connectionId: 'room-1' });
    const again = await client();
    const back = await again.join('room-1');
    again.send({ type: 'host-userInfo', data: { userId: 'u-ada', name: 'Ada' } });
    const after = await server.runtime.waitFor(`recording:${recordingId}`, (s) => s.context.participants[back.participantId]?.userId === 'u-ada', 5000);
    expect(after?.context.participants[p.participantId]?.userId).toBe('u-ada');
  });

  it('sends recording-stopped to every member on DELETE', async () => {
    const members = await room(3);
    const recordingId = await startRecording();
    const res = await http.delete(`/api/recording-sessions/${recordingId}`);
    expect(res.status).toBe(200);
    for (const m of members) {
      const stopped = conforms(await m.c.next('recording-stopped'));
      expect(stopped).toMatchObject({ connectionId: 'room-1', recordingId, status: 'stopped', layout: 'grid', format: 'webm' });
      expect(Date.parse(stopped.stoppedAt)).toBeGreaterThanOrEqual(Date.parse(stopped.startedAt));
    }
  });

  it('sends recording-stopped (after disconnect) when the host leaves a recording room', async () => {
    const [host, p1] = await room(2);
    const recordingId = await startRecording();
    host.c.close();
    expect((await p1.c.next('disconnect')).reason).toBe('host-left');
    expect(await p1.c.next('recording-stopped')).toMatchObject({ recordingId });
  });

  it('feeds a recording-offer to the socket’s own recorder peer and relays the answer and candidates', async () => {
    const [a, b] = await room(2);
    const recordingId = await startRecording();
    await a.c.next('recording-peer-request');
    // a claims to be b: the server goes by the socket
    a.c.send({ type: 'recording-offer', data: { recordingId, connectionId: 'room-1', participantId: b.participantId, sdp: 'v=0 offer-a' } });
    expect(conforms(await a.c.next('recording-status'))).toMatchObject({ recordingId, connectionId: 'room-1', participantId: a.participantId, status: 'offer-received' });
    const answer = conforms(await a.c.next('recording-answer'));
    expect(answer).toEqual({ type: 'recording-answer', recordingId, connectionId: 'room-1', participantId: a.participantId, sdp: 'fake-answer-1' });
    const cand = conforms(await a.c.next('recording-candidate'));
    expect(cand).toMatchObject({ recordingId, participantId: a.participantId, sdpMid: '0', sdpMLineIndex: 0 });
    const offers = eventsOf('peer.offer.received');
    expect(offers.map((e) => e.stream)).toEqual([peerStream(recordingId, a.participantId)]);
    await b.c.none('recording-answer', 100);
    await b.c.none('recording-status', 0);

    a.c.send({ type: 'recording-candidate', data: { recordingId, connectionId: 'room-1', participantId: a.participantId, candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 } });
    await expect.poll(() => eventsOf('peer.candidate.received').length).toBe(1);
    expect(eventsOf('peer.candidate.received')[0].stream).toBe(peerStream(recordingId, a.participantId));

    // a fresh offer for the same recording replaces the peer (offer number 2)
    a.c.send({ type: 'recording-offer', data: { recordingId, connectionId: 'room-1', participantId: a.participantId, sdp: 'v=0 offer-a2' } });
    expect((await a.c.next('recording-answer')).sdp).toBe('fake-answer-2');
  });

  it('ignores a recording-offer for another room', async () => {
    const [a] = await room(1);
    await room(1, 'room-2');
    const recordingId = await startRecording();
    a.c.send({ type: 'recording-offer', data: { recordingId, connectionId: 'room-2', participantId: a.participantId, sdp: 'v=0' } });
    expect((await a.c.next('error')).message).toMatch(/room room-2 ignored/);
    expect(eventsOf('peer.offer.received')).toHaveLength(0);
  });

  it('answers recorder-unavailable, candidate-rejected and records a client status', async () => {
    const [a] = await room(1);
    a.c.send({ type: 'recording-offer', data: { recordingId: 'nope', connectionId: 'room-1', participantId: a.participantId, sdp: 'v=0' } });
    expect(await a.c.next('recording-status')).toMatchObject({ recordingId: 'nope', status: 'recorder-unavailable' });
    const recordingId = await startRecording();
    a.c.send({ type: 'recording-candidate', data: { recordingId, connectionId: 'room-1', participantId: a.participantId, candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 } });
    expect(await a.c.next('recording-status')).toMatchObject({ recordingId, status: 'candidate-rejected' });
    a.c.send({ type: 'recording-status', data: { recordingId, connectionId: 'room-1', participantId: a.participantId, status: 'no-local-media' } });
    await expect.poll(() => server.runtime.get(peerStream(recordingId, a.participantId))?.value).toBe('no-media');
    expect(eventsOf('peer.status.reported')[0].data).toEqual({ status: 'no-local-media' });
  });

  it('refuses recording messages before connect', async () => {
    const c = await client();
    c.send({ type: 'recording-offer', data: { recordingId: 'r', connectionId: 'room-1', participantId: 'p', sdp: 'v=0' } });
    expect((await c.next('error')).message).toMatch(/connect first/);
  });
});
