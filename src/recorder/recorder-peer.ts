import { mkdir } from 'node:fs/promises';
import {
  RTCPeerConnection,
  RtcpSrPacket,
  type MediaStreamTrack,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';
import { MAX_SDP_LENGTH } from '../../events/catalog.js';
import type { SegmentMeta } from '../../events/segment.js';
import { recordedCodecOf, recorderMediaConfig, type RecordedCodec } from './codecs.js';
import {
  InvalidCandidateError,
  InvalidOfferError,
  OfferFailedError,
  PeerStateError,
  errorMessage,
  writeFailureOf,
} from './errors.js';
import { toWeriftIceOptions } from './ice.js';
import { safeJoin, sanitizeSegment } from './paths.js';
import { createReceiveCounter } from './rtp-stats.js';
import { createSenderClock } from './sender-clock.js';
import { openSegmentWriter, type SegmentWriter } from './segment-writer.js';
import type {
  CandidateInit,
  MediaKind,
  RecorderPeer,
  RecorderPeerEvent,
  RecorderPeerOptions,
  TrackStatsSample,
} from './types.js';

const MAX_PENDING_CANDIDATES = 100;
const PLI_MIN_INTERVAL_MS = 500;
const TICK_MS = 500;
const CANDIDATE_RE = /^candidate:\S+ \d+ (udp|tcp) \d+ \S+ \d+ typ (host|srflx|prflx|relay)(\s.*)?$/i;

interface TrackState {
  track: MediaStreamTrack;
  transceiver: RTCRtpTransceiver;
  kind: MediaKind;
  trackId: string;
  counter: ReturnType<typeof createReceiveCounter>;
  ssrc: number | null;
  firstPacketAt: number | null;
  lastPacketAt: number | null;
  stalledSince: number | null;
  /** Payload type and codec of the segment; packets of another payload type are not recorded. */
  payloadType: number | null;
  codec: RecordedCodec | null;
  unrecordable: boolean;
  warnedPayloadType: boolean;
  segment: SegmentWriter | null;
  lastPliAt: number;
  bytesAtLastSample: number;
}

/**
 * One answering, receive-only werift peer for one (recording, participant):
 * every received track becomes one segment file pair under
 * `<root>/<meetingId>/`. Reports through callbacks only; the caller decides
 * what they mean (events, retries, replacing the peer on a new offer).
 */
export function createRecorderPeer(opts: RecorderPeerOptions): RecorderPeer {
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ module: 'recorder/recorder-peer' });
  const dir = safeJoin(opts.root, opts.meetingId);
  const base = typeof opts.segmentBase === 'number' ? { audio: opts.segmentBase, video: opts.segmentBase } : { ...opts.segmentBase };
  const used = { audio: 0, video: 0 };
  const stallTimeoutMs = opts.stallTimeoutMs ?? 3_000;
  const statsIntervalMs = opts.statsIntervalMs ?? 5_000;
  // Mutable: a late identify() names the segments that start after it too.
  const identity: { meetingId: string; recordingId: string; participantId: string; participantName: string | null; userId?: string; role: 'host' | 'participant' } = {
    meetingId: sanitizeSegment(opts.meetingId),
    recordingId: sanitizeSegment(opts.recordingId),
    participantId: sanitizeSegment(opts.participantId),
    participantName: opts.participantName == null ? null : opts.participantName.slice(0, 200),
    ...(opts.userId ? { userId: opts.userId.slice(0, 200) } : {}),
    role: opts.role,
  };

  // One browser, one clock: all tracks of this peer are put on the server's clock with one offset.
  const senderClock = opts.senderClock ?? createSenderClock();
  const pc = new RTCPeerConnection({ ...recorderMediaConfig(), ...toWeriftIceOptions(opts.ice) });
  const tracks = new Map<MediaStreamTrack, TrackState>();
  const subscriptions: { unSubscribe: () => void }[] = [];
  const pendingCandidates: CandidateInit[] = [];
  const usedTrackIds = new Set<string>();
  let offerState: 'none' | 'answering' | 'answered' | 'failed' = 'none';
  let closing: Promise<SegmentMeta[]> | null = null;
  let connectedAt: number | null = null;
  let lastStatsAt = now();
  let ticker: NodeJS.Timeout | null = null;

  const emit = (e: RecorderPeerEvent) => {
    try {
      opts.onEvent(e);
    } catch (err) {
      log.error({ err, event: e.type }, 'onEvent handler threw');
    }
  };

  const requestKeyframe = (s: TrackState, force = false) => {
    if (s.kind !== 'video' || closing) return;
    const ssrc = s.ssrc ?? s.track.ssrc ?? null;
    const t = now();
    if (ssrc === null || (!force && t - s.lastPliAt < PLI_MIN_INTERVAL_MS)) return;
    s.lastPliAt = t;
    s.transceiver.receiver.sendRtcpPLI(ssrc).catch((err) => log.debug({ err }, 'PLI failed'));
  };

  const startSegment = (s: TrackState, rtp: RtpPacket, at: number) => {
    const params = s.transceiver.codecs.find((c) => c.payloadType === rtp.header.payloadType);
    const codec = params ? recordedCodecOf(params.mimeType) : null;
    if (!codec) {
      s.unrecordable = true;
      log.warn({ trackId: s.trackId, payloadType: rtp.header.payloadType, mimeType: params?.mimeType }, 'track codec not recordable');
      return;
    }
    s.codec = codec;
    s.payloadType = rtp.header.payloadType;
    const segmentIndex = base[s.kind] + used[s.kind]++;
    s.segment = openSegmentWriter({
      dir,
      identity,
      kind: s.kind,
      trackId: s.trackId,
      codec,
      segmentIndex,
      recordingStartedAt: opts.recordingStartedAt,
      firstPacketAt: at,
      senderClock,
      levelsIntervalMs: opts.levelsIntervalMs ?? 200,
      ffmpegPath: opts.ffmpegPath ?? 'ffmpeg',
      ffprobePath: opts.ffprobePath ?? 'ffprobe',
      remux: opts.remux ?? 'if-needed',
      logger: log.child({ kind: s.kind, trackId: s.trackId }),
      now,
      onKeyframeNeeded: () => requestKeyframe(s),
      onError: (e) =>
        emit({
          type: 'segment-failed',
          at: now(),
          kind: s.kind,
          trackId: s.trackId,
          file: s.segment?.file ?? '',
          error: e.message,
          reason: writeFailureOf(e),
        }),
    });
    const meta = s.segment.meta();
    emit({
      type: 'segment-started',
      at,
      kind: s.kind,
      trackId: s.trackId,
      file: meta.file,
      segmentIndex,
      offsetMs: meta.offsetMs,
      codec,
    });
    requestKeyframe(s, true);
  };

  const onPacket = (s: TrackState, rtp: RtpPacket, extensions: Record<string, unknown> | undefined) => {
    if (closing) return;
    const at = now();
    s.counter.add(rtp.header.sequenceNumber, rtp.payload.length);
    s.ssrc = rtp.header.ssrc;
    if (s.firstPacketAt === null) {
      s.firstPacketAt = at;
      emit({
        type: 'track-first-packet',
        at,
        kind: s.kind,
        trackId: s.trackId,
        offsetMs: Math.max(0, at - opts.recordingStartedAt),
      });
    }
    if (s.stalledSince !== null) {
      emit({ type: 'track-resumed', at, kind: s.kind, trackId: s.trackId, stalledMs: at - (s.lastPacketAt ?? at) });
      s.stalledSince = null;
    }
    s.lastPacketAt = at;
    if (!s.segment && !s.unrecordable) startSegment(s, rtp, at);
    if (s.segment && rtp.header.payloadType === s.payloadType) {
      try {
        s.segment.push(rtp, extensions);
      } catch (err) {
        log.error({ err, trackId: s.trackId }, 'recording pipeline threw; packet skipped');
      }
    } else if (s.segment && !s.warnedPayloadType) {
      // A codec switch without renegotiation: one file holds one codec, so these packets are not recorded.
      s.warnedPayloadType = true;
      log.warn({ trackId: s.trackId, expected: s.payloadType, got: rtp.header.payloadType }, 'payload type changed mid-track; not recorded');
    }
  };

  const uniqueTrackId = (raw: string | undefined, mid: string | null): string => {
    let id = sanitizeSegment(raw && raw.length > 0 ? raw : `mid${mid ?? tracks.size}`, 64);
    if (usedTrackIds.has(id)) id = sanitizeSegment(`${id.slice(0, 56)}-mid${mid ?? tracks.size}`, 64);
    usedTrackIds.add(id);
    return id;
  };

  subscriptions.push(
    pc.onTrack.subscribe((track) => {
      if (tracks.has(track) || closing) return;
      const transceiver = pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
      if (!transceiver || (track.kind !== 'audio' && track.kind !== 'video')) return;
      const s: TrackState = {
        track,
        transceiver,
        kind: track.kind,
        trackId: uniqueTrackId(track.id, transceiver.mid),
        counter: createReceiveCounter(),
        ssrc: track.ssrc ?? null,
        firstPacketAt: null,
        lastPacketAt: null,
        stalledSince: null,
        payloadType: null,
        codec: null,
        unrecordable: false,
        warnedPayloadType: false,
        segment: null,
        lastPliAt: 0,
        bytesAtLastSample: 0,
      };
      tracks.set(track, s);
      subscriptions.push(
        track.onReceiveRtp.subscribe((rtp, ext) => onPacket(s, rtp, ext as Record<string, unknown>)),
        track.onReceiveRtcp.subscribe((packet) => {
          if (closing || !(packet instanceof RtcpSrPacket) || packet.ssrc !== s.ssrc || !s.segment) return;
          try {
            s.segment.addSenderReport(BigInt(packet.senderInfo.ntpTimestamp), packet.senderInfo.rtpTimestamp);
          } catch (err) {
            log.error({ err, trackId: s.trackId }, 'sender report handling threw; report skipped');
          }
        }),
      );
    }),
    pc.onIceCandidate.subscribe((c) => {
      if (!c?.candidate || closing) return;
      try {
        opts.onLocalCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
      } catch (err) {
        log.error({ err }, 'onLocalCandidate handler threw');
      }
    }),
    pc.connectionStateChange.subscribe((state) => {
      if (closing || state === 'new' || state === 'closed') return;
      const at = now();
      if (state === 'connected' && connectedAt === null) {
        connectedAt = at;
        for (const s of tracks.values()) requestKeyframe(s, true);
      }
      log.info({ state }, 'connection state');
      emit({ type: 'connection-changed', at, state });
    }),
  );

  const tick = () => {
    const t = now();
    for (const s of tracks.values()) {
      if (s.lastPacketAt !== null && s.stalledSince === null && t - s.lastPacketAt >= stallTimeoutMs) {
        s.stalledSince = t;
        emit({ type: 'track-stalled', at: t, kind: s.kind, trackId: s.trackId, lastPacketAt: s.lastPacketAt });
      }
    }
    if (connectedAt !== null && t - lastStatsAt >= statsIntervalMs) {
      const elapsed = Math.max(1, t - lastStatsAt);
      lastStatsAt = t;
      const samples: TrackStatsSample[] = [...tracks.values()].map((s) => {
        const c = s.counter.snapshot();
        const bitrate = Math.round(((c.bytes - s.bytesAtLastSample) * 8 * 1000) / elapsed);
        s.bytesAtLastSample = c.bytes;
        return {
          kind: s.kind,
          trackId: s.trackId,
          packets: c.packets,
          bytes: c.bytes,
          lost: c.lost,
          bitrate,
          framesWritten: s.segment?.framesWritten ?? 0,
        };
      });
      emit({ type: 'stats-sampled', at: t, tracks: samples });
    }
  };

  const assertOpen = () => {
    if (closing) throw new PeerStateError('peer-closed', 'recorder peer is closed');
  };

  const applyCandidate = async (c: CandidateInit) => {
    try {
      await pc.addIceCandidate({
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? undefined,
        sdpMLineIndex: c.sdpMLineIndex ?? undefined,
      });
    } catch (err) {
      throw new InvalidCandidateError(`candidate rejected: ${errorMessage(err)}`, { cause: err });
    }
  };

  return {
    async handleOffer(sdp) {
      assertOpen();
      if (offerState !== 'none') {
        throw new PeerStateError('invalid-state', 'this peer already handled an offer; replace the peer for a new one');
      }
      offerState = 'answering';
      try {
        validateOfferSdp(sdp);
        await mkdir(dir, { recursive: true }).catch((err: unknown) => {
          throw new OfferFailedError(`cannot create ${dir}: ${errorMessage(err)}`, { cause: err });
        });
        try {
          await pc.setRemoteDescription({ type: 'offer', sdp });
        } catch (err) {
          throw new InvalidOfferError(`offer rejected: ${errorMessage(err)}`, { cause: err });
        }
        assertOpen();
        const recordable = pc
          .getTransceivers()
          .some((t) => t.codecs.some((c) => recordedCodecOf(c.mimeType) !== null) && t.receiver.tracks.length > 0);
        if (!recordable) throw new InvalidOfferError('offer has no audio or video track in a codec we record (opus, vp8, vp9, h264)');
        let answerSdp: string;
        try {
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          answerSdp = pc.localDescription?.sdp ?? answer.sdp;
        } catch (err) {
          throw new OfferFailedError(`answering failed: ${errorMessage(err)}`, { cause: err });
        }
        assertOpen();
        offerState = 'answered';
        for (const c of pendingCandidates.splice(0)) {
          await applyCandidate(c).catch((err) => log.warn({ err: errorMessage(err) }, 'buffered candidate rejected'));
        }
        for (const s of tracks.values()) {
          const primary = s.transceiver.codecs.find((c) => recordedCodecOf(c.mimeType) !== null);
          emit({
            type: 'track-received',
            at: now(),
            kind: s.kind,
            trackId: s.trackId,
            codec: primary ? recordedCodecOf(primary.mimeType)! : 'unknown',
            mid: s.transceiver.mid ?? null,
            ssrc: s.ssrc,
          });
        }
        ticker = setInterval(tick, Math.min(TICK_MS, stallTimeoutMs / 2));
        ticker.unref();
        log.info({ tracks: [...tracks.values()].map((s) => `${s.kind}:${s.trackId}`) }, 'offer answered');
        return answerSdp;
      } catch (err) {
        offerState = 'failed';
        throw err;
      }
    },

    async addRemoteCandidate(c) {
      assertOpen();
      if (!c || typeof c.candidate !== 'string') throw new InvalidCandidateError('candidate must be a string');
      const candidate = c.candidate.trim().replace(/^a=/, '');
      if (candidate === '') return; // end-of-candidates
      if (candidate.length > 1024 || !CANDIDATE_RE.test(candidate)) {
        throw new InvalidCandidateError(`malformed candidate: ${candidate.slice(0, 120)}`);
      }
      if (c.sdpMLineIndex != null && (!Number.isInteger(c.sdpMLineIndex) || c.sdpMLineIndex < 0)) {
        throw new InvalidCandidateError('sdpMLineIndex must be a non-negative integer');
      }
      if (c.sdpMid != null && typeof c.sdpMid !== 'string') throw new InvalidCandidateError('sdpMid must be a string');
      const init = { candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
      if (offerState !== 'answered') {
        if (pendingCandidates.length >= MAX_PENDING_CANDIDATES) throw new InvalidCandidateError('too many candidates before the offer');
        pendingCandidates.push(init);
        return;
      }
      await applyCandidate(init);
    },

    close(reason, closeOpts = {}) {
      closing ??= (async () => {
        log.info({ reason }, 'closing recorder peer');
        if (ticker) clearInterval(ticker);
        ticker = null;
        for (const s of subscriptions.splice(0)) s.unSubscribe();
        const closePc = withTimeout(pc.close(), 3000).catch((err) => log.warn({ err }, 'peer close failed'));
        const metas = await Promise.all(
          [...tracks.values()]
            .filter((s) => s.segment)
            .map(async (s) => {
              const { meta, mediaWritten } = await s.segment!.finalize(closeOpts);
              emit({ type: 'segment-finalized', at: now(), kind: s.kind, trackId: s.trackId, segment: meta, mediaWritten });
              return meta;
            }),
        );
        await closePc;
        emit({ type: 'closed', at: now(), reason, segments: metas.length });
        return metas;
      })();
      return closing;
    },

    segments() {
      return [...tracks.values()].flatMap((s) => (s.segment ? [s.segment.meta()] : []));
    },

    identify(who) {
      identity.participantName = who.name == null ? null : who.name.slice(0, 200);
      if (who.userId) identity.userId = who.userId.slice(0, 200);
      else delete identity.userId;
      for (const s of tracks.values()) s.segment?.identify({ participantName: identity.participantName, userId: identity.userId });
      log.debug({ userId: identity.userId ?? null }, 'identified: sidecars rewritten');
    },
  };
}

/** Cheap structural checks before werift parses the SDP. */
export function validateOfferSdp(sdp: unknown): asserts sdp is string {
  if (typeof sdp !== 'string' || sdp.length === 0) throw new InvalidOfferError('offer SDP must be a non-empty string');
  if (sdp.length > MAX_SDP_LENGTH) throw new InvalidOfferError(`offer SDP longer than ${MAX_SDP_LENGTH} characters`);
  if (!sdp.startsWith('v=0')) throw new InvalidOfferError('offer SDP must start with v=0');
  if (!/\r?\nm=(audio|video) /.test(sdp)) throw new InvalidOfferError('offer SDP has no audio or video section');
  if (!/\r?\na=(ice-ufrag|fingerprint):/.test(sdp)) throw new InvalidOfferError('offer SDP lacks ICE credentials or a DTLS fingerprint');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), ms);
    }),
  ]);
}
