import type { Logger } from 'pino';
import type { WriteFailureReason } from '../../events/catalog.js';
import type { SegmentMeta } from '../../events/segment.js';
import type { IceConfig } from './ice.js';
import type { SenderClock } from './sender-clock.js';

export type { SegmentMeta } from '../../events/segment.js';
export type { IceConfig } from './ice.js';

export type MediaKind = 'audio' | 'video';

export interface CandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface LocalCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export interface RecorderPeerOptions {
  /** Recordings root; files go to `<root>/<meetingId>/`. */
  root: string;
  meetingId: string;
  recordingId: string;
  participantId: string;
  participantName?: string | null;
  /** Who they are across rejoins, when known: written into every sidecar. */
  userId?: string | null;
  role: 'host' | 'participant';
  /** ms since epoch: every offsetMs is measured from this. */
  recordingStartedAt: number;
  /**
   * First segmentIndex to use, per kind. A replacement peer continues the
   * numbering: pass the number of segments already used (a single number
   * applies to both kinds).
   */
  segmentBase: number | { audio: number; video: number };
  ice: IceConfig;
  logger: Logger;
  /** Wall clock (ms since epoch), injectable. */
  now?: () => number;
  onEvent: (e: RecorderPeerEvent) => void;
  onLocalCandidate: (c: LocalCandidate) => void;
  /** `track-stalled` after this many ms without packets on a started track (default 3 000). */
  stallTimeoutMs?: number;
  /** `stats-sampled` period (default 5 000). */
  statsIntervalMs?: number;
  /** Audio-level window for the levels sidecar (default 200). */
  levelsIntervalMs?: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  /**
   * The sender's clock against the server's (server ms − sender ms). A
   * replacement peer of the same participant passes the one its predecessor
   * used, so its segments stay on the same line; default: a new one, fixed by
   * this peer's first Sender Report.
   */
  senderClock?: SenderClock;
  /** Remux finalized files with `ffmpeg -c copy`: always, only when ffprobe finds a problem (default), or never. */
  remux?: 'always' | 'if-needed' | 'never';
}

export interface RecorderPeer {
  /** Applies the client's offer and returns the answer SDP (candidates included, more may trickle). */
  handleOffer(sdp: string): Promise<string>;
  /** Buffered until the offer is applied. Rejects with InvalidCandidateError on a bad candidate. */
  addRemoteCandidate(c: CandidateInit): Promise<void>;
  /** Stops receiving, finalizes every segment and closes the connection. Safe to call twice (the first call's options hold). */
  close(reason: string, opts?: { skipRemux?: boolean }): Promise<SegmentMeta[]>;
  /** Segment metadata as it stands now (finalized or not). */
  segments(): SegmentMeta[];
  /** Who sends, learned after the peer opened: open segments' sidecars and later ones carry it. */
  identify(who: { name: string | null; userId: string | null }): void;
}

export type PeerConnectionState = 'connecting' | 'connected' | 'disconnected' | 'failed';

export interface TrackRef {
  kind: MediaKind;
  trackId: string;
}

export interface TrackStatsSample extends TrackRef {
  packets: number;
  bytes: number;
  /** Estimated from RTP sequence gaps, after NACK recovery. */
  lost: number;
  /** Bits per second over the last sample period. */
  bitrate: number;
  /** Frames written to the current segment (video: from the first keyframe). */
  framesWritten: number;
}

/**
 * What a recorder peer reports. These are callbacks of one media object, not
 * domain events: their names are not dot-case, so they cannot be taken for the
 * catalog's (events/catalog.ts), which src/effects/recorder.ts maps them onto.
 * Rates: connection and lifecycle events once each; stats once per
 * statsIntervalMs for the whole peer; never per packet.
 * `at` is the injected clock's ms since epoch.
 */
export type RecorderPeerEvent =
  | { type: 'connection-changed'; at: number; state: PeerConnectionState }
  | (TrackRef & { type: 'track-received'; at: number; codec: string; mid: string | null; ssrc: number | null })
  | (TrackRef & { type: 'track-first-packet'; at: number; offsetMs: number })
  | (TrackRef & {
      type: 'segment-started';
      at: number;
      file: string;
      segmentIndex: number;
      offsetMs: number;
      codec: string;
    })
  | { type: 'stats-sampled'; at: number; tracks: TrackStatsSample[] }
  | (TrackRef & { type: 'track-stalled'; at: number; lastPacketAt: number })
  | (TrackRef & { type: 'track-resumed'; at: number; stalledMs: number })
  | (TrackRef & { type: 'segment-finalized'; at: number; segment: SegmentMeta; mediaWritten: boolean })
  | (TrackRef & {
      type: 'segment-failed';
      at: number;
      file: string;
      error: string;
      /** disk-full (ENOSPC, EDQUOT) or io-error (EIO): the file keeps what was written and takes no more; null for other failures. */
      reason: WriteFailureReason | null;
    })
  | { type: 'closed'; at: number; reason: string; segments: number };

export type RecorderPeerEventType = RecorderPeerEvent['type'];
