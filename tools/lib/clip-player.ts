/**
 * Plays an in-memory clip in real time as ONE RTP stream per kind and fans
 * every packet out to any number of werift send tracks (track.writeRtp). The
 * werift sender clones each packet and rewrites SSRC, payload type and
 * sequence numbers per peer, so one packet can feed every track.
 *
 * The clip loops seamlessly: sequence numbers, RTP timestamps and VP8 picture
 * ids keep counting; the clip starts with a keyframe and has a short GOP, so
 * a track that joins late is decodable within one GOP.
 */
import { RtpHeader, RtpPacket, serializeAudioLevelIndication, type MediaStreamTrack } from 'werift';
import { packetizeVp8, type Clip } from './media-clip.js';

export interface ClipPlayerOptions {
  /** RFC 6464 level (0 loudest … 127 silence) per audio packet from media time; null = no extension. Default 1 s at 20, 1 s at 90. */
  audioLevel?: (elapsedMs: number) => number | null;
  /** Scheduler period. */
  tickMs?: number;
  maxVideoPayload?: number;
}

export interface PlayerStats {
  videoFrames: number;
  videoPackets: number;
  audioPackets: number;
  /** writeRtp calls (packets × tracks). */
  writes: number;
  writeErrors: number;
  /** Video packets withheld on purpose (lossRate): never given to werift, so NACK cannot repair them. */
  droppedOnPurpose: number;
  /** Largest lateness of a tick behind schedule (event-loop stalls on the generator). */
  maxLateMs: number;
}

interface AudioSink {
  track: MediaStreamTrack;
  /** Negotiated id of the audio-level extension on this peer, or null. */
  levelExtId: number | null;
}

const rand32 = () => Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
const rand16 = () => Math.floor(Math.random() * 0x1_0000);

export class ClipPlayer {
  readonly stats: PlayerStats = { videoFrames: 0, videoPackets: 0, audioPackets: 0, writes: 0, writeErrors: 0, droppedOnPurpose: 0, maxLateMs: 0 };
  private readonly videoSinks = new Map<MediaStreamTrack, number>();
  private readonly audioSinks = new Set<AudioSink>();
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;
  private nextVideo = 0;
  private nextAudio = 0;
  private videoSeq = rand16();
  private audioSeq = rand16();
  private readonly videoTs0 = rand32();
  private readonly audioTs0 = rand32();
  private readonly pictureId0 = rand16() & 0x7fff;
  private readonly frameMs: number;
  private readonly audioLevel: (ms: number) => number | null;

  constructor(
    private readonly clip: Clip,
    private readonly opts: ClipPlayerOptions = {},
  ) {
    this.frameMs = 1000 / clip.fps;
    this.audioLevel = opts.audioLevel ?? ((ms) => (Math.floor(ms / 1000) % 2 === 0 ? 20 : 90));
  }

  /** lossRate: fraction of this track's video packets to withhold (unrepairable loss at the recorder). */
  addVideo(track: MediaStreamTrack, lossRate = 0): () => void {
    this.videoSinks.set(track, lossRate);
    return () => this.videoSinks.delete(track);
  }

  addAudio(track: MediaStreamTrack, levelExtId: number | null): () => void {
    const sink = { track, levelExtId };
    this.audioSinks.add(sink);
    return () => this.audioSinks.delete(sink);
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    this.t0 = performance.now() - Math.max(this.nextVideo * this.frameMs, this.nextAudio * 20);
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 5);
  }

  /** Stops emitting (tracks go quiet; nothing is closed). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const elapsed = performance.now() - this.t0;
    const dueVideo = this.nextVideo * this.frameMs;
    const dueAudio = this.nextAudio * 20;
    const late = elapsed - Math.min(dueVideo, dueAudio);
    if (late > this.stats.maxLateMs) this.stats.maxLateMs = late;
    while (this.nextVideo * this.frameMs <= elapsed) this.emitVideo(this.nextVideo++);
    while (this.nextAudio * 20 <= elapsed) this.emitAudio(this.nextAudio++);
  }

  private write(track: MediaStreamTrack, pkt: RtpPacket): void {
    try {
      track.writeRtp(pkt);
      this.stats.writes++;
    } catch {
      this.stats.writeErrors++;
    }
  }

  private emitVideo(n: number): void {
    const frame = this.clip.video[n % this.clip.video.length]!;
    const payloads = packetizeVp8(frame.data, this.pictureId0 + n, this.opts.maxVideoPayload ?? 1100);
    const timestamp = (this.videoTs0 + n * Math.round(90000 / this.clip.fps)) >>> 0;
    this.stats.videoFrames++;
    payloads.forEach((payload, i) => {
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: this.videoSeq,
        timestamp,
        marker: i === payloads.length - 1,
      });
      this.videoSeq = (this.videoSeq + 1) & 0xffff;
      this.stats.videoPackets++;
      const pkt = new RtpPacket(header, payload);
      for (const [t, loss] of this.videoSinks) {
        if (loss > 0 && Math.random() < loss) this.stats.droppedOnPurpose++;
        else this.write(t, pkt);
      }
    });
  }

  private emitAudio(n: number): void {
    const payload = this.clip.audio[n % this.clip.audio.length]!;
    const level = this.audioLevel(n * 20);
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: this.audioSeq,
      timestamp: (this.audioTs0 + n * 960) >>> 0,
      marker: n === 0,
    });
    this.audioSeq = (this.audioSeq + 1) & 0xffff;
    this.stats.audioPackets++;
    const pkt = new RtpPacket(header, payload);
    const levelPayload = level === null ? null : Buffer.from(serializeAudioLevelIndication(Math.max(0, Math.min(127, Math.round(level)))));
    let currentExt: number | null | undefined;
    for (const s of this.audioSinks) {
      const ext = levelPayload ? s.levelExtId : null;
      if (ext !== currentExt) {
        // a fresh array each time: werift's clone() copies the header shallowly
        header.extension = ext !== null;
        header.extensions = ext !== null ? [{ id: ext, payload: levelPayload! }] : [];
        currentExt = ext;
      }
      this.write(s.track, pkt);
    }
  }
}
