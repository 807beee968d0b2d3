import { open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { useAudioLevelIndication, type RtpPacket } from 'werift';
import { trackFileNames, trackFileStem } from '../../events/files.js';
import type { SegmentMeta, SegmentSync } from '../../events/segment.js';
import { createLevelAccumulator } from './audio-levels.js';
import type { RecordedCodec } from './codecs.js';
import { errorMessage, writeFailureOf } from './errors.js';
import { probeMedia, remuxInPlace, type ProbeResult } from './ffmpeg.js';
import { createWebmFileSink } from './file-sink.js';
import { createRtpClock } from './rtp-stats.js';
import { createReportLine, isCoarseNtp, ntpToUnixMs, predict, thinPoints, type SenderClock } from './sender-clock.js';
import type { MediaKind } from './types.js';
import { createWebmPipeline } from './webm-pipeline.js';

const AUDIO_LEVEL_URI = useAudioLevelIndication().uri;
/** How long finalize waits for werift's end-of-stream output (cues, duration) to reach the file. */
const END_WAIT_MS = 3000;
/** Sender Reports kept in the sidecar (first, last and evenly between). */
const SIDECAR_REPORTS = 64;
const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Opus packets run 2.5-120 ms; Chrome sends 20 ms unless told otherwise (ptime). */
const MIN_FRAME_MS = 2.5;
const MAX_FRAME_MS = 120;
const DEFAULT_AUDIO_FRAME_MS = 20;

export interface SegmentWriterOptions {
  /** Absolute, already validated meeting directory. */
  dir: string;
  identity: Pick<SegmentMeta, 'meetingId' | 'recordingId' | 'participantId' | 'participantName' | 'userId' | 'role'>;
  kind: MediaKind;
  trackId: string;
  codec: RecordedCodec;
  segmentIndex: number;
  recordingStartedAt: number;
  /** Wall clock of the first packet: the segment starts here until a Sender Report places it. */
  firstPacketAt: number;
  /** The sender's clock against the server's, shared by all its tracks (fixed once). */
  senderClock: SenderClock;
  levelsIntervalMs: number;
  ffmpegPath: string;
  ffprobePath: string;
  remux: 'always' | 'if-needed' | 'never';
  logger: Logger;
  now: () => number;
  onKeyframeNeeded: () => void;
  /** A write to disk failed; the segment keeps what was written. */
  onError: (e: Error) => void;
}

export interface FinalizedSegment {
  meta: SegmentMeta;
  /** False when nothing decodable was written (e.g. video that never sent a keyframe): no .webm is kept. */
  mediaWritten: boolean;
}

export interface SegmentWriter {
  /** Basename of the .webm. */
  readonly file: string;
  meta(): SegmentMeta;
  push(rtp: RtpPacket, extensions: Record<string, unknown> | undefined): void;
  /** An RTCP Sender Report of this track's SSRC: NTP timestamp (64-bit) and the RTP timestamp it maps to. */
  addSenderReport(ntpTimestamp: bigint, rtpTimestamp: number): void;
  readonly framesWritten: number;
  /** Stops taking packets, ends the WebM, remuxes if needed and rewrites the sidecar. Idempotent: the first call's options hold. */
  finalize(opts?: FinalizeOptions): Promise<FinalizedSegment>;
  /** Who sent it, learned late (host-userInfo after the peer opened): the sidecar is rewritten with it. Ignored once finalizing. */
  identify(who: Pick<SegmentMeta, 'participantName' | 'userId'>): void;
}

export interface FinalizeOptions {
  /**
   * A drain (SIGTERM): end the file and write the sidecar, but skip the
   * ffprobe check and the remux (seconds per file when many finalize at once);
   * the sidecar says `needsRemux: true`.
   */
  skipRemux?: boolean;
}

/**
 * One track segment on disk: `<stem>.webm`, `<stem>.json` (SegmentMeta,
 * written at start with finalized:false and rewritten at finalize) and, for
 * audio, `<stem>.levels.json`. Timing comes from RTP timestamps: offsetMs is
 * the first packet's arrival (moved to the first written frame's media time
 * when video had to wait for a keyframe) and durationMs runs from the first
 * written frame to the end of the last one.
 */
export function openSegmentWriter(o: SegmentWriterOptions): SegmentWriter {
  const clockRate = o.kind === 'audio' ? 48000 : 90000;
  const names = trackFileNames(
    trackFileStem({
      startedAt: o.firstPacketAt,
      recordingId: o.identity.recordingId,
      participantId: o.identity.participantId,
      kind: o.kind,
      trackId: o.trackId,
    }),
  );
  const file = names.media;
  const webmPath = path.join(o.dir, file);
  const metaPath = path.join(o.dir, names.sidecar);
  const levelsName = names.levels;
  const log = o.logger.child({ segment: file });

  const clock = createRtpClock(clockRate);
  const levels = o.kind === 'audio' ? createLevelAccumulator(o.levelsIntervalMs) : null;
  const baseOffsetMs = Math.max(0, o.firstPacketAt - o.recordingStartedAt);
  let packets = 0;
  let bytes = 0;
  // Lip sync: the track's reports, and the smallest (arrival − media time) of its packets.
  const reports = createReportLine();
  let minLagMs = Infinity;
  let coarseReports = 0;
  let placedByReports = false;
  // Audio: one packet's length (ms, the smallest step between RTP timestamps seen) and the last timestamp.
  let frameMs: number | null = null;
  let lastAudioMs: number | null = null;
  let finalizing: Promise<FinalizedSegment> | null = null;

  const sink = createWebmFileSink(webmPath, (e) => {
    log.error({ err: e, reason: writeFailureOf(e) }, 'segment write failed: the file keeps what was written');
    o.onError(e);
  });
  // What reached the disk, in media time: after a failed write the file ends at the last output
  // written whole, and its duration is that of the frames in it.
  const media = createWrittenMedia();
  let eol: { durationElement: Uint8Array } | null = null;
  const pipeline = createWebmPipeline({
    kind: o.kind,
    codec: o.codec,
    mediaMs: (ts) => clock.toMs(ts),
    onOutput: (out) => {
      if (out.saveToFile) media.handed(out.saveToFile.length);
      if (out.eol) eol = out.eol;
      sink.write(out);
    },
    onKeyframeNeeded: o.onKeyframeNeeded,
    onFirstFrame: (ms) => {
      // Video that waited for a keyframe starts later than its first packet: the file's t=0 is that frame.
      if (ms !== 0) writeMeta();
    },
  });

  let current: SegmentMeta = {
    version: 1,
    ...o.identity,
    kind: o.kind,
    trackId: o.trackId,
    codec: o.codec,
    file,
    segmentIndex: o.segmentIndex,
    offsetMs: baseOffsetMs,
    durationMs: null,
    startedAt: Math.trunc(o.firstPacketAt),
    endedAt: null,
    finalized: false,
    packets: 0,
    bytes: 0,
    levelsFile: null,
  };

  /** What an audio report's sender time is moved earlier by (see addSenderReport); 0 for video. */
  const audioCaptureLead = () => (o.kind === 'audio' ? round3(frameMs ?? DEFAULT_AUDIO_FRAME_MS) : 0);

  /** Where the file's first frame (media ms `first`) lands: by the reports when there are some, else by arrival. */
  const placement = (first: number): { offsetMs: number; startedAt: number; sync: SegmentSync } => {
    const line = reports.line;
    const toServer = o.senderClock.offsetMs;
    if (line && toServer !== null) {
      const at = predict(line, first) + toServer;
      return {
        offsetMs: round3(Math.max(0, at - o.recordingStartedAt)),
        startedAt: Math.trunc(Math.max(at, o.recordingStartedAt)),
        sync: {
          source: 'sender-reports',
          scale: line.slope,
          senderToServerMs: round3(toServer),
          ...(o.kind === 'audio' ? { captureLeadMs: audioCaptureLead() } : {}),
          reports: thinPoints(reports.points(), SIDECAR_REPORTS).map((p) => ({ mediaMs: round3(p.mediaMs - first), senderMs: round3(p.senderMs) })),
          rejectedReports: reports.rejected,
        },
      };
    }
    return {
      offsetMs: baseOffsetMs + Math.max(0, first),
      startedAt: Math.trunc(o.firstPacketAt + Math.max(0, first)),
      sync: { source: 'arrival', scale: 1, senderToServerMs: toServer === null ? null : round3(toServer), reports: [], rejectedReports: reports.rejected },
    };
  };

  const snapshot = (): SegmentMeta => ({
    ...current,
    ...placement(pipeline.firstFrameMs ?? 0),
    packets,
    bytes,
  });

  // Sidecar writes are serialized and atomic (tmp + rename): a crash leaves the last complete one.
  let metaChain: Promise<void> = Promise.resolve();
  function writeMeta(meta: SegmentMeta = snapshot()): Promise<void> {
    const body = `${JSON.stringify(meta, null, 2)}\n`;
    metaChain = metaChain
      .then(async () => {
        const tmp = `${metaPath}.tmp`;
        try {
          await writeFile(tmp, body);
          await rename(tmp, metaPath);
        } catch (e) {
          if (writeFailureOf(e) !== 'disk-full') throw e;
          // No room for a new file: rewrite the sidecar in the space it already has (not atomic, but finalized).
          await rm(tmp, { force: true }).catch(() => undefined);
          await rewriteInPlace(metaPath, body).catch(() => Promise.reject(e));
          log.warn('disk full: sidecar rewritten in place');
        }
      })
      .catch((e) => {
        log.error({ err: e }, 'segment sidecar write failed');
        o.onError(e instanceof Error ? e : new Error(errorMessage(e)));
      });
    return metaChain;
  }
  void writeMeta();

  async function probeAndRepair(durationMs: number): Promise<ProbeResult> {
    let probe = await probeMedia(o.ffprobePath, webmPath);
    const needed =
      o.remux === 'always' ||
      (o.remux === 'if-needed' &&
        (!probe.ok ||
          probe.durationMs === null ||
          probe.warnings !== '' ||
          Math.abs(probe.durationMs - durationMs) > 1000));
    if (!needed) return probe;
    const started = Date.now();
    const r = await remuxInPlace(o.ffmpegPath, webmPath, o.codec === 'h264' ? 'matroska' : 'webm');
    if (r.exitCode !== 0) {
      log.warn({ code: r.exitCode, timedOut: r.timedOut, stderr: r.stderr.join('\n').slice(0, 500) }, 'remux failed; keeping werift output');
      return probe;
    }
    probe = await probeMedia(o.ffprobePath, webmPath);
    log.debug({ ms: Date.now() - started, durationMs: probe.durationMs }, 'remuxed');
    return probe;
  }

  async function finalize({ skipRemux = false }: FinalizeOptions): Promise<FinalizedSegment> {
    const t0 = Date.now();
    try {
      pipeline.end();
    } catch (e) {
      log.error({ err: e }, 'ending the pipeline threw; relying on remux');
    }
    if (!sink.error && pipeline.framesWritten > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sink.ended, new Promise<void>((r) => (timer = setTimeout(r, END_WAIT_MS)))]);
      clearTimeout(timer);
      if (!sink.error && !sink.sawEnd) log.warn('werift did not finish the file in time; relying on remux');
    }
    // Checked after the ending is written, not before: when the disk fills while another track's
    // failure stops the recording, this track's own last writes (the final cluster, the cues) are
    // the ones that fail, and the file ends in a partial block unless it is cut back here too.
    if (sink.error) {
      // Cut back to whole output and say how long that is, in the header (no new space needed).
      media.settle(sink.bytes);
      const writtenMs = media.writtenMs;
      // Always cut back to whole output (a partial block at the end is what a failed write leaves);
      // the header's duration is patched only when werift's template for it and a whole frame are known.
      const ms = writtenMs !== null ? Math.max(0, writtenMs - (pipeline.firstFrameMs ?? 0)) + pipeline.lastFrameDurationMs : null;
      await sink.salvage(eol && ms !== null ? durationElementOf(eol.durationElement, ms) : null);
    }
    await sink.close();
    const tEnded = Date.now();

    const mediaWritten = pipeline.framesWritten > 0 && sink.opened && (!sink.error || media.writtenMs !== null);
    let durationMs: number | null = null;
    if (mediaWritten) {
      // First frame's start to last frame's end (of those on disk), as a stream-copy remux reports it.
      const lastMs = sink.error ? media.writtenMs! : (pipeline.lastFrameMs ?? 0);
      durationMs = Math.max(0, lastMs - (pipeline.firstFrameMs ?? 0)) + pipeline.lastFrameDurationMs;
      const probe = skipRemux ? null : await probeAndRepair(durationMs);
      if (!probe) {
        // Drain: werift's ending is in the file; the composer reads it as it is.
      } else if (!probe.ran) {
        // No ffprobe/ffmpeg here: keep werift's file as it is and our own measurement.
        log.error({ error: probe.warnings }, 'ffprobe did not run; file kept unverified');
      } else if (!probe.ok || probe.durationMs === null) {
        // Never delete media: report it, keep the bytes for a later repair.
        log.error({ warnings: probe.warnings }, 'finalized file is not readable');
        o.onError(new Error(`finalized file not readable by ffprobe: ${probe.warnings.slice(0, 300)}`));
      } else if (sink.error) {
        // Partial file after a write failure: never more than what is actually in it.
        durationMs = Math.min(durationMs, probe.durationMs);
      }
    }
    if (!mediaWritten) {
      // Nothing decodable was ever written (video without a keyframe): only a header, or no file at all.
      durationMs = null;
      await rm(webmPath, { force: true }).catch(() => undefined);
    }

    const base = snapshot();
    let levelsFile: string | null = null;
    if (levels && mediaWritten && durationMs !== null && levels.count > 0) {
      const first = pipeline.firstFrameMs ?? 0;
      const body = levels.build(base.offsetMs, first, first + durationMs);
      try {
        await writeFile(path.join(o.dir, levelsName), `${JSON.stringify(body)}\n`);
        levelsFile = levelsName;
      } catch (e) {
        log.error({ err: e }, 'levels write failed');
        await rm(path.join(o.dir, levelsName), { force: true }).catch(() => undefined);
      }
    }
    const meta: SegmentMeta = {
      ...base,
      durationMs,
      endedAt: durationMs !== null ? Math.trunc(base.startedAt + durationMs) : Math.trunc(o.now()),
      finalized: true,
      levelsFile,
      ...(skipRemux && mediaWritten ? { needsRemux: true } : {}),
    };
    current = meta;
    await writeMeta(meta);
    log.info(
      {
        durationMs,
        packets,
        frames: pipeline.framesWritten,
        gaps: pipeline.gaps,
        mediaWritten,
        ...(skipRemux ? { skipRemux } : {}),
        endMs: tEnded - t0,
        finalizeMs: Date.now() - t0,
      },
      'segment finalized',
    );
    return { meta, mediaWritten };
  }

  return {
    file,
    meta: () => (current.finalized ? current : snapshot()),
    push(rtp, extensions) {
      if (finalizing) return;
      packets++;
      bytes += rtp.payload.length;
      const ms = clock.toMs(rtp.header.timestamp);
      const exact = clock.exactMs(rtp.header.timestamp)!;
      const lag = o.now() - exact;
      if (lag < minLagMs) minLagMs = lag;
      if (o.kind === 'audio') {
        const step = lastAudioMs === null ? 0 : exact - lastAudioMs;
        if (step >= MIN_FRAME_MS && step <= MAX_FRAME_MS && (frameMs === null || step < frameMs)) frameMs = step;
        lastAudioMs = exact;
      }
      if (levels) {
        const al = extensions?.[AUDIO_LEVEL_URI] as { level?: number } | undefined;
        if (al && typeof al.level === "number") levels.add(ms, al.level);
      }
      // After a failed write the file takes nothing more: muxing it would be work for nothing.
      if (sink.error) return;
      pipeline.push(rtp);
      media.framed(pipeline.lastFrameMs, sink.bytes);
    },
    addSenderReport(ntp, rtpTimestamp) {
      if (finalizing) return;
      if (isCoarseNtp(ntp)) {
        if (coarseReports++ === 0) log.info('sender report with a whole-second NTP time (werift): skipped, as its like will be');
        return;
      }
      const mediaMs = clock.exactMs(rtpTimestamp);
      if (mediaMs === null) return; // before the first packet: nothing to tie it to
      // libwebrtc (Chrome, Firefox, Safari) stamps an audio report with the time its frame was sent,
      // not captured: the frame's first sample was captured one frame (20 ms) before (captureLeadMs).
      const verdict = reports.add({ mediaMs, senderMs: ntpToUnixMs(ntp) - audioCaptureLead() });
      if (verdict !== 'accepted') log.warn({ verdict, rejected: reports.rejected }, 'sender report contradicts the earlier ones');
      const line = reports.line;
      if (!line || !Number.isFinite(minLagMs)) return;
      // The sender's clock onto the server's: the least-delayed packet so far (once per sender).
      o.senderClock.fix(minLagMs - line.interceptMs);
      if (!placedByReports || verdict === 'reset') {
        placedByReports = true;
        const p = placement(pipeline.firstFrameMs ?? 0);
        log.info({ offsetMs: p.offsetMs, arrivalOffsetMs: baseOffsetMs + Math.max(0, pipeline.firstFrameMs ?? 0) }, 'placed by sender reports');
        void writeMeta();
      }
    },
    get framesWritten() {
      return pipeline.framesWritten;
    },
    finalize(opts = {}) {
      finalizing ??= finalize(opts);
      return finalizing;
    },
    identify(who) {
      if (finalizing) return;
      const { userId: _old, ...rest } = current;
      current = { ...rest, participantName: who.participantName, ...(who.userId ? { userId: who.userId } : {}) };
      void writeMeta();
    },
  };
}

