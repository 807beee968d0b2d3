/**
 * A load-generator meeting client: a real signaling socket that speaks the
 * recording part of protocol.md like the browser's recorder-client (the same
 * behaviour as test/helpers/participant.ts), with a werift send-only peer
 * whose tracks are fed by a shared ClipPlayer instead of an own encoder.
 */
import WebSocket from 'ws';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAudioLevelIndication,
  useNACK,
  usePLI,
  useSdesMid,
  type RTCRtpTransceiver,
} from 'werift';
import type { ClipPlayer } from './clip-player.js';

const AUDIO_LEVEL_URI = useAudioLevelIndication().uri;

export interface SenderCounters {
  packets: number;
  bytes: number;
  retransmitted: number;
  nacksReceived: number;
  plisReceived: number;
}

export interface FanoutPeer {
  recordingId: string;
  pc: RTCPeerConnection;
  offeredAt: number;
  answeredAt: number | null;
  connectedAt: number | null;
  failed: string | null;
  closed: boolean;
  /** What werift actually sent (after DTLS came up), per kind. */
  counters(): { video: SenderCounters; audio: SenderCounters };
  close(): Promise<void>;
}

function senderCounters(t: RTCRtpTransceiver): SenderCounters {
  const s = t.sender as unknown as Record<string, number>;
  return {
    packets: s.packetCount ?? 0,
    bytes: s.octetCount ?? 0,
    retransmitted: s.retransmittedPacketsSent ?? 0,
    nacksReceived: s.nackCount ?? 0,
    plisReceived: s.pliCount ?? 0,
  };
}

function createFanoutPeer(recordingId: string, player: ClipPlayer, videoLoss: number): {
  peer: FanoutPeer;
  offer(): Promise<string>;
  accept(sdp: string): Promise<void>;
  addCandidate(c: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void>;
  onCandidate(cb: (c: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }) => void): void;
} {
  const pc = new RTCPeerConnection({
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      video: [
        new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [useNACK(), usePLI()] }),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 }),
      ],
    },
    headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid()] },
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
  });
  const videoTrack = new MediaStreamTrack({ kind: 'video', id: 'loadgen-video' });
  const audioTrack = new MediaStreamTrack({ kind: 'audio', id: 'loadgen-audio' });
  const video = pc.addTransceiver(videoTrack, { direction: 'sendonly' });
  const audio = pc.addTransceiver(audioTrack, { direction: 'sendonly' });
  const detach: (() => void)[] = [];
  const subs: { unSubscribe(): void }[] = [];
  let candidateCb: ((c: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }) => void) | null = null;
  const early: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }[] = [];

  const peer: FanoutPeer = {
    recordingId,
    pc,
    offeredAt: 0,
    answeredAt: null,
    connectedAt: null,
    failed: null,
    closed: false,
    counters: () => ({ video: senderCounters(video), audio: senderCounters(audio) }),
    async close() {
      if (peer.closed) return;
      peer.closed = true;
      for (const d of detach.splice(0)) d();
      for (const s of subs.splice(0)) s.unSubscribe();
      await pc.close().catch(() => undefined);
    },
  };

  subs.push(
    pc.onIceCandidate.subscribe((c) => {
      if (!c?.candidate) return;
      const lc = { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
      if (candidateCb) candidateCb(lc);
      else early.push(lc);
    }),
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && peer.connectedAt === null && !peer.closed) {
        peer.connectedAt = Date.now();
        const ext = audio.headerExtensions.find((e) => e.uri === AUDIO_LEVEL_URI)?.id ?? null;
        detach.push(player.addVideo(videoTrack, videoLoss), player.addAudio(audioTrack, ext));
      } else if ((state === 'failed' || state === 'disconnected') && !peer.closed) {
        peer.failed ??= state;
      }
    }),
  );

  return {
    peer,
    async offer() {
      const o = await pc.createOffer();
      await pc.setLocalDescription(o);
      peer.offeredAt = Date.now();
      return pc.localDescription!.sdp;
    },
    async accept(sdp) {
      await pc.setRemoteDescription({ type: 'answer', sdp });
      peer.answeredAt = Date.now();
    },
    async addCandidate(c) {
      await pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined });
    },
    onCandidate(cb) {
      candidateCb = cb;
      for (const c of early.splice(0)) cb(c);
    },
  };
}

