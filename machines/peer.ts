import { assign, setup } from 'xstate';
import type { EventOf, SegmentSummary } from '../events/catalog.js';
import { recordingStream, type EmitSpec, type EffectParams } from './actions.js';

/** A participant asked for media has this long to send its offer. */
export const OFFER_TIMEOUT_MS = 20_000;
/** A connected peer that sends no media for this long is marked no-media. */
export const MEDIA_TIMEOUT_MS = 15_000;

export interface PeerContext {
  stream: string;
  recordingId: string;
  roomId: string;
  participantId: string;
  role: 'host' | 'participant';
  name: string | null;
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
  /** Why the peer is not recording: set in failed / no-media / no-offer. */
  problem: string | null;
  closeReason: string | null;
}

type PeerEvent =
  | EventOf<'peer.requested'>
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
  | EventOf<'peer.closed'>;

const current = ({ context, event }: { context: PeerContext; event: PeerEvent }) =>
  'data' in event && (event.data as { offerNumber?: number }).offerNumber === context.offers;

const withSegment = (segments: SegmentSummary[], s: SegmentSummary) =>
  segments.some((x) => x.file === s.file) ? segments : [...segments, s];

// The three transitions below are shared by several states; XState cannot type a transition
// object declared outside createMachine against each state's event, hence the casts.

/** Renegotiation: a fresh offer replaces the peer; earlier segments are kept. */
const acceptOffer: any = {
  target: '#peer.negotiating',
  actions: [
    { type: 'cancelTimer', params: { key: 'offer' } },
    { type: 'cancelTimer', params: { key: 'media' } },
    assign({ offers: ({ context }: { context: PeerContext }) => context.offers + 1, problem: null }),
    {
      type: 'openRecorderPeer',
      params: ({ context, event }: { context: PeerContext; event: PeerEvent }) => ({
        roomId: context.roomId,
        recordingId: context.recordingId,
        participantId: context.participantId,
        role: context.role,
        name: context.name,
        startedAt: context.startedAt,
        offerNumber: context.offers,
        segmentIndex: context.segmentBase + context.offers - 1,
        sdp: (event as EventOf<'peer.offer.received'>).data.sdp,
      }),
    },
  ],
};

const requestClose: any = {
  target: '#peer.closing',
  actions: [
    { type: 'cancelTimer', params: { key: 'offer' } },
    { type: 'cancelTimer', params: { key: 'media' } },
    assign({ closeReason: ({ event }: { event: PeerEvent }) => (event as EventOf<'peer.close.requested'>).data.reason }),
    {
      type: 'closeRecorderPeer',
      params: ({ context, event }: { context: PeerContext; event: PeerEvent }) => ({
        recordingId: context.recordingId,
        participantId: context.participantId,
        reason: (event as EventOf<'peer.close.requested'>).data.reason,
      }),
    },
  ],
};

const addCandidate: any = {
  actions: {
    type: 'addRemoteCandidate',
    params: ({ context, event }: { context: PeerContext; event: PeerEvent }) => {
      const d = (event as EventOf<'peer.candidate.received'>).data;
      return {
        recordingId: context.recordingId,
        participantId: context.participantId,
        offerNumber: context.offers,
        candidate: d.candidate,
        sdpMid: d.sdpMid,
        sdpMLineIndex: d.sdpMLineIndex,
      };
    },
  },
};

const trackReceived: any = {
  guard: 'isCurrentOffer',
  actions: assign({
    tracks: ({ context, event }: { context: PeerContext; event: PeerEvent }) => [
      ...context.tracks,
      (event as EventOf<'peer.track.received'>).data,
    ],
  }),
};

const candidateGathered: any = {
  guard: 'isCurrentOffer',
  actions: assign({ localCandidates: ({ context }: { context: PeerContext }) => context.localCandidates + 1 }),
};

const mediaStarted = (target?: string): any => ({
  guard: 'isCurrentOffer',
  ...(target ? { target } : {}),
  actions: [
    { type: 'cancelTimer', params: { key: 'media' } },
    assign({
      media: ({ context, event }: { context: PeerContext; event: PeerEvent }) => {
        const kind = (event as EventOf<'peer.media.started'>).data.kind;
        return context.media.includes(kind) ? context.media : [...context.media, kind];
      },
      problem: null,
    }),
  ],
});

/** Stats totals. Declared at the root (any state) and again in flowing, where almost all of them arrive: see below. */
const statsReceived: any = {
  guard: 'isCurrentOffer',
  actions: assign({
    stats: ({ context: { stats }, event }: { context: PeerContext; event: PeerEvent }) => {
      const d = (event as EventOf<'peer.media.stats'>).data;
      return { packets: stats.packets + d.packets, bytes: stats.bytes + d.bytes, lost: stats.lost + d.lost };
    },
  }),
};

const segmentFinalized: any = {
  actions: [
    assign({
      segments: ({ context, event }: { context: PeerContext; event: PeerEvent }) =>
        withSegment(context.segments, (event as EventOf<'peer.segment.finalized'>).data.segment),
    }),
    {
      type: 'emit',
      params: ({ context, event }: { context: PeerContext; event: PeerEvent }) => ({
        events: [
          {
            stream: recordingStream(context.recordingId),
            type: 'recording.segment.recorded' as const,
            data: { participantId: context.participantId, segment: (event as EventOf<'peer.segment.finalized'>).data.segment },
          },
        ],
      }),
    },
  ],
};

