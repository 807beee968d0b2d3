import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SegmentSummary } from '../../events/catalog.js';
import { trackFileOf } from '../../events/files.js';
import { segmentMetaSchema, type SegmentMeta } from '../../events/segment.js';
import { peerStream, recordingStream, type EffectParams } from '../../machines/actions.js';
import type { PeerContext } from '../../machines/peer.js';
import type { IceConfig } from '../recorder/ice.js';
import { createRecorderPeer } from '../recorder/recorder-peer.js';
import { RecorderPeerError } from '../recorder/errors.js';
import type { RecorderPeer, RecorderPeerEvent } from '../recorder/types.js';
import { safeJoin } from '../recorder/paths.js';
import { createSenderClock, type SenderClock } from '../recorder/sender-clock.js';
import type { EffectHandlers, Runtime } from '../runtime/runtime.js';

export interface RecorderEffectsOptions {
  root: string;
  ice: IceConfig;
  /** FFMPEG_PATH / FFPROBE_PATH: the peers probe and remux every finalized segment (default: from PATH). */
  ffmpegPath?: string;
  ffprobePath?: string;
  logger: Logger;
  /** Overrides for the recorder peers (timeouts), mostly for tests. */
  peerOptions?: { stallTimeoutMs?: number; statsIntervalMs?: number };
  /**
   * NATS mode: true when the participant's recorder peer is held by another
   * node that is alive. A close asked for here is then that node's to do (it
   * sees the close request in the log); only a peer nobody holds is reported
   * from its files on disk.
   */
  heldElsewhere?: (recordingId: string, participantId: string) => boolean;
}

const summary = (m: SegmentMeta): SegmentSummary => ({
  file: m.file,
  kind: m.kind,
  segmentIndex: m.segmentIndex,
  offsetMs: Math.round(m.offsetMs),
  durationMs: m.durationMs === null ? null : Math.round(m.durationMs),
  codec: m.codec,
});

/**
 * The recorder-peer effects: one werift peer per (recording, participant),
 * replaced on a fresh offer. What the peer reports comes back as events on the
 * peer's stream, tagged with the offer it answers so the machine can ignore a
 * replaced peer's news.
 */
