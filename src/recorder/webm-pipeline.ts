import type { RtpPacket } from 'werift';
import {
  DepacketizeBase,
  WebmBase,
  type DepacketizerOutput,
  type WebmOutput,
  type WebmTrack,
} from 'werift/nonstandard';
import type { RecordedCodec } from './codecs.js';
import { videoFrameSize } from './frame-size.js';
import { createReorderBuffer } from './reorder-buffer.js';

/**
 * RTP → WebM for one track, assembled from werift/nonstandard's own stages
 * (the ones its MediaRecorder wires), run synchronously, with three changes
 * the field notes call for:
 * - time: each frame's timestamp is its RTP timestamp in whole ms from the
 *   track's first packet (rounded, never accumulated), so files do not drift;
 * - video waits for a keyframe, and after a sequence gap drops frames until the
 *   next keyframe (a freeze instead of smeared artifacts), asking for one;
 * - empty (padding) packets are removed and the sequence renumbered so the
 *   depacketizer does not mistake them for loss.
 * No lip-sync stage: one track per file; alignment comes from offsetMs.
 */
export interface WebmPipeline {
  push(rtp: RtpPacket): void;
  /** Flushes and ends the stream: werift emits cues and the duration to `onOutput`. */
  end(): void;
  /** Frames handed to the muxer. 0 for video until the first keyframe. */
  readonly framesWritten: number;
  /** Media ms (from the first pushed packet) of the first / last frame written. */
  readonly firstFrameMs: number | null;
  readonly lastFrameMs: number | null;
  /** Duration of the last frame, estimated as the latest regular frame step (0 with one frame). */
  readonly lastFrameDurationMs: number;
  /** Sequence gaps the jitter buffer gave up on. */
  readonly gaps: number;
  readonly framesDroppedWaitingForKeyframe: number;
}

export interface WebmPipelineOptions {
  kind: 'audio' | 'video';
  codec: RecordedCodec;
  /** RTP timestamp → media ms; shared with the segment so levels and offsets agree. */
  mediaMs: (rtpTimestamp: number) => number;
  onOutput: (o: WebmOutput) => void;
  /** Called when video needs a keyframe (after loss, and for every frame dropped while waiting); the caller rate-limits PLIs. */
  onKeyframeNeeded: () => void;
  /** Called once when the first frame reaches the muxer. */
  onFirstFrame?: (mediaMs: number) => void;
  /** How long (RTP time) the jitter buffer waits for a missing packet; NACK retransmissions must beat it. */
  jitterLatencyMs?: number;
}

const CONTAINER_CODEC = {
  opus: 'OPUS',
  vp8: 'VP8',
  vp9: 'VP9',
  h264: 'MPEG4/ISO/AVC',
} as const;

const DEPACKETIZER_CODEC = {
  opus: 'OPUS',
  vp8: 'VP8',
  vp9: 'VP9',
  h264: 'MPEG4/ISO/AVC',
} as const;

const U16 = 0x1_0000;
/** A step longer than this is a pause, not a frame duration. */
const MAX_FRAME_STEP_MS = 200;

/** Our own WebmBase so output is synchronous (WebmCallback queues it through a promise chain). */
class WebmMuxer extends WebmBase {
  begin(): void {
    this.start();
  }
}

/**
 * Drops empty RTP packets (padding) from an in-order stream and renumbers the
 * rest so only real loss leaves a sequence gap. Returns the packet to forward
 * (or null) and how many packets were really missing before it.
 */
export function createPaddingFilter(): (rtp: RtpPacket) => { packet: RtpPacket | null; lost: number } {
  let lastIn: number | null = null;
  let lastEmittedIn: number | null = null;
  let lastOut = 0;
  let skipped = 0;
  return (rtp) => {
    const seq = rtp.header.sequenceNumber;
    const step = lastIn === null ? 1 : (seq - lastIn + U16) % U16;
    lastIn = seq;
    const lost = Math.max(0, step - 1);
    if (rtp.payload.length === 0) {
      skipped++;
      return { packet: null, lost };
    }
    if (lastEmittedIn === null) {
      lastOut = seq;
    } else {
      const outStep = (seq - lastEmittedIn + U16) % U16;
      lastOut = (lastOut + Math.max(1, outStep - skipped)) % U16;
    }
    lastEmittedIn = seq;
    skipped = 0;
    rtp.header.sequenceNumber = lastOut;
    return { packet: rtp, lost };
  };
}