export const peerMachine = setup({
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
  },
  guards: {
    isCurrentOffer: current,
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
    name: null,
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
    problem: null,
    closeReason: null,
  }),
  initial: 'idle',
  on: {
    // Segments of a replaced or closing peer keep arriving after the fact: always keep them.
    'peer.segment.finalized': segmentFinalized,
    'peer.media.stats': statsReceived,
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
            name: event.data.name,
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
        'peer.offer.received': acceptOffer,
        'peer.status.reported': {
          target: 'no-media',
          actions: [
            { type: 'cancelTimer', params: { key: 'offer' } },
            assign({ problem: ({ event }) => `client reported ${event.data.status}` }),
          ],
        },
        'peer.offer.timed-out': {
          target: 'no-offer',
          actions: assign({ problem: `no offer within ${OFFER_TIMEOUT_MS / 1000} s of the request` }),
        },
        'peer.close.requested': requestClose,
      },
    },
    negotiating: {
      description: 'An offer was received and handed to the recorder; waiting for the answer and ICE.',
      on: {
        'peer.offer.received': acceptOffer,
        'peer.candidate.received': addCandidate,
        'peer.answered': { guard: 'isCurrentOffer', actions: assign({ answered: ({ event }) => event.data.offerNumber }) },
        'peer.candidate.gathered': candidateGathered,
        'peer.track.received': trackReceived,
        'peer.connected': { guard: 'isCurrentOffer', target: 'connected' },
        'peer.offer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: assign({ problem: ({ event }) => `offer failed: ${event.data.error}` }),
        },
        'peer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: assign({ problem: ({ event }) => event.data.error }),
        },
        'peer.close.requested': requestClose,
      },
    },
    connected: {
      description: 'ICE and DTLS are up; waiting for the first media packet.',
      entry: {
        type: 'scheduleTimer',
        params: { key: 'media', delayMs: MEDIA_TIMEOUT_MS, type: 'peer.media.timed-out', data: {} },
      },
      on: {
        'peer.offer.received': acceptOffer,
        'peer.candidate.received': addCandidate,
        'peer.candidate.gathered': candidateGathered,
        'peer.track.received': trackReceived,
        'peer.media.started': mediaStarted('flowing'),
        'peer.media.timed-out': {
          target: 'no-media',
          actions: assign({ problem: `connected but no media within ${MEDIA_TIMEOUT_MS / 1000} s` }),
        },
        'peer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: [{ type: 'cancelTimer', params: { key: 'media' } }, assign({ problem: ({ event }) => event.data.error })],
        },
        'peer.close.requested': requestClose,
      },
    },
    flowing: {
      description: 'Media is arriving and being written to segment files.',
      on: {
        // The same transition as the root's: xstate looks in the active state first and only then
        // in its parents, and stats are most of a log, so finding it here makes every fold of one
        // about 15 % cheaper (tools/bench-core.ts).
        'peer.media.stats': statsReceived,
        'peer.offer.received': acceptOffer,
        'peer.candidate.received': addCandidate,
        'peer.candidate.gathered': candidateGathered,
        'peer.track.received': trackReceived,
        'peer.media.started': mediaStarted(),
        'peer.media.stalled': {
          guard: 'isCurrentOffer',
          actions: assign({
            stalled: ({ context, event }) => [...new Set([...context.stalled, event.data.kind])],
          }),
        },
        'peer.media.resumed': {
          guard: 'isCurrentOffer',
          actions: assign({ stalled: ({ context, event }) => context.stalled.filter((k) => k !== event.data.kind) }),
        },
        'peer.failed': {
          guard: 'isCurrentOffer',
          target: 'failed',
          actions: assign({ problem: ({ event }) => event.data.error }),
        },
        'peer.close.requested': requestClose,
      },
    },
    failed: {
      description: 'The recorder peer failed; what it wrote is kept. A fresh offer revives it.',
      on: { 'peer.offer.received': acceptOffer, 'peer.close.requested': requestClose },
    },
    'no-media': {
      description: 'The participant has no media to send (reported, or none arrived). A fresh offer revives it.',
      on: {
        'peer.offer.received': acceptOffer,
        'peer.close.requested': requestClose,
        // the recorder may still deliver media that was merely late
        'peer.media.started': mediaStarted('flowing'),
      },
    },
    'no-offer': {
      description: 'The participant never answered the request. A late offer is still accepted.',
      on: { 'peer.offer.received': acceptOffer, 'peer.close.requested': requestClose },
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
      type: 'final',
      description: 'Closed; its segments are reported to the recording session.',
      entry: {
        type: 'emit',
        params: ({ context }) => ({
          events: [
            {
              stream: recordingStream(context.recordingId),
              type: 'recording.peer.closed' as const,
              data: {
                participantId: context.participantId,
                outcome: context.problem?.startsWith('no offer')
                  ? ('no-offer' as const)
                  : context.problem?.startsWith('connected but no media') || context.problem?.startsWith('client reported')
                    ? ('no-media' as const)
                    : context.problem
                      ? ('failed' as const)
                      : ('closed' as const),
                segments: context.segments,
              },
            },
          ],
        }),
      },
    },
  },
});
