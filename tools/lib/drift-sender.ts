/**
 * A generated werift sender whose sound card runs fast, recorded by a real
 * RecorderPeer and composed: the lip-sync drift check (tools/bench-drift.ts and
 * test/integration/lip-sync-drift.test.ts).
 *
 * The sender captures a white flash and a 1 kHz beep at the same instants of
 * its wall clock, every `flashEverySec`. Its video clock is exact; its audio
 * clock ticks `audioPpm` fast, so the beep at wall time T sits at audio media
 * time T·(1 + ppm), as a real sound card's samples do. It sends its own RTCP
 * Sender Reports (werift's carry whole-second NTP times) that tie both RTP
 * clocks to its wall clock, as a browser's libwebrtc does: video by capture
 * time, audio by the time a frame is sent, one frame (20 ms) after its first
 * sample was captured (the recorder takes that frame off); `senderReports: false` sends
 * none (the recorder then places by arrival and the drift shows).
 *
 * `speed` > 1 feeds the media faster than real time (the sender's clock runs
 * that much faster too): a 30-minute recording in a few minutes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtpHeader,
  RtpPacket,
  useNACK,
  usePLI,
  useSdesMid,
  type RTCRtpSender,
} from 'werift';
import type { SegmentMeta } from '../../events/segment.js';
import { runProcess } from '../../src/process/run.js';
import { createRecorderPeer } from '../../src/recorder/recorder-peer.js';
import { unixMsToNtp } from '../../src/recorder/sender-clock.js';
import { packetizeVp8, parseIvf, parseOggOpus } from './media-clip.js';

export interface DriftRunOptions {
  root: string;
  /** Media length on the sender's wall clock. */
  seconds: number;
  /** How fast the audio clock ticks against the sender's wall clock (100 = 100 ppm fast). */
  audioPpm: number;
  /** A whole number of seconds (the video loops one period of 30-frame GOPs). */
  flashEverySec: number;
  /** Feed speed (1 = real time). */
  speed?: number;
  senderReports?: boolean;
  ffmpegPath?: string;
  logger: Logger;
}

export interface DriftRun {
  meetingId: string;
  recordingId: string;
  /** Recording length on the server's clock for the composer (the sender's media, placed). */
  durationMs: number;
  segments: SegmentMeta[];
  sent: { videoFrames: number; audioPackets: number; reports: number };
}

const FPS = 30;
const W = 160;
const H = 120;

async function ffmpeg(bin: string, args: string[]) {
  const r = await runProcess(bin, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { timeoutMs: 900_000 });
  if (r.exitCode !== 0) throw new Error(`ffmpeg failed: ${r.stderr.join(' ').slice(0, 400)}`);
}

