/**
 * A synthetic WebRTC sender for tests and the load generator: a werift peer
 * with send-only transceivers, fed by ffmpeg (lavfi testsrc2 / sine → RTP on
 * loopback UDP → track.writeRtp). It offers, takes an answer and trickled
 * candidates, and records what it actually sent so tests can compare.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpPacket,
  serializeAudioLevelIndication,
  useAudioLevelIndication,
  useNACK,
  usePLI,
  useSdesMid,
  type RTCRtpTransceiver,
} from 'werift';

export type SyntheticVideoCodec = 'vp8' | 'vp9' | 'h264';

export interface SyntheticSenderOptions {
  video: SyntheticVideoCodec | false;
  audio: boolean;
  /** Media length ffmpeg generates. */
  durationMs: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Keyframe interval in frames (ffmpeg cannot answer PLI, so keep it short). */
  gopFrames?: number;
  videoKbps?: number;
  /**
   * RFC 6464 level to stamp on each audio packet (0 = loudest … 127 = silence,
   * i.e. -dBov), from the packet's media time (RTP timestamp, ms since the
   * first audio packet); null = no extension. Default: 1 s at 20 then 1 s at
   * 90, alternating.
   */
  audioLevel?: (elapsedMs: number) => number | null;
  /** Drop every packet of every video keyframe (VP8 only): a track that never becomes decodable. */
  dropVideoKeyframes?: boolean;
  /**
   * Drop this fraction of video packets before they reach werift (0..1): loss
   * NACK cannot repair, since the sender never saw those packets. The choice
   * comes from a seeded generator, so a run drops the same packet indices.
   */
  videoLossRate?: number;
  lossSeed?: number;
  /** Start ffmpeg as soon as the peer connects (default true); otherwise call start(). */
  startOnConnect?: boolean;
  ffmpegPath?: string;
}

export interface SentTrackStats {
  packets: number;
  bytes: number;
  /** Date.now() when the first / last RTP packet was handed to the werift track. */
  firstSentAt: number | null;
  lastSentAt: number | null;
  /** Unwrapped RTP timestamps of the first / last packet sent. */
  firstTimestamp: number | null;
  lastTimestamp: number | null;
  clockRate: number;
  droppedKeyframePackets: number;
  /** Packets dropped by videoLossRate (counted in packets, never sent). */
  lostOnPurpose: number;
  /** (last - first) RTP timestamp in ms. */
  readonly spanMs: number;
}

export interface LocalCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export interface SyntheticSender {
  readonly pc: RTCPeerConnection;
  readonly stats: { audio?: SentTrackStats; video?: SentTrackStats };
  createOffer(): Promise<string>;
  acceptAnswer(sdp: string): Promise<void>;
  addRemoteCandidate(c: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void>;
  /** Candidates gathered so far are replayed to a late subscriber. Returns an unsubscribe. */
  onLocalCandidate(cb: (c: LocalCandidate) => void): () => void;
  /** Resolves when the peer connection reaches `connected`. */
  readonly connected: Promise<void>;
  /** Starts ffmpeg (idempotent). Resolves once it has been spawned. */
  start(): Promise<void>;
  /** Resolves when ffmpeg has exited (after start). */
  readonly finished: Promise<void>;
  /** Stops ffmpeg now: the track simply goes quiet, the peer stays up. */
  stopMedia(): Promise<void>;
  close(): Promise<void>;
}

const AUDIO_LEVEL_URI = useAudioLevelIndication().uri;

/** Pure: the ffmpeg arguments that feed the sender's RTP sockets. */
export function syntheticFfmpegArgs(o: {
  video: SyntheticVideoCodec | false;
  audio: boolean;
  durationMs: number;
  videoPort?: number;
  audioPort?: number;
  width: number;
  height: number;
  fps: number;
  gopFrames: number;
  videoKbps: number;
}): string[] {
  const d = (o.durationMs / 1000).toFixed(3);
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (o.video) args.push('-re', '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}:duration=${d}`);
  if (o.audio) args.push('-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${d}`);
  const rtp = (port: number) => `rtp://127.0.0.1:${port}?rtcpport=${port}&pkt_size=1200`;
  if (o.video) {
    if (o.videoPort === undefined) throw new Error('videoPort required');
    const rate = [`-b:v`, `${o.videoKbps}k`, '-maxrate', `${o.videoKbps}k`, '-bufsize', `${Math.round(o.videoKbps / 2)}k`];
    const gop = ['-g', String(o.gopFrames), '-keyint_min', String(o.gopFrames)];
    args.push('-map', '0:v');
    switch (o.video) {
      case 'vp8':
        args.push('-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0');
        break;
      case 'vp9':
        args.push('-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-lag-in-frames', '0');
        args.push('-strict', 'experimental');
        break;
      case 'h264':
        args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline');
        args.push('-pix_fmt', 'yuv420p');
        break;
    }
    args.push(...rate, ...gop, '-f', 'rtp', rtp(o.videoPort));
  }
  if (o.audio) {
    if (o.audioPort === undefined) throw new Error('audioPort required');
    args.push('-map', `${o.video ? 1 : 0}:a`);
    args.push('-c:a', 'libopus', '-b:a', '48k', '-ar', '48000', '-ac', '2', '-frame_duration', '20');
    args.push('-application', 'lowdelay', '-f', 'rtp', rtp(o.audioPort));
  }
  return args;
}

function senderCodecs(video: SyntheticVideoCodec | false) {
  const fb = () => [useNACK(), usePLI()];
  const primary =
    video === 'vp9'
      ? new RTCRtpCodecParameters({ mimeType: 'video/VP9', clockRate: 90000, rtcpFeedback: fb() })
      : video === 'h264'
        ? new RTCRtpCodecParameters({
            mimeType: 'video/H264',
            clockRate: 90000,
            rtcpFeedback: fb(),
            parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
          })
        : new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: fb() });
  return {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [primary, new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 })],
  };
}

