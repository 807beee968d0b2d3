import { describe, expect, it } from 'vitest';
import { createRecorderClient } from '../../../public/recorder-client.js';

/** Just enough RTCPeerConnection to watch what the client does with it. */
class FakePeer {
  static all: FakePeer[] = [];
  transceivers: { track: any; init: any }[] = [];
  signalingState = 'stable';
  localDescription: { type: string; sdp: string } | null = null;
  remote: { type: string; sdp: string } | null = null;
  candidates: any[] = [];
  closed = false;
  onicecandidate: ((e: { candidate: any }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  constructor() {
    FakePeer.all.push(this);
  }
  addTransceiver(track: any, init: any) {
    this.transceivers.push({ track, init });
  }
  async createOffer() {
    return { type: 'offer', sdp: `offer-${FakePeer.all.length}` };
  }
  async setLocalDescription(d: any) {
    // a candidate gathered before the client got to send its offer
    this.onicecandidate?.({ candidate: { candidate: 'candidate:early', sdpMid: '0', sdpMLineIndex: 0 } });
    this.localDescription = d;
    this.signalingState = 'have-local-offer';
  }
  async setRemoteDescription(d: any) {
    this.remote = d;
    this.signalingState = 'stable';
  }
  async addIceCandidate(c: any) {
    this.candidates.push(c);
  }
  close() {
    this.closed = true;
  }
}

function setup(tracks: { kind: string; readyState: string }[] = [{ kind: 'audio', readyState: 'live' }, { kind: 'video', readyState: 'live' }]) {
  FakePeer.all = [];
  let listener: ((e: { data: unknown }) => void) | undefined;
  const sent: any[] = [];
  const socket = {
    readyState: 1,
    send: (s: string) => sent.push(JSON.parse(s)),
    addEventListener: (_: 'message', l: (e: { data: unknown }) => void) => (listener = l),
    removeEventListener: () => (listener = undefined),
  };
  const stream = { getTracks: () => tracks } as unknown as MediaStream;
  const client = createRecorderClient({ socket, getLocalStream: () => stream, RTCPeerConnectionImpl: FakePeer as never, logger: { warn: () => {} } });
  const emit = (m: object) => listener?.({ data: JSON.stringify(m) });
  // The client and the fake peer use no timers: one macrotask turn runs every promise chain a message started.
  const settle = () => new Promise((r) => setImmediate(r));
  emit({ type: 'connect', connectionId: 'room', polite: true, role: 'participant', participantId: 'me' });
  const request = { type: 'recording-peer-request', connectionId: 'room', recordingId: 'rec', status: 'recording', layout: 'grid', format: 'webm', startedAt: new Date(0).toISOString(), mediaMode: 'webrtc-sendonly' };
  return { client, sent, emit, settle, request };
}

describe('recorder-client.js', () => {
  it('answers a peer request with a send-only offer, then trickles its candidates', async () => {
    const { sent, emit, settle, request } = setup([
      { kind: 'audio', readyState: 'live' },
      { kind: 'video', readyState: 'ended' },
    ]);
    emit(request);
    await settle();
    const pc = FakePeer.all[0];
    expect(pc.transceivers).toHaveLength(1);
    expect(pc.transceivers[0].init.direction).toBe('sendonly');
    expect(sent[0]).toEqual({ type: 'recording-offer', data: { recordingId: 'rec', connectionId: 'room', participantId: 'me', sdp: 'offer-1' } });
    expect(sent[1]).toEqual({ type: 'recording-candidate', data: { recordingId: 'rec', connectionId: 'room', participantId: 'me', candidate: 'candidate:early', sdpMid: '0', sdpMLineIndex: 0 } });
  });

  it('buffers server candidates until the answer is applied', async () => {
    const { emit, settle, request } = setup();
    emit(request);
    await settle();
    const pc = FakePeer.all[0];
    const ref = { connectionId: 'room', recordingId: 'rec', participantId: 'me' };
    emit({ type: 'recording-candidate', ...ref, candidate: 'candidate:s1', sdpMid: '0', sdpMLineIndex: 0 });
    await settle();
    expect(pc.candidates).toEqual([]);
    emit({ type: 'recording-answer', ...ref, sdp: 'answer' });
    await settle();
    expect(pc.remote).toEqual({ type: 'answer', sdp: 'answer' });
    expect(pc.candidates.map((c) => c.candidate)).toEqual(['candidate:s1']);
    emit({ type: 'recording-candidate', ...ref, candidate: 'candidate:s2', sdpMid: '0', sdpMLineIndex: 0 });
    await settle();
    expect(pc.candidates.map((c) => c.candidate)).toEqual(['candidate:s1', 'candidate:s2']);
  });

  it('replaceMedia closes the peer and offers again for the same recording; recording-stopped closes it', async () => {
    const { client, sent, emit, settle, request } = setup();
    emit(request);
    await settle();
    await client.replaceMedia();
    expect(FakePeer.all[0].closed).toBe(true);
    const offers = sent.filter((m) => m.type === 'recording-offer');
    expect(offers.map((m) => [m.data.recordingId, m.data.sdp])).toEqual([
      ['rec', 'offer-1'],
      ['rec', 'offer-2'],
    ]);
    emit({ type: 'recording-stopped', connectionId: 'room', recordingId: 'rec', status: 'stopped', layout: 'grid', format: 'webm', startedAt: '', stoppedAt: '' });
    expect(FakePeer.all[1].closed).toBe(true);
    expect(client.state.status).toBe('stopped');
  });

  it('reports no-local-media when it has no live track', async () => {
    const { sent, emit, settle, request } = setup([{ kind: 'video', readyState: 'ended' }]);
    emit(request);
    await settle();
    expect(FakePeer.all).toHaveLength(0);
    expect(sent).toEqual([{ type: 'recording-status', data: { recordingId: 'rec', connectionId: 'room', participantId: 'me', status: 'no-local-media' } }]);
  });

  it('ignores recording messages of another room', async () => {
    const { client, sent, emit, settle, request } = setup();
    emit({ ...request, connectionId: 'other' });
    await settle();
    expect(FakePeer.all).toHaveLength(0);
    expect(sent).toEqual([]);
    expect(client.state.status).toBe('idle');
  });
});