/** Encodes the flashes (VP8, exact clock) and the beeps (Opus, `ppm` fast) once. */
async function encode(o: DriftRunOptions) {
  const bin = o.ffmpegPath ?? 'ffmpeg';
  const dir = await mkdtemp(path.join(tmpdir(), 'drift-'));
  try {
    const P = o.flashEverySec;
    const k = 1 + o.audioPpm / 1e6;
    const v = path.join(dir, 'v.ivf');
    const a = path.join(dir, 'a.ogg');
    await Promise.all([
      ffmpeg(bin, [
        // One flash period, looped by the sender (a whole number of GOPs, starting with a keyframe).
        '-f', 'lavfi', '-i', `color=c=black:s=${W}x${H}:r=${FPS}:d=${P},drawbox=x=0:y=0:w=${W}:h=${H}:color=white:t=fill:enable='lt(mod(n\\,${P * FPS})\\,3)'`,
        '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0', '-b:v', '200k',
        '-g', String(FPS), '-keyint_min', String(FPS), '-f', 'ivf', v,
      ]),
      // Sample n is at media time n/48000 and wall time n/(48000·k): the beep starts at wall time j·P.
      ffmpeg(bin, [
        '-f', 'lavfi', '-i', `aevalsrc='0.5*sin(2*PI*1000*t)*lt(mod(t/${k}\\,${P})\\,0.1)':s=48000:d=${(o.seconds * k).toFixed(6)}`,
        '-c:a', 'libopus', '-b:a', '48k', '-ar', '48000', '-ac', '1', '-frame_duration', '20', '-application', 'lowdelay', a,
      ]),
    ]);
    return { video: parseIvf(await readFile(v)).frames, videoFrames: Math.round(o.seconds * FPS), audio: parseOggOpus(await readFile(a)) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rand32 = () => Math.floor(Math.random() * 0x1_0000_0000) >>> 0;

export async function runDriftRecording(o: DriftRunOptions): Promise<DriftRun> {
  const speed = o.speed ?? 1;
  const k = 1 + o.audioPpm / 1e6;
  const clip = await encode(o);
  const meetingId = 'drift';
  const recordingId = `r${Date.now()}`;

  const pc = new RTCPeerConnection({
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      video: [
        new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [useNACK(), usePLI()] }),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 }),
      ],
    },
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    bundlePolicy: 'max-bundle',
  });
  const videoTrack = new MediaStreamTrack({ kind: 'video', id: 'drift-video' });
  const audioTrack = new MediaStreamTrack({ kind: 'audio', id: 'drift-audio' });
  const vSender = pc.addTransceiver(videoTrack, { direction: 'sendonly' }).sender;
  const aSender = pc.addTransceiver(audioTrack, { direction: 'sendonly' }).sender;
  // werift's own reports carry whole-second NTP times; this sender sends correct ones instead.
  for (const s of [vSender, aSender]) (s as unknown as { runRtcp: () => Promise<void> }).runRtcp = async () => undefined;

  const recordingStartedAt = Date.now();
  const peer = createRecorderPeer({
    root: o.root,
    meetingId,
    recordingId,
    participantId: 'drifter',
    participantName: 'Drifter',
    role: 'host',
    recordingStartedAt,
    segmentBase: 0,
    ice: { iceServers: [], loopbackOnly: true },
    logger: o.logger,
    ffmpegPath: o.ffmpegPath,
    onEvent: () => undefined,
    onLocalCandidate: (c) => void pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined }).catch(() => undefined),
  });
  pc.onIceCandidate.subscribe((c) => {
    if (c?.candidate) void peer.addRemoteCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }).catch(() => undefined);
  });
  const connected = new Promise<void>((resolve, reject) => {
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') resolve();
      if (s === 'failed') reject(new Error('drift sender: connection failed'));
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  await pc.setRemoteDescription({ type: 'answer', sdp: await peer.handleOffer(pc.localDescription!.sdp) });
  await connected;

  // The sender's wall clock: starts now, runs `speed` times as fast as real time.
  const t0 = performance.now();
  const wall0 = Date.now();
  const senderMs = () => (performance.now() - t0) * speed;
  const vTs0 = rand32();
  const aTs0 = rand32();
  let vSeq = 0;
  let aSeq = 0;
  let nVideo = 0;
  let nAudio = 0;
  let reports = 0;
  let nextReportMs = 500;
  const counts = new Map<RTCRtpSender, { packets: number; octets: number }>([
    [vSender, { packets: 0, octets: 0 }],
    [aSender, { packets: 0, octets: 0 }],
  ]);
  const write = (track: MediaStreamTrack, sender: RTCRtpSender, pkt: RtpPacket) => {
    track.writeRtp(pkt);
    const c = counts.get(sender)!;
    c.packets++;
    c.octets += pkt.payload.length;
  };
  const sendReport = (sender: RTCRtpSender, atMs: number, rtp: number) => {
    const c = counts.get(sender)!;
    const sr = new RtcpSrPacket({
      ssrc: sender.ssrc,
      senderInfo: new RtcpSenderInfo({ ntpTimestamp: unixMsToNtp(wall0 + atMs), rtpTimestamp: rtp >>> 0, packetCount: c.packets, octetCount: c.octets }),
    });
    void sender.dtlsTransport.sendRtcp([sr]).catch(() => undefined);
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = senderMs();
      while (nVideo < clip.videoFrames && (nVideo * 1000) / FPS <= now) {
        const frame = clip.video[nVideo % clip.video.length]!;
        const ts = (vTs0 + nVideo * (90000 / FPS)) >>> 0;
        const payloads = packetizeVp8(frame.data, nVideo & 0x7fff);
        payloads.forEach((p, i) =>
          write(videoTrack, vSender, new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: vSeq++ & 0xffff, timestamp: ts, marker: i === payloads.length - 1 }), p)),
        );
        nVideo++;
      }
      // Audio packet n holds media 20·n ms, captured from wall time 20·n / k; it goes out once its 20 ms are captured.
      while (nAudio < clip.audio.length && ((nAudio + 1) * 20) / k <= now) {
        const ts = (aTs0 + nAudio * 960) >>> 0;
        write(audioTrack, aSender, new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: aSeq++ & 0xffff, timestamp: ts, marker: nAudio === 0 }), clip.audio[nAudio]!));
        nAudio++;
      }
      if (o.senderReports !== false && now >= nextReportMs && nVideo > 0 && nAudio > 0) {
        sendReport(vSender, now, vTs0 + Math.round((now * 90000) / 1000));
        // As libwebrtc does: an audio report ties the frame being sent now (captured one frame ago) to now.
        sendReport(aSender, now, aTs0 + Math.round(((now * k - 20) * 48000) / 1000));
        reports++;
        nextReportMs += 1000;
      }
      if (nVideo >= clip.videoFrames && nAudio >= clip.audio.length) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  // Everything sent has reached its segment (loopback: at most a few hundred ms).
  const sentPackets = counts.get(vSender)!.packets + counts.get(aSender)!.packets;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && peer.segments().reduce((n, m) => n + m.packets, 0) < sentPackets) await new Promise((r) => setTimeout(r, 20));
  const segments = await peer.close('drift run done');
  await pc.close();
  return {
    meetingId,
    recordingId,
    durationMs: Math.ceil(Math.max(...segments.map((s) => s.offsetMs + (s.durationMs ?? 0) * (s.sync?.source === 'sender-reports' ? s.sync.scale : 1)))),
    segments,
    sent: { videoFrames: nVideo, audioPackets: nAudio, reports },
  };
}
