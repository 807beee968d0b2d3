import { assign, setup } from 'xstate';
import type { EventOf, SegmentSummary } from '../events/catalog.js';
import { recordingStream, type EmitSpec, type EffectParams } from './actions.js';

/** A participant asked for media has this long to send its offer. */
export const OFFER_TIMEOUT_MS = 20_000;
/**
 * A connected peer that sends no media for this long is marked no-media. The
 * one "no media" rule: the recorder only reports the first packet.
 */
export const MEDIA_TIMEOUT_MS = 10_000;

/** Why a peer is not recording (set with the state failed / no-media / no-offer). */
export type PeerProblem =
  /** No offer arrived within OFFER_TIMEOUT_MS of the request. */
  | 'offer-timed-out'
  /** The client reported a status instead of an offer (e.g. no-local-media). */
  | 'client-reported'
  /** Connected, but no media within MEDIA_TIMEOUT_MS. */
  | 'media-timed-out'
  /** The recorder could not answer the offer. */
  | 'offer-failed'
  /** The recorder peer failed (ICE/DTLS). */
  | 'peer-failed';

/** What the recording session is told about a peer that closed with this problem. */
const OUTCOME: Record<PeerProblem, 'failed' | 'no-media' | 'no-offer'> = {
  'offer-timed-out': 'no-offer',
  'client-reported': 'no-media',
  'media-timed-out': 'no-media',
  'offer-failed': 'failed',
  'peer-failed': 'failed',
};

export interface PeerContext {
  stream: string;
  recordingId: string;
  roomId: string;
  participantId: string;
  role: 'host' | 'participant';
  /** Who sends: the name and, when known, the user id (token `sub` or host-userInfo) the segment sidecars carry. Nested: MAX_CONTEXT_KEYS. */
  identity: { name: string | null; userId: string | null };
  startedAt: number;
  segmentBase: number;
  /** Offers received so far; the current peer answers offer number `offers`. */
  offers: number;
  /** The last offer the recorder answered. */
  answered: number;
  /** ICE candidates the recorder gathered for the current offer. */
  localCandidates: number;
  /** Kinds of media that have arrived. */
  media: ('audio' | 'video')[];
  tracks: { offerNumber: number; kind: 'audio' | 'video'; codec: string; trackId: string }[];
  segments: SegmentSummary[];
  /** Totals reported by the recorder. Nested to keep the context small: see MAX_CONTEXT_KEYS in index.ts. */
  stats: { packets: number; bytes: number; lost: number };
  stalled: ('audio' | 'video')[];
  /** Why the peer is not recording (failed / no-media / no-offer); decides the outcome reported when it closes. */
  problemKind: PeerProblem | null;
  /** The same for operators, in words (replay prints it). */
  problem: string | null;
  closeReason: string | null;
}

type PeerEvent =
  | EventOf<'peer.requested'>
  | EventOf<'peer.identified'>
  | EventOf<'peer.offer.received'>
  | EventOf<'peer.candidate.received'>
  | EventOf<'peer.answered'>
  | EventOf<'peer.candidate.gathered'>
  | EventOf<'peer.status.reported'>
  | EventOf<'peer.offer.failed'>
  | EventOf<'peer.connected'>
  | EventOf<'peer.track.received'>
  | EventOf<'peer.media.started'>
  | EventOf<'peer.media.stats'>
  | EventOf<'peer.media.stalled'>
  | EventOf<'peer.media.resumed'>
  | EventOf<'peer.segment.finalized'>
  | EventOf<'peer.failed'>
  | EventOf<'peer.offer.timed-out'>
  | EventOf<'peer.media.timed-out'>
  | EventOf<'peer.close.requested'>
  | EventOf<'peer.closed'>
  | EventOf<'peer.action.failed'>;

const current = ({ context, event }: { context: PeerContext; event: PeerEvent }) =>
  'data' in event && (event.data as { offerNumber?: number }).offerNumber === context.offers;

const withSegment = (segments: SegmentSummary[], s: SegmentSummary) =>
  segments.some((x) => x.file === s.file) ? segments : [...segments, s];

