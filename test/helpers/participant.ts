import { createSyntheticSender, type SyntheticSender, type SyntheticSenderOptions } from './sender.js';
import { TestClient } from './ws-client.js';

export interface ParticipantOptions {
  name?: string;
  /** Media each recorder peer sends (defaults: VP8 + Opus, 640x360, ~1 Mbps). */
  media?: Partial<SyntheticSenderOptions>;
  /** Do not answer recording-peer-request (a client that never sends its offer). */
  ignorePeerRequests?: boolean;
}

export interface PeerSession {
  recordingId: string;
  sender: SyntheticSender;
  /** When the offer was sent (ms since epoch). */
  offeredAt: number;
  answered: Promise<void>;
}

/**
 * A meeting client in a test: a real signaling socket plus a werift sender
 * that does what the browser's recorder-client does — on
 * `recording-peer-request` it opens a send-only peer, offers, trickles ICE,
 * buffers the server's candidates until the answer is applied, and closes on
 * `recording-stopped`.
 */
export class Participant {
  readonly peers: PeerSession[] = [];
  participantId = '';
  role: 'host' | 'participant' = 'participant';
  private pendingCandidates = new Map<string, any[]>();

  private constructor(
    readonly client: TestClient,
    readonly roomId: string,
    private readonly opts: ParticipantOptions,
  ) {}

  static async join(baseUrl: string, roomId: string, opts: ParticipantOptions = {}): Promise<Participant> {
    const client = await TestClient.open(baseUrl.replace(/^http/, 'ws') + '/');
    const p = new Participant(client, roomId, opts);
    client.ws.on('message', (raw) => {
      let m: any;
      try {
        m = JSON.parse(String(raw));
      } catch {
        return;
      }
      p.onMessage(m).catch((err) => console.error('participant', p.participantId, err));
    });
    const reply = await client.join(roomId, opts.name);
    p.participantId = reply.participantId;
    p.role = reply.role;
    return p;
  }

  get current(): PeerSession | undefined {
    return this.peers.at(-1);
  }

  private async onMessage(m: any) {
    if (m.connectionId && m.connectionId !== this.roomId) return;
    if (m.type === 'recording-peer-request' && !this.opts.ignorePeerRequests) {
      await this.offer(m.recordingId);
    } else if (m.type === 'recording-answer') {
      const peer = this.peers.findLast((x) => x.recordingId === m.recordingId);
      if (!peer) return;
      await peer.sender.acceptAnswer(m.sdp);
      (peer as any).resolveAnswered();
      for (const c of this.pendingCandidates.get(m.recordingId) ?? []) await peer.sender.addRemoteCandidate(c);
      this.pendingCandidates.delete(m.recordingId);
    } else if (m.type === 'recording-candidate') {
      const peer = this.peers.findLast((x) => x.recordingId === m.recordingId);
      const c = { candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex };
      if (peer && (peer as any).isAnswered) await peer.sender.addRemoteCandidate(c);
      else this.pendingCandidates.set(m.recordingId, [...(this.pendingCandidates.get(m.recordingId) ?? []), c]);
    } else if (m.type === 'recording-stopped') {
      const peer = this.peers.findLast((x) => x.recordingId === m.recordingId);
      await peer?.sender.close();
    }
  }

  /** Opens a (new) recorder peer for the recording and sends its offer: a renegotiation when one exists. */
  async offer(recordingId: string, media: Partial<SyntheticSenderOptions> = {}): Promise<PeerSession> {
    const previous = this.peers.findLast((x) => x.recordingId === recordingId);
    if (previous) await previous.sender.close();
    const sender = createSyntheticSender({ video: 'vp8', audio: true, durationMs: 120_000, ...this.opts.media, ...media });
    let resolveAnswered!: () => void;
    const session: PeerSession & { resolveAnswered?: () => void; isAnswered?: boolean } = {
      recordingId,
      sender,
      offeredAt: 0,
      answered: new Promise<void>((r) => (resolveAnswered = r)),
    };
    session.resolveAnswered = () => {
      session.isAnswered = true;
      resolveAnswered();
    };
    this.peers.push(session);
    const sdp = await sender.createOffer();
    session.offeredAt = Date.now();
    const ids = { recordingId, connectionId: this.roomId, participantId: this.participantId };
    this.client.send({ type: 'recording-offer', data: { ...ids, sdp } });
    sender.onLocalCandidate((c) => this.client.send({ type: 'recording-candidate', data: { ...ids, ...c } }));
    return session;
  }

  /** Leaves the room (socket message, then the socket closes) and stops sending. */
  async leave() {
    this.client.send({ type: 'disconnect', connectionId: this.roomId });
    await this.close();
  }

  async close() {
    await Promise.allSettled(this.peers.map((p) => p.sender.close()));
    this.client.ws.close();
  }
}
