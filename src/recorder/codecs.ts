import {
  RTCRtpCodecParameters,
  useAudioLevelIndication,
  useNACK,
  usePLI,
  useSdesMid,
  type RTCPeerConnectionConfig,
} from 'werift';

export type RecordedCodec = 'opus' | 'vp8' | 'vp9' | 'h264';

const videoFeedback = () => [useNACK(), usePLI()];

/**
 * What a recorder peer accepts (media-notes, werift sections):
 * - every video codec is followed by its RTX codec: werift assigns the RTX
 *   payload type `apt` = the preceding codec's. Without RTX, Chrome pads on the
 *   media SSRC and werift's depacketizers drop whole frames.
 * - NACK + PLI only: no transport-wide-cc (Chrome throttles itself to ~200 kbps
 *   against werift) and no REMB (werift never sends one).
 * - RFC 6464 audio level on audio, for speaker activity without decoding.
 * The answer lists codecs in this order, so a client offering several sends VP8.
 */
export function recorderMediaConfig(): Pick<RTCPeerConnectionConfig, 'codecs' | 'headerExtensions'> {
  const rtx = () => new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 });
  return {
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48000,
          channels: 2,
          parameters: 'minptime=10;useinbandfec=1',
        }),
      ],
      video: [
        new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: videoFeedback() }),
        rtx(),
        new RTCRtpCodecParameters({ mimeType: 'video/VP9', clockRate: 90000, rtcpFeedback: videoFeedback() }),
        rtx(),
        new RTCRtpCodecParameters({
          mimeType: 'video/H264',
          clockRate: 90000,
          rtcpFeedback: videoFeedback(),
          parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
        }),
        rtx(),
      ],
    },
    headerExtensions: {
      audio: [useSdesMid(), useAudioLevelIndication()],
      video: [useSdesMid()],
    },
  };
}

/** Lower-case codec name as written into SegmentMeta, or null if we do not record it. */
export function recordedCodecOf(mimeType: string): RecordedCodec | null {
  const name = mimeType.split('/')[1]?.toLowerCase();
  switch (name) {
    case 'opus':
    case 'vp8':
    case 'vp9':
    case 'h264':
      return name;
    default:
      return null;
  }
}