function newStats(clockRate: number): SentTrackStats {
  return {
    packets: 0,
    bytes: 0,
    firstSentAt: null,
    lastSentAt: null,
    firstTimestamp: null,
    lastTimestamp: null,
    clockRate,
    droppedKeyframePackets: 0,
    lostOnPurpose: 0,
    get spanMs() {
      if (this.firstTimestamp === null || this.lastTimestamp === null) return 0;
      return ((this.lastTimestamp - this.firstTimestamp) / this.clockRate) * 1000;
    },
  };
}

/** Small seeded PRNG (mulberry32): reproducible packet loss. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** VP8 (RFC 7741): is this the first packet of a keyframe? */
export function isVp8KeyframeStart(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const b0 = payload[0]!;
  const s = (b0 & 0x10) !== 0;
  const partId = b0 & 0x0f;
  let i = 1;
  if (b0 & 0x80) {
    const b1 = payload[i++] ?? 0;
    if (b1 & 0x80) i += (payload[i] ?? 0) & 0x80 ? 2 : 1; // picture id
    if (b1 & 0x40) i += 1; // TL0PICIDX
    if (b1 & 0x30) i += 1; // TID / KEYIDX
  }
  if (!s || partId !== 0 || i >= payload.length) return false;
  return ((payload[i] ?? 1) & 0x01) === 0;
}