/** Rewrites a small file over its own bytes (no new file, no new blocks for a body no longer than a block). */
async function rewriteInPlace(file: string, body: string): Promise<void> {
  const h = await open(file, 'r+');
  try {
    const buf = Buffer.from(body);
    await h.write(buf, 0, buf.length, 0);
    await h.truncate(buf.length);
  } finally {
    await h.close();
  }
}

/** werift's EBML Duration element (ID 0x4489, a 4- or 8-byte float of ms) with another value. */
export function durationElementOf(template: Uint8Array, ms: number): Buffer {
  const el = Buffer.from(template);
  const size = el[2]! & 0x7f;
  if (size === 8) el.writeDoubleBE(ms, 3);
  else el.writeFloatBE(ms, 3);
  return el;
}

/**
 * Which frames are on disk: output handed to the sink is counted in bytes,
 * and after each packet the newest frame's media time is noted against the
 * byte count so far. Once the sink has written n bytes, every frame noted at
 * or below n is in the file. Holds only what is in flight.
 */
export function createWrittenMedia() {
  let handedBytes = 0;
  let writtenMs: number | null = null;
  const inFlight: { end: number; ms: number }[] = [];
  const settle = (sinkBytes: number) => {
    while (inFlight.length > 0 && inFlight[0]!.end <= sinkBytes) writtenMs = inFlight.shift()!.ms;
  };
  return {
    handed(n: number) {
      handedBytes += n;
    },
    /** After a packet: the newest frame so far, and what the sink has written. */
    framed(lastFrameMs: number | null, sinkBytes: number) {
      if (lastFrameMs !== null && (inFlight.length === 0 || inFlight.at(-1)!.end < handedBytes)) inFlight.push({ end: handedBytes, ms: lastFrameMs });
      else if (lastFrameMs !== null) inFlight.at(-1)!.ms = lastFrameMs;
      settle(sinkBytes);
    },
    settle,
    /** Media ms of the newest frame known to be on disk. */
    get writtenMs() {
      return writtenMs;
    },
  };
}