export function createRecorderEffects(opts: RecorderEffectsOptions) {
  const live = new Map<string, { offerNumber: number; peer: RecorderPeer; senderClock: SenderClock; closing?: Promise<SegmentMeta[]> }>();
  /** Set by closeAll: the process is going away, no new peer is opened (a restart finds the recording interrupted). */
  let shutDown = false;
  /**
   * Set by a drain: what the closing peers report is not logged. The next
   * process reports their segments from the sidecars, as after a crash, and
   * the recording does not look alive until the drain ended.
   */
  let quiet = false;
  /**
   * Peers a close effect took out of `live` and is still finalizing (the host
   * left, a stop): closeAll waits for them too, so a shutdown never returns
   * while a remux is still writing the room's files.
   */
  const finishing = new Set<Promise<unknown>>();

  function forward(runtime: Runtime, stream: string, offerNumber: number, causationId: string, who: { recordingId: string; participantId: string }) {
    const lastTotals = new Map<string, { packets: number; bytes: number; lost: number }>();
    const failedFiles = new Set<string>();
    const send = (type: string, data: Record<string, unknown>) =>
      runtime.dispatch({ stream, type, data: { offerNumber, ...data }, causationId }).catch((err) =>
        opts.logger.error({ err, stream, eventType: type }, 'could not record peer event'),
      );
    return (e: RecorderPeerEvent) => {
      if (quiet) return;
      switch (e.type) {
        case 'connection-changed':
          if (e.state === 'connected') void send('peer.connected', {});
          else if (e.state === 'failed') void send('peer.failed', { error: 'ICE/DTLS connection failed' });
          return;
        case 'track-received':
          return void send('peer.track.received', { kind: e.kind, codec: e.codec, trackId: e.trackId.slice(0, 128) });
        case 'track-first-packet':
          return void send('peer.media.started', { kind: e.kind });
        case 'track-stalled':
          return void send('peer.media.stalled', { kind: e.kind });
        case 'track-resumed':
          return void send('peer.media.resumed', { kind: e.kind });
        case 'segment-finalized':
          return void send('peer.segment.finalized', { segment: summary(e.segment) });
        case 'stats-sampled': {
          // the recorder reports running totals; the log keeps what each period added
          let packets = 0;
          let bytes = 0;
          let lost = 0;
          const byKind: Partial<Record<'audio' | 'video', { packets: number; bytes: number; lost: number }>> = {};
          for (const t of e.tracks) {
            const prev = lastTotals.get(t.trackId) ?? { packets: 0, bytes: 0, lost: 0 };
            const d = { packets: Math.max(0, t.packets - prev.packets), bytes: Math.max(0, t.bytes - prev.bytes), lost: Math.max(0, t.lost - prev.lost) };
            packets += d.packets;
            bytes += d.bytes;
            lost += d.lost;
            const k = (byKind[t.kind] ??= { packets: 0, bytes: 0, lost: 0 });
            k.packets += d.packets;
            k.bytes += d.bytes;
            k.lost += d.lost;
            lastTotals.set(t.trackId, { packets: t.packets, bytes: t.bytes, lost: t.lost });
          }
          return void send('peer.media.stats', { packets, bytes, lost, byKind });
        }
        case 'segment-failed': {
          opts.logger.error({ stream, file: e.file, error: e.error, reason: e.reason }, 'segment write failed');
          // The disk cannot take more (or is failing): the recording is told, once per file, and stops.
          if (!e.reason || failedFiles.has(e.file)) return;
          failedFiles.add(e.file);
          runtime
            .dispatch({
              stream: recordingStream(who.recordingId),
              type: 'recording.write.failed',
              data: { participantId: who.participantId, file: e.file.slice(0, 255), reason: e.reason, error: e.error.slice(0, 2000) },
              causationId,
              correlationId: who.recordingId,
            })
            .then((r) => {
              if (!r.accepted) opts.logger.warn({ stream, file: e.file, why: r.message }, 'write failure not taken by the recording');
            })
            .catch((err) => opts.logger.error({ err, stream, file: e.file }, 'could not record the write failure'));
          return;
        }
        default:
          return;
      }
    };
  }

  /** Segments a crashed process left for this participant, from their sidecars. */
  async function segmentsOnDisk(meetingId: string, recordingId: string, participantId: string): Promise<SegmentSummary[]> {
    const dir = safeJoin(opts.root, meetingId);
    const names = await readdir(dir).catch(() => [] as string[]);
    const out: SegmentSummary[] = [];
    for (const n of names) {
      if (trackFileOf(n, recordingId, participantId) !== 'sidecar') continue;
      try {
        const meta = segmentMetaSchema.safeParse(JSON.parse(await readFile(join(dir, n), 'utf8')));
        if (meta.success && meta.data.recordingId === recordingId && meta.data.participantId === participantId) out.push(summary(meta.data));
      } catch {
        // an unreadable sidecar is the composer's to report
      }
    }
    return out.sort((a, b) => a.offsetMs - b.offsetMs);
  }

  const handlers: EffectHandlers = {
    async openRecorderPeer(p: EffectParams['openRecorderPeer'], { event, runtime }) {
      const key = `${p.recordingId}.${p.participantId}`;
      const stream = peerStream(p.recordingId, p.participantId);
      const logger = opts.logger.child({ roomId: p.roomId, recordingId: p.recordingId, participantId: p.participantId, offerNumber: p.offerNumber });
      if (shutDown) return logger.info('shutting down: recorder peer not opened');
      const previous = live.get(key);
      // A fresh offer comes from the same sender: its clock against ours is the one already fixed, so the
      // new peer's segments line up with the replaced one's from their first packet, before any report.
      const senderClock = previous?.senderClock ?? createSenderClock();
      const peer = createRecorderPeer({
        root: opts.root,
        meetingId: p.roomId,
        recordingId: p.recordingId,
        participantId: p.participantId,
        participantName: p.name,
        userId: p.userId,
        role: p.role,
        recordingStartedAt: p.startedAt,
        segmentBase: p.segmentIndex,
        ice: opts.ice,
        ffmpegPath: opts.ffmpegPath,
        ffprobePath: opts.ffprobePath,
        logger,
        ...opts.peerOptions,
        senderClock,
        onEvent: forward(runtime, stream, p.offerNumber, event.id, p),
        onLocalCandidate: (c) =>
          void runtime.dispatch({
            stream,
            type: 'peer.candidate.gathered',
            data: { offerNumber: p.offerNumber, candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
            causationId: event.id,
          }),
      });
      // A stop may come while the replaced peer is still finalizing: its close must finish (and be reported) first.
      const closing = previous
        ? Promise.all([
            previous.closing ?? Promise.resolve([]),
            previous.peer.close('replaced').catch((err) => {
              logger.error({ err }, 'closing the replaced peer failed');
              return previous.peer.segments();
            }),
          ]).then(([a, b]) => [...a, ...b])
        : undefined;
      live.set(key, { offerNumber: p.offerNumber, peer, senderClock, closing });
      if (previous) {
        logger.info({ replacedOffer: previous.offerNumber }, 'fresh offer: replacing the recorder peer, keeping its segments');
        await closing;
      }
      try {
        const sdp = await peer.handleOffer(p.sdp);
        await runtime.dispatch({ stream, type: 'peer.answered', data: { offerNumber: p.offerNumber, sdp }, causationId: event.id });
      } catch (err) {
        const e = err as Error;
        const status = err instanceof RecorderPeerError && err.code === 'invalid-offer' ? 'invalid-offer' : 'offer-failed';
        logger.warn({ err: e.message, status }, 'offer not answered');
        if (live.get(key)?.peer === peer) live.delete(key);
        await peer.close('offer-failed').catch(() => {});
        await runtime.dispatch({
          stream,
          type: 'peer.offer.failed',
          data: { offerNumber: p.offerNumber, status, error: e.message.slice(0, 2000) },
          causationId: event.id,
        });
      }
    },

    async addRemoteCandidate(p: EffectParams['addRemoteCandidate'], { event, runtime }) {
      const entry = live.get(`${p.recordingId}.${p.participantId}`);
      if (!entry || entry.offerNumber !== p.offerNumber) return;
      await entry.peer.addRemoteCandidate({ candidate: p.candidate, sdpMid: p.sdpMid, sdpMLineIndex: p.sdpMLineIndex }).catch((err) =>
        opts.logger.warn(
          { recordingId: p.recordingId, participantId: p.participantId, err: (err as Error).message, causationId: event.id },
          'remote candidate rejected',
        ),
      );
      void runtime;
    },

    identifyRecorderPeer(p: EffectParams['identifyRecorderPeer']) {
      // No live peer (not opened yet, or closed): the peer's context has it for the next one.
      live.get(`${p.recordingId}.${p.participantId}`)?.peer.identify({ name: p.name, userId: p.userId });
    },

    async closeRecorderPeer(p: EffectParams['closeRecorderPeer'], { event, runtime }) {
      const key = `${p.recordingId}.${p.participantId}`;
      const stream = peerStream(p.recordingId, p.participantId);
      const entry = live.get(key);
      live.delete(key);
      let segments: SegmentSummary[];
      if (entry) {
        const closed = (async () => {
          const replaced = (await entry.closing) ?? [];
          const own = await entry.peer.close(p.reason).catch((err) => {
            opts.logger.error({ err, recordingId: p.recordingId, participantId: p.participantId }, 'closing recorder peer failed');
            return entry.peer.segments();
          });
          return [...replaced, ...own];
        })();
        finishing.add(closed);
        try {
          segments = (await closed).map(summary);
        } finally {
          finishing.delete(closed);
        }
      } else if (opts.heldElsewhere?.(p.recordingId, p.participantId)) {
        opts.logger.debug({ recordingId: p.recordingId, participantId: p.participantId }, 'recorder peer is on another node: it closes it');
        return;
      } else {
        // No live peer here: never opened, or it died with an earlier process (or node). Report what it left on disk.
        const ctx = runtime.get(stream)?.context as PeerContext | undefined;
        segments = ctx?.roomId ? await segmentsOnDisk(ctx.roomId, p.recordingId, p.participantId) : [];
      }
      await runtime.dispatch({ stream, type: 'peer.closed', data: { reason: p.reason, segments }, causationId: event.id });
    },
  };

  return {
    handlers,
    /**
     * NATS mode: a close another node appended (a stop through its API, its
     * host leaving), or an identity it learned, for a peer this node holds is
     * run here, where the peer is.
     */
    follow(runtime: Runtime): () => void {
      return runtime.onEvent((a) => {
        if (a.local || (a.type !== 'peer.close.requested' && a.type !== 'peer.identified')) return;
        const { recordingId, participantId } = a.after.context;
        if (!live.has(`${recordingId}.${participantId}`)) return;
        if (a.type === 'peer.identified') {
          // Said on another node (its userInfo reached that node's socket): the sidecars are written here.
          const { name, userId } = a.after.context.identity as PeerContext['identity'];
          return void handlers.identifyRecorderPeer!({ recordingId, participantId, name, userId }, { event: a.event, runtime });
        }
        Promise.resolve(handlers.closeRecorderPeer!({ recordingId, participantId, reason: a.event.data.reason }, { event: a.event, runtime })).catch((err) =>
          opts.logger.error({ err, recordingId, participantId }, 'closing a recorder peer for another node failed'),
        );
      });
    },
    /**
     * Closes every live peer (shutdown); their files are finalized, and no
     * peer opens after this. `skipRemux` (a drain) leaves out the per-file
     * ffprobe and remux: werift's ending is enough for the composer.
     */
    async closeAll(closeOpts: { skipRemux?: boolean } = {}) {
      shutDown = true;
      quiet = closeOpts.skipRemux === true;
      const peers = [...live.values()];
      live.clear();
      await Promise.allSettled([...peers.flatMap((e) => [e.peer.close('shutdown', closeOpts), ...(e.closing ? [e.closing] : [])]), ...finishing]);
      return peers.length;
    },
    liveCount: () => live.size,
    /** A peer whose holder died (its node's lease lapsed) is reported closed with the files it left on disk. */
    async reportFromDisk(runtime: Runtime, recordingId: string, participantId: string, reason: string): Promise<boolean> {
      const stream = peerStream(recordingId, participantId);
      const ctx = runtime.get(stream)?.context as PeerContext | undefined;
      if (!ctx?.roomId) return false;
      const segments = await segmentsOnDisk(ctx.roomId, recordingId, participantId);
      const r = await runtime.dispatch({ stream, type: 'peer.closed', data: { reason, segments } });
      return r.accepted;
    },
  };
}