/** The effects the runtime provides, and the guard. */
const effects = setup({
  types: {
    context: {} as PeerContext,
    events: {} as PeerEvent,
    input: {} as { id: string },
  },
  actions: {
    emit: (_, _p: { events: EmitSpec[] }) => {},
    scheduleTimer: (_, _p: EffectParams['scheduleTimer']) => {},
    cancelTimer: (_, _p: EffectParams['cancelTimer']) => {},
    openRecorderPeer: (_, _p: EffectParams['openRecorderPeer']) => {},
    addRemoteCandidate: (_, _p: EffectParams['addRemoteCandidate']) => {},
    closeRecorderPeer: (_, _p: EffectParams['closeRecorderPeer']) => {},
    identifyRecorderPeer: (_, _p: EffectParams['identifyRecorderPeer']) => {},
  },
  guards: {
    isCurrentOffer: current,
  },
});

/** Transitions shared by several states are named actions (they name the effects above). */
export const peerMachine = effects.extend({
  actions: {
    /** Renegotiation: a fresh offer replaces the peer; earlier segments are kept. */
    acceptOffer: effects.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.offer.received') return;
      const offerNumber = context.offers + 1;
      enqueue({ type: 'cancelTimer', params: { key: 'offer' } });
      enqueue({ type: 'cancelTimer', params: { key: 'media' } });
      enqueue.assign({ offers: offerNumber, problem: null, problemKind: null });
      enqueue({
        type: 'openRecorderPeer',
        params: {
          roomId: context.roomId,
          recordingId: context.recordingId,
          participantId: context.participantId,
          role: context.role,
          name: context.identity.name,
          userId: context.identity.userId,
          startedAt: context.startedAt,
          offerNumber,
          segmentIndex: context.segmentBase + offerNumber - 1,
          sdp: event.data.sdp,
        },
      });
    }),
    requestClose: effects.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.close.requested') return;
      enqueue({ type: 'cancelTimer', params: { key: 'offer' } });
      enqueue({ type: 'cancelTimer', params: { key: 'media' } });
      enqueue.assign({ closeReason: event.data.reason });
      enqueue({
        type: 'closeRecorderPeer',
        params: { recordingId: context.recordingId, participantId: context.participantId, reason: event.data.reason },
      });
    }),
    addCandidate: effects.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.candidate.received') return;
      enqueue({
        type: 'addRemoteCandidate',
        params: {
          recordingId: context.recordingId,
          participantId: context.participantId,
          offerNumber: context.offers,
          candidate: event.data.candidate,
          sdpMid: event.data.sdpMid,
          sdpMLineIndex: event.data.sdpMLineIndex,
        },
      });
    }),
    recordTrack: effects.assign(({ context, event }) => (event.type === 'peer.track.received' ? { tracks: [...context.tracks, event.data] } : {})),
    countLocalCandidate: effects.assign(({ context }) => ({ localCandidates: context.localCandidates + 1 })),
    recordMediaStarted: effects.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.media.started') return;
      enqueue({ type: 'cancelTimer', params: { key: 'media' } });
      const kind = event.data.kind;
      enqueue.assign({ media: context.media.includes(kind) ? context.media : [...context.media, kind], problem: null, problemKind: null });
    }),
    recordStats: effects.assign(({ context: { stats }, event }) =>
      event.type === 'peer.media.stats'
        ? { stats: { packets: stats.packets + event.data.packets, bytes: stats.bytes + event.data.bytes, lost: stats.lost + event.data.lost } }
        : {},
    ),
    recordSegment: effects.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.segment.finalized') return;
      enqueue.assign({ segments: withSegment(context.segments, event.data.segment) });
      enqueue({
        type: 'emit',
        params: {
          events: [
            {
              stream: recordingStream(context.recordingId),
              type: 'recording.segment.recorded',
              data: { participantId: context.participantId, segment: event.data.segment },
            },
          ],
        },
      });
    }),
    markStalled: effects.assign(({ context, event }) =>
      event.type === 'peer.media.stalled' ? { stalled: [...new Set([...context.stalled, event.data.kind])] } : {},
    ),
    markResumed: effects.assign(({ context, event }) =>
      event.type === 'peer.media.resumed' ? { stalled: context.stalled.filter((k) => k !== event.data.kind) } : {},
    ),
    /** Why the peer is not recording: the kind decides the outcome, the detail is for operators. */
    setProblem: assign((_, p: { kind: PeerProblem; detail: string }) => ({ problemKind: p.kind, problem: p.detail })),
  },
}).createMachine({
  id: 'peer',
  // input is absent when xstate's transition() builds its throwaway actor: never throw here
  context: ({ input }) => ({
    stream: input?.id ?? '',
    recordingId: '',
    roomId: '',
    participantId: '',
    role: 'participant',
    identity: { name: null, userId: null },
    startedAt: 0,
    segmentBase: 0,
    offers: 0,
    answered: 0,
    localCandidates: 0,
    media: [],
    tracks: [],
    segments: [],
    stats: { packets: 0, bytes: 0, lost: 0 },
    stalled: [],
    problemKind: null,
    problem: null,
    closeReason: null,
  }),
  initial: 'idle',
  on: {
    // Segments of a replaced or closing peer keep arriving after the fact: always keep them.
    'peer.segment.finalized': { actions: 'recordSegment' },
    'peer.media.stats': { guard: 'isCurrentOffer', actions: 'recordStats' },
    // In any state: the next peer opened carries it, and a live one rewrites its sidecars (a closed one has none open: no-op).
    'peer.identified': {
      actions: [
        assign(({ event }) => ({ identity: { name: event.data.name, userId: event.data.userId ?? null } })),
        {
          type: 'identifyRecorderPeer',
          params: ({ context, event }) => ({
            recordingId: context.recordingId,
            participantId: context.participantId,
            name: event.data.name,
            userId: event.data.userId ?? null,
          }),
        },
      ],
    },
    // A failed action the runtime reports (events/catalog.ts actionFailed): kept in the log for the
    // operator; the state stays. assign({}) copies the context, so the step is recorded, not refused.
    'peer.action.failed': { actions: assign({}) },
  },
  states: {
    idle: {
      description: 'Not yet requested.',
      on: {
        'peer.requested': {
          target: 'requested',
          actions: assign(({ event }) => ({
            recordingId: event.data.recordingId,
            roomId: event.data.roomId,
            participantId: event.data.participantId,
            role: event.data.role,
            identity: { name: event.data.name, userId: event.data.userId ?? null },
            startedAt: event.data.startedAt,
            segmentBase: event.data.segmentBase,
          })),
        },
      },
    },
    requested: {
      description: 'The participant was asked to open a recorder peer; waiting for its offer.',
      entry: {
        type: 'scheduleTimer',
        params: { key: 'offer', delayMs: OFFER_TIMEOUT_MS, type: 'peer.offer.timed-out', data: {} },
      },
      on: {
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.status.reported': {
          target: 'no-media',
          actions: [
            { type: 'cancelTimer', params: { key: 'offer' } },
            { type: 'setProblem', params: ({ event }) => ({ kind: 'client-reported', detail: `client reported ${event.data.status}` }) },
          ],
        },
        'peer.offer.timed-out': {
          target: 'no-offer',
          actions: { type: 'setProblem', params: { kind: 'offer-timed-out', detail: `no offer within ${OFFER_TIMEOUT_MS / 1000} s of the request` } },
        },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
      },
    },
    negotiating: {
      description: 'An offer was received and handed to the recorder; waiting for the answer and ICE.',
      on: {
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.candidate.received': { actions: 'addCandidate' },
        'peer.answered': { guard: 'isCurrentOffer', actions: assign({ answered: ({ event }) => event.data.offerNumber }) },
        'peer.candidate.gathered': { guard: 'isCurrentOffer', actions: 'countLocalCandidate' },
        'peer.track.received': { guard: 'isCurrentOffer', actions: 'recordTrack' },
        'peer.connected': { guard: 'isCurrentOffer', target: 'connected' },
        'peer.offer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: { type: 'setProblem', params: ({ event }) => ({ kind: 'offer-failed', detail: `offer failed: ${event.data.error}` }) },
        },
        'peer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: { type: 'setProblem', params: ({ event }) => ({ kind: 'peer-failed', detail: event.data.error }) },
        },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
      },
    },
    connected: {
      description: 'ICE and DTLS are up; waiting for the first media packet.',
      entry: {
        type: 'scheduleTimer',
        params: { key: 'media', delayMs: MEDIA_TIMEOUT_MS, type: 'peer.media.timed-out', data: {} },
      },
      on: {
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.candidate.received': { actions: 'addCandidate' },
        'peer.candidate.gathered': { guard: 'isCurrentOffer', actions: 'countLocalCandidate' },
        'peer.track.received': { guard: 'isCurrentOffer', actions: 'recordTrack' },
        'peer.media.started': { guard: 'isCurrentOffer', target: 'flowing', actions: 'recordMediaStarted' },
        'peer.media.timed-out': {
          target: 'no-media',
          actions: { type: 'setProblem', params: { kind: 'media-timed-out', detail: `connected but no media within ${MEDIA_TIMEOUT_MS / 1000} s` } },
        },
        'peer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: [
            { type: 'cancelTimer', params: { key: 'media' } },
            { type: 'setProblem', params: ({ event }) => ({ kind: 'peer-failed', detail: event.data.error }) },
          ],
        },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
      },
    },
    flowing: {
      description: 'Media is arriving and being written to segment files.',
      on: {
        // The same transition as the root's: xstate looks in the active state first and only then
        // in its parents, and stats are most of a log, so finding it here makes every fold of one
        // about 15 % cheaper (tools/bench-core.ts).
        'peer.media.stats': { guard: 'isCurrentOffer', actions: 'recordStats' },
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.candidate.received': { actions: 'addCandidate' },
        'peer.candidate.gathered': { guard: 'isCurrentOffer', actions: 'countLocalCandidate' },
        'peer.track.received': { guard: 'isCurrentOffer', actions: 'recordTrack' },
        'peer.media.started': { guard: 'isCurrentOffer', actions: 'recordMediaStarted' },
        'peer.media.stalled': { guard: 'isCurrentOffer', actions: 'markStalled' },
        'peer.media.resumed': { guard: 'isCurrentOffer', actions: 'markResumed' },
        'peer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: { type: 'setProblem', params: ({ event }) => ({ kind: 'peer-failed', detail: event.data.error }) },
        },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
      },
    },
    failed: {
      description: 'The recorder peer failed; what it wrote is kept. A fresh offer revives it.',
      on: {
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
      },
    },
    'no-media': {
      description: 'The participant has no media to send (reported, or none arrived). A fresh offer revives it.',
      on: {
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
        // the recorder may still deliver media that was merely late
        'peer.media.started': { guard: 'isCurrentOffer', target: 'flowing', actions: 'recordMediaStarted' },
      },
    },
    'no-offer': {
      description: 'The participant never answered the request. A late offer is still accepted.',
      on: {
        'peer.offer.received': { target: '#peer.negotiating', actions: 'acceptOffer' },
        'peer.close.requested': { target: '#peer.closing', actions: 'requestClose' },
      },
    },
    closing: {
      description: 'The recorder is finalizing this participant’s files.',
      on: {
        'peer.closed': {
          target: 'closed',
          actions: assign({
            segments: ({ context, event }) => event.data.segments.reduce(withSegment, context.segments),
          }),
        },
      },
    },
    closed: {
      description:
        'Closed; its segments are reported to the recording session. A participant who rejoins under the same id is asked again: the peer reopens, its segments kept and numbered on.',
      on: {
        'peer.requested': {
          target: 'requested',
          actions: assign(({ context, event }) => ({
            role: event.data.role,
            identity: { name: event.data.name, userId: event.data.userId ?? null },
            // Offer numbers go on (a late event of the old peer stays stale); the next offer's segment index is the one asked for.
            // Never below the next index of this peer's own offers, whatever the request says.
            segmentBase: Math.max(event.data.segmentBase, context.segmentBase + context.offers) - context.offers,
            media: [],
            stalled: [],
            problem: null,
            problemKind: null,
          })),
        },
      },
      entry: {
        type: 'emit',
        params: ({ context }) => ({
          events: [
            {
              stream: recordingStream(context.recordingId),
              type: 'recording.peer.closed' as const,
              data: {
                participantId: context.participantId,
                outcome: context.problemKind ? OUTCOME[context.problemKind] : ('closed' as const),
                segments: context.segments,
              },
            },
          ],
        }),
      },
    },
  },
});