export class LoadParticipant {
  readonly peers: FanoutPeer[] = [];
  readonly errors: string[] = [];
  participantId = '';
  role: 'host' | 'participant' = 'participant';
  readonly stopped = new Set<string>();
  private readonly control = new Map<string, ReturnType<typeof createFanoutPeer>>();
  private readonly pending = new Map<string, { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }[]>();

  private constructor(
    readonly ws: WebSocket,
    readonly roomId: string,
    private readonly player: ClipPlayer,
    private readonly videoLoss: number,
  ) {}

  /** videoLoss: fraction of video packets this participant's sender never gets (unrepairable loss). */
  static async join(baseUrl: string, roomId: string, player: ClipPlayer, name: string, videoLoss = 0, timeoutMs = 10_000): Promise<LoadParticipant> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const p = new LoadParticipant(ws, roomId, player, videoLoss);
    const joined = new Promise<any>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no connect reply for ${name} in ${roomId}`)), timeoutMs);
      ws.on('message', (raw) => {
        let m: any;
        try {
          m = JSON.parse(String(raw));
        } catch {
          return;
        }
        if (m?.type === 'connect' && !p.participantId) {
          clearTimeout(t);
          resolve(m);
          return;
        }
        p.onMessage(m).catch((err) => p.errors.push(`${m?.type}: ${(err as Error).message}`));
      });
    });
    p.send({ type: 'connect', connectionId: roomId, name });
    const reply = await joined;
    p.participantId = reply.participantId;
    p.role = reply.role;
    return p;
  }

  send(m: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  get current(): FanoutPeer | undefined {
    return this.peers.at(-1);
  }

  private async onMessage(m: any): Promise<void> {
    if (m?.connectionId && m.connectionId !== this.roomId) return;
    switch (m?.type) {
      case 'recording-peer-request':
        return this.offer(m.recordingId);
      case 'recording-answer': {
        const c = this.control.get(m.recordingId);
        if (!c) return;
        await c.accept(m.sdp);
        for (const cand of this.pending.get(m.recordingId) ?? []) await c.addCandidate(cand);
        this.pending.delete(m.recordingId);
        return;
      }
      case 'recording-candidate': {
        const c = this.control.get(m.recordingId);
        const cand = { candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex };
        if (c && c.peer.answeredAt !== null) await c.addCandidate(cand);
        else this.pending.set(m.recordingId, [...(this.pending.get(m.recordingId) ?? []), cand]);
        return;
      }
      case 'recording-stopped':
        this.stopped.add(m.recordingId);
        await this.control.get(m.recordingId)?.peer.close();
        return;
      case 'recording-status':
        if (m.status !== 'offer-received') this.errors.push(`recording-status ${m.status}`);
        return;
      case 'error':
        this.errors.push(`error: ${m.message}`);
        return;
      case 'disconnect':
        this.errors.push(`disconnected: ${m.reason ?? ''}`);
        return;
      default:
        return;
    }
  }

  /** Opens a fresh send-only peer and offers it (what a peer request asks for; called again, a renegotiation). */
  async offer(recordingId: string): Promise<void> {
    const previous = this.control.get(recordingId);
    if (previous) await previous.peer.close();
    const c = createFanoutPeer(recordingId, this.player, this.videoLoss);
    this.control.set(recordingId, c);
    this.peers.push(c.peer);
    const sdp = await c.offer();
    const ids = { recordingId, connectionId: this.roomId, participantId: this.participantId };
    this.send({ type: 'recording-offer', data: { ...ids, sdp } });
    c.onCandidate((cand) => this.send({ type: 'recording-candidate', data: { ...ids, ...cand } }));
  }

  /** Closes the peers and the socket (without a disconnect message: the caller decides the order). */
  async close(): Promise<void> {
    await Promise.allSettled(this.peers.map((p) => p.close()));
    this.ws.close();
  }
}
