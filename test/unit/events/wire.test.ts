import { describe, expect, it } from 'vitest';
import { parseBody, parseClientMessage, startRecordingBodySchema, composeBodySchema, serverMessageSchemas } from '../../../events/wire.js';

const ok = (v: unknown) => {
  const r = parseClientMessage(v);
  if (!r.ok) throw new Error(r.error);
  return r.message;
};
const err = (v: unknown) => {
  const r = parseClientMessage(v);
  if (r.ok) throw new Error(`accepted ${JSON.stringify(v)}`);
  return r.error;
};

describe('client messages (protocol.md sections 1-2)', () => {
  it('accepts every client message as the protocol writes it', () => {
    expect(ok({ type: 'connect', connectionId: 'room-1' })).toEqual({ type: 'connect', connectionId: 'room-1' });
    expect(ok({ type: 'connect', connectionId: 'r', name: 'Ann' })).toMatchObject({ name: 'Ann' });
    expect(ok({ type: 'disconnect', connectionId: 'r' }).type).toBe('disconnect');
    expect(ok({ type: 'offer', data: { connectionId: 'r', sdp: 'v=0' }, to: 'p' })).toMatchObject({ to: 'p' });
    expect(ok({ type: 'answer', data: { connectionId: 'r', sdp: 'v=0' } }).type).toBe('answer');
    expect(ok({ type: 'candidate', data: { connectionId: 'r', candidate: 'c', sdpMLineIndex: 0, sdpMid: '0' } }).type).toBe('candidate');
    // the field's other types: host-userInfo keeps every field as given; invite-call / on-message carry any data
    expect(ok({ type: 'host-userInfo', data: { userId: 'u1', name: 'Ann', avatar: 'https://x/a.png', team: { id: 7 } } })).toEqual({
      type: 'host-userInfo',
      data: { userId: 'u1', name: 'Ann', avatar: 'https://x/a.png', team: { id: 7 } },
    });
    expect(ok({ type: 'invite-call', to: 'p', data: { callee: 'p' } })).toMatchObject({ to: 'p', data: { callee: 'p' } });
    expect(ok({ type: 'on-message', data: 'hello' })).toMatchObject({ data: 'hello' });
    const ref = { recordingId: 'rec', connectionId: 'r', participantId: 'p' };
    expect(ok({ type: 'recording-offer', data: { ...ref, sdp: 'v=0' } }).type).toBe('recording-offer');
    expect(ok({ type: 'recording-candidate', data: { ...ref, candidate: 'c', sdpMid: null, sdpMLineIndex: null } }).type).toBe('recording-candidate');
    expect(ok({ type: 'recording-status', data: { ...ref, status: 'no-local-media' } }).type).toBe('recording-status');
  });

  it('never fails on extra fields; relayed data keeps them', () => {
    expect(ok({ type: 'connect', connectionId: 'r', from: 'x', extra: { deep: 1 } })).toEqual({ type: 'connect', connectionId: 'r', from: 'x' });
    expect(ok({ type: 'offer', data: { connectionId: 'r', sdp: 'v=0', polite: true } })).toMatchObject({ data: { polite: true } });
    expect(ok({ type: 'recording-offer', data: { recordingId: 'a', connectionId: 'r', sdp: 'v=0', more: 1 } }).type).toBe('recording-offer');
  });

  it('refuses with readable errors', () => {
    expect(err('x')).toBe('a message must be a JSON object');
    expect(err({})).toBe('a message needs a string "type"');
    expect(parseClientMessage({ type: 'hello' })).toEqual({ ok: false, ignored: true, error: 'unknown message type "hello"' });
    expect(parseClientMessage({ type: 'toString' })).toMatchObject({ ok: false, ignored: true });
    expect(err({ type: 'host-userInfo', data: { name: 5 } })).toMatch(/^host-userInfo: data.name:/);
    expect(err({ type: 'host-userInfo', data: { note: 'x'.repeat(5000) } })).toMatch(/^host-userInfo: data: must be at most 4096/);
    expect(err({ type: 'on-message', data: 'x'.repeat(70_000) })).toMatch(/^on-message: data: must be at most 65536/);
    expect(err({ type: 'connect', connectionId: 'a b' })).toBe('connect: connectionId: must be 1-128 characters of A-Z a-z 0-9 . _ -');
    expect(err({ type: 'connect', connectionId: 'x'.repeat(129) })).toMatch(/connectionId/);
    expect(err({ type: 'connect', connectionId: 'r', name: 'n'.repeat(101) })).toMatch(/^connect: name:/);
    expect(err({ type: 'offer', data: { sdp: 'v=0' } })).toMatch(/^offer: data.connectionId:/);
    expect(err({ type: 'recording-offer', data: { recordingId: 'a', connectionId: 'r', sdp: '' } })).toMatch(/data.sdp/);
    expect(err({ type: 'recording-candidate', data: { recordingId: 'a', connectionId: 'r', candidate: 'c', sdpMLineIndex: 99 } })).toMatch(/sdpMLineIndex/);
  });
});

describe('HTTP bodies', () => {
  it('defaults layout and format, names the bad field', () => {
    expect(parseBody(startRecordingBodySchema, { connectionId: 'r' })).toEqual({ ok: true, body: { connectionId: 'r', layout: 'grid', format: 'webm' } });
    expect(parseBody(startRecordingBodySchema, {})).toEqual({ ok: false, error: 'connectionId: is required' });
    expect(parseBody(startRecordingBodySchema, null)).toEqual({ ok: false, error: 'the body must be a JSON object' });
    expect(parseBody(startRecordingBodySchema, { connectionId: 'r', layout: 'x' })).toMatchObject({ ok: false, error: expect.stringMatching(/^layout: must be one of grid/) });
    expect(parseBody(composeBodySchema, { meetingId: 'm' })).toEqual({ ok: false, error: 'recordingId: is required' });
  });
});

describe('server messages', () => {
  it('recording messages are flat', () => {
    const started = { type: 'recording-started', connectionId: 'r', recordingId: 'a', status: 'recording', layout: 'grid', format: 'webm', startedAt: new Date(0).toISOString() };
    expect(serverMessageSchemas['recording-started'].safeParse(started).success).toBe(true);
    expect(serverMessageSchemas['recording-started'].safeParse({ type: 'recording-started', data: started }).success).toBe(false);
  });
});