export function createWebmPipeline(o: WebmPipelineOptions): WebmPipeline {
  const isVideo = o.kind === 'video';
  // Video only: NACK retransmissions arrive out of order. (werift's JitterBufferBase is not used: see reorder-buffer.ts.)
  const jitter = isVideo ? createReorderBuffer({ clockRate: 90000, latencyMs: o.jitterLatencyMs ?? 300 }) : null;
  const padding = isVideo ? createPaddingFilter() : null;
  const depacketizer = new DepacketizeBase(DEPACKETIZER_CODEC[o.codec], {
    ...(isVideo ? { isFinalPacketInSequence: (h) => h.marker } : {}),
  });

  let muxer: WebmMuxer | null = null;
  let framesWritten = 0;
  let firstFrameMs: number | null = null;
  let lastFrameMs: number | null = null;
  let frameStepMs = 0;
  let gaps = 0;
  let dropped = 0;
  let waitingForKeyframe = isVideo;
  let ended = false;

  const openMuxer = (data: Buffer) => {
    const size = isVideo ? videoFrameSize(o.codec, data) : null;
    const track: WebmTrack = isVideo
      ? {
          kind: 'video',
          codec: CONTAINER_CODEC[o.codec],
          clockRate: 90000,
          trackNumber: 1,
          width: size?.width ?? 640,
          height: size?.height ?? 360,
        }
      : { kind: 'audio', codec: 'OPUS', clockRate: 48000, trackNumber: 1 };
    muxer = new WebmMuxer([track], o.onOutput, { duration: 24 * 60 * 60 * 1000 });
    muxer.begin();
    return muxer;
  };

  const toMuxer = (out: DepacketizerOutput) => {
    if (out.eol) {
      if (muxer) {
        if (isVideo) muxer.processVideoInput({ eol: true });
        else muxer.processAudioInput({ eol: true });
      }
      return;
    }
    const frame = out.frame;
    if (!frame || frame.data.length === 0) return;
    if (isVideo && waitingForKeyframe) {
      if (!frame.isKeyframe) {
        dropped++;
        o.onKeyframeNeeded();
        return;
      }
      waitingForKeyframe = false;
    }
    const m = muxer ?? openMuxer(frame.data);
    const input = { frame: { data: frame.data, isKeyframe: isVideo ? frame.isKeyframe : true, time: frame.time } };
    if (isVideo) m.processVideoInput(input);
    else m.processAudioInput(input);
    framesWritten++;
    if (firstFrameMs === null) {
      firstFrameMs = frame.time;
      o.onFirstFrame?.(frame.time);
    }
    if (lastFrameMs !== null && frame.time > lastFrameMs) {
      const step = frame.time - lastFrameMs;
      if (step <= MAX_FRAME_STEP_MS) frameStepMs = step;
    }
    lastFrameMs = lastFrameMs === null ? frame.time : Math.max(lastFrameMs, frame.time);
  };

  const depacketize = (rtp: RtpPacket) => {
    for (const out of depacketizer.processInput({ rtp, time: o.mediaMs(rtp.header.timestamp) })) toMuxer(out);
  };

  // Forward strictly increasing sequence numbers only (a guard kept from werift's
  // jitter buffer, which could emit a packet twice; the reorder buffer does not).
  let newestSeq: number | null = null;
  const afterJitter = (rtp: RtpPacket) => {
    if (!rtp.payload) return;
    const seq = rtp.header.sequenceNumber;
    if (newestSeq !== null) {
      const d = (seq - newestSeq + U16) % U16;
      if (d === 0 || d >= U16 / 2) return;
    }
    newestSeq = seq;
    const { packet, lost } = padding!(rtp);
    if (lost > 0) {
      gaps++;
      if (!waitingForKeyframe) {
        waitingForKeyframe = true;
        o.onKeyframeNeeded();
      }
    }
    if (packet) depacketize(packet);
  };

  return {
    push(rtp) {
      if (ended) return;
      const copy = rtp.clone();
      if (!jitter) {
        if (copy.payload.length > 0) depacketize(copy);
        return;
      }
      for (const out of jitter.push(copy)) afterJitter(out);
    },
    end() {
      if (ended) return;
      ended = true;
      if (jitter) for (const out of jitter.flush()) afterJitter(out);
      for (const out of depacketizer.processInput({ eol: true })) toMuxer(out);
    },
    get framesWritten() {
      return framesWritten;
    },
    get firstFrameMs() {
      return firstFrameMs;
    },
    get lastFrameMs() {
      return lastFrameMs;
    },
    get lastFrameDurationMs() {
      return frameStepMs;
    },
    get gaps() {
      return gaps;
    },
    get framesDroppedWaitingForKeyframe() {
      return dropped;
    },
  };
}