export function createSyntheticSender(opts: SyntheticSenderOptions): SyntheticSender {
  if (opts.dropVideoKeyframes && opts.video !== 'vp8') throw new Error('dropVideoKeyframes is implemented for vp8 only');
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 30;
  const gopFrames = opts.gopFrames ?? fps;
  const videoKbps = opts.videoKbps ?? 1000;
  const audioLevel = opts.audioLevel ?? ((ms: number) => (Math.floor(ms / 1000) % 2 === 0 ? 20 : 90));
  const ffmpegPath = opts.ffmpegPath ?? 'ffmpeg';
  const lossRandom = mulberry32(opts.lossSeed ?? 1);

  const pc = new RTCPeerConnection({
    codecs: senderCodecs(opts.video),
    headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid()] },
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    // One transport for all m-lines: with werift's default (max-compat) the offerer opens one ICE
    // socket per m-line and never closes the one BUNDLE makes redundant.
    bundlePolicy: 'max-bundle',
  });

  const stats: { audio?: SentTrackStats; video?: SentTrackStats } = {};
  let videoTrack: MediaStreamTrack | undefined;
  let audioTrack: MediaStreamTrack | undefined;
  let audioTransceiver: RTCRtpTransceiver | undefined;
  if (opts.video) {
    videoTrack = new MediaStreamTrack({ kind: 'video', id: `synthetic-video-${opts.video}` });
    pc.addTransceiver(videoTrack, { direction: 'sendonly' });
    stats.video = newStats(90000);
  }
  if (opts.audio) {
    audioTrack = new MediaStreamTrack({ kind: 'audio', id: 'synthetic-audio' });
    audioTransceiver = pc.addTransceiver(audioTrack, { direction: 'sendonly' });
    stats.audio = newStats(48000);
  }

  const candidates: LocalCandidate[] = [];
  const candidateListeners = new Set<(c: LocalCandidate) => void>();
  const subs = [
    pc.onIceCandidate.subscribe((c) => {
      if (!c?.candidate) return;
      const lc = { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
      candidates.push(lc);
      for (const l of candidateListeners) l(lc);
    }),
  ];

  let resolveConnected!: () => void;
  let rejectConnected!: (e: Error) => void;
  const connected = new Promise<void>((res, rej) => {
    resolveConnected = res;
    rejectConnected = rej;
  });
  connected.catch(() => undefined);
  subs.push(
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        resolveConnected();
        if (opts.startOnConnect !== false) void start();
      } else if (state === 'failed' || state === 'closed') {
        rejectConnected(new Error(`sender peer ${state}`));
      }
    }),
  );

  const sockets: dgram.Socket[] = [];
  let ffmpeg: ChildProcess | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((res) => (resolveFinished = res));
  let startPromise: Promise<void> | undefined;
  let closed = false;

  const unwrapper = () => {
    let last: number | null = null;
    let cycles = 0;
    return (ts: number) => {
      if (last !== null) {
        if (ts < last && last - ts > 0x80000000) cycles++;
        else if (ts > last && ts - last > 0x80000000) cycles--;
      }
      last = ts;
      return ts + cycles * 0x100000000;
    };
  };

  const bindSocket = async (onPacket: (buf: Buffer) => void): Promise<number> => {
    const sock = dgram.createSocket('udp4');
    sockets.push(sock);
    sock.on('message', (buf) => {
      const pt = buf[1] ?? 0;
      if (pt >= 200 && pt <= 204) return; // ffmpeg's RTCP, sent to the same port
      onPacket(buf);
    });
    sock.on('error', () => undefined);
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    return sock.address().port;
  };

  const record = (s: SentTrackStats, unwrap: (ts: number) => number, pkt: RtpPacket, size: number) => {
    const ts = unwrap(pkt.header.timestamp);
    const now = Date.now();
    if (s.firstSentAt === null) {
      s.firstSentAt = now;
      s.firstTimestamp = ts;
    }
    s.lastSentAt = now;
    s.lastTimestamp = ts;
    s.packets++;
    s.bytes += size;
  };

  function start(): Promise<void> {
    if (startPromise) return startPromise;
    startPromise = (async () => {
      if (closed) return;
      let videoPort: number | undefined;
      let audioPort: number | undefined;
      if (videoTrack && stats.video) {
        const vs = stats.video;
        const unwrap = unwrapper();
        let droppedTs: number | null = null;
        videoPort = await bindSocket((buf) => {
          const pkt = RtpPacket.deSerialize(buf);
          if (opts.dropVideoKeyframes) {
            if (isVp8KeyframeStart(pkt.payload)) droppedTs = pkt.header.timestamp;
            if (pkt.header.timestamp === droppedTs) {
              vs.droppedKeyframePackets++;
              return;
            }
          }
          record(vs, unwrap, pkt, buf.length);
          if (opts.videoLossRate && lossRandom() < opts.videoLossRate) {
            vs.lostOnPurpose++;
            return;
          }
          videoTrack!.writeRtp(pkt);
        });
      }
      if (audioTrack && stats.audio) {
        const as = stats.audio;
        const unwrap = unwrapper();
        const peekUnwrap = unwrapper();
        audioPort = await bindSocket((buf) => {
          const pkt = RtpPacket.deSerialize(buf);
          const ext = audioTransceiver?.headerExtensions.find((e) => e.uri === AUDIO_LEVEL_URI);
          const ts = peekUnwrap(pkt.header.timestamp);
          const mediaMs = as.firstTimestamp === null ? 0 : ((ts - as.firstTimestamp) * 1000) / as.clockRate;
          const level = audioLevel(mediaMs);
          if (ext && level !== null) {
            pkt.header.extension = true;
            pkt.header.extensions.push({
              id: ext.id,
              payload: Buffer.from(serializeAudioLevelIndication(Math.max(0, Math.min(127, Math.round(level))))),
            });
          }
          record(as, unwrap, pkt, buf.length);
          audioTrack!.writeRtp(pkt);
        });
      }
      if (closed) return;
      const args = syntheticFfmpegArgs({
        video: opts.video,
        audio: opts.audio,
        durationMs: opts.durationMs,
        videoPort,
        audioPort,
        width,
        height,
        fps,
        gopFrames,
        videoKbps,
      });
      const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      ffmpeg = child;
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 4000) stderr += d.toString();
      });
      child.on('error', () => resolveFinished());
      child.on('exit', () => {
        ffmpeg = undefined;
        if (stderr.trim()) process.stderr.write(`[synthetic sender ffmpeg] ${stderr}\n`);
        resolveFinished();
      });
    })();
    return startPromise;
  }

  async function stopMedia(): Promise<void> {
    const child = ffmpeg;
    if (!child) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }

  return {
    pc,
    stats,
    connected,
    finished,
    start,
    stopMedia,
    async createOffer() {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      return pc.localDescription!.sdp;
    },
    async acceptAnswer(sdp) {
      await pc.setRemoteDescription({ type: 'answer', sdp });
    },
    async addRemoteCandidate(c) {
      await pc.addIceCandidate({
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? undefined,
        sdpMLineIndex: c.sdpMLineIndex ?? undefined,
      });
    },
    onLocalCandidate(cb) {
      for (const c of candidates) cb(c);
      candidateListeners.add(cb);
      return () => candidateListeners.delete(cb);
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopMedia();
      for (const s of subs) s.unSubscribe();
      candidateListeners.clear();
      for (const s of sockets) {
        try {
          s.close();
        } catch {
          // already closed
        }
      }
      sockets.length = 0;
      if (!startPromise) resolveFinished();
      await pc.close();
    },
  };
}
