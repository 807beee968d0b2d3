import { assign, setup } from 'xstate';
import type { EventOf, Format, Layout, Member, SegmentSummary } from '../events/catalog.js';
import { compositionStream, peerStream, roomStream, stopCompositionJobId, type EmitSpec } from './actions.js';

/** How long peers get to finalize their files once a stop was asked for. */
export const STOP_TIMEOUT_MS = 30_000;
/** Automatic attempts of the composition a stop starts (the first run included). */
export const COMPOSITION_MAX_ATTEMPTS = 3;

export interface RecordingParticipant {
  role: Member['role'];
  name: string | null;
  /** The token's `sub`, or host-userInfo's userId: who they are across rejoins. */
  userId?: string;
  /** host-userInfo's avatar. */
  avatar?: string;
  /** host-userInfo's data as sent (the composed file's metadata keeps it). */
  userInfo?: Record<string, unknown>;
  /** The node holding the participant's socket and recorder peer (NATS mode: any node). */
  nodeId?: string;
  /** Times a recorder peer was requested for this participant (rejoins add one). */
  requests: number;
  /** A recorder peer is open or being opened. */
  active: boolean;
  outcome: 'closed' | 'failed' | 'no-media' | 'no-offer' | null;
  /** Rejoined under the same id while its old peer was still closing: asked again once that one has closed. */
  rejoined?: Member;
}

export interface RecordingContext {
  recordingId: string;
  roomId: string | null;
  layout: Layout;
  format: Format;
  startedAt: number | null;
  stoppedAt: number | null;
  stopReason: string | null;
  compose: boolean;
  compositionJobId: string | null;
  participants: Record<string, RecordingParticipant>;
  /** Every segment file produced, with the participant that sent it. */
  segments: (SegmentSummary & { participantId: string })[];
  error: string | null;
  /** The live composition's last progress (recording.live.progressed); absent in older snapshots. */
  live?: LiveProgress | null;
}

export interface LiveProgress {
  composedUpToMs: number;
  lagMs: number;
  chunks: number;
  workerId: string;
  /** When it was reported (the event's time). */
  at: number;
}

type RecordingEvent =
  | EventOf<'recording.started'>
  | EventOf<'recording.participant.joined'>
  | EventOf<'recording.participant.left'>
  | EventOf<'recording.participant.identified'>
  | EventOf<'recording.stop.requested'>
  | EventOf<'recording.peer.closed'>
  | EventOf<'recording.segment.recorded'>
  | EventOf<'recording.write.failed'>
  | EventOf<'recording.live.progressed'>
  | EventOf<'recording.stop.timed-out'>
  | EventOf<'recording.failed'>
  | EventOf<'recording.action.failed'>;

const requestPeer = (ctx: RecordingContext, m: Member, segmentBase: number): EmitSpec => ({
  stream: peerStream(ctx.recordingId, m.participantId),
  type: 'peer.requested',
  data: {
    recordingId: ctx.recordingId,
    roomId: ctx.roomId,
    participantId: m.participantId,
    role: m.role,
    name: m.name,
    ...(m.userId ? { userId: m.userId } : {}),
    layout: ctx.layout,
    format: ctx.format,
    startedAt: ctx.startedAt,
    segmentBase,
  },
});

const identifyPeer = (ctx: RecordingContext, m: Member): EmitSpec => ({
  stream: peerStream(ctx.recordingId, m.participantId),
  type: 'peer.identified',
  data: { name: m.name, ...(m.userId ? { userId: m.userId } : {}) },
});

/** What a participant entry keeps of a member's identity. */
const identityOf = (m: Member) => ({
  name: m.name,
  ...(m.userId ? { userId: m.userId } : {}),
  ...(m.avatar ? { avatar: m.avatar } : {}),
  ...(m.userInfo ? { userInfo: m.userInfo } : {}),
});

const addSegments = (ctx: RecordingContext, participantId: string, segs: SegmentSummary[]) => {
  const known = new Set(ctx.segments.map((s) => s.file));
  return [...ctx.segments, ...segs.filter((s) => !known.has(s.file)).map((s) => ({ ...s, participantId }))];
};

/** What a session shows of a write failure (the first one is kept: it is the cause). */
const writeError = (e: EventOf<'recording.write.failed'>) =>
  `${e.data.reason}: writing ${e.data.file} (participant ${e.data.participantId}) failed: ${e.data.error}`;

/** The stop's own effects: every active peer is asked to finalize, and the peers get STOP_TIMEOUT_MS to do it. */
const stopEffects = [
  {
    type: 'emit',
    params: ({ context }: { context: RecordingContext }) => ({
      events: Object.entries(context.participants)
        .filter(([, p]) => p.active)
        .map(([participantId]) => ({
          stream: peerStream(context.recordingId, participantId),
          type: 'peer.close.requested' as const,
          data: { reason: 'recording-stopped' },
        })),
    }),
  },
  {
    type: 'scheduleTimer',
    params: { key: 'stop', delayMs: STOP_TIMEOUT_MS, type: 'recording.stop.timed-out', data: {} },
  },
] as const;

const segmentsOf = (ctx: RecordingContext, participantId: string) =>
  ctx.segments.filter((s) => s.participantId === participantId).length;

export const recordingMachine = setup({
  types: {
    context: {} as RecordingContext,
    events: {} as RecordingEvent,
    input: {} as { id: string },
  },
  actions: {
    emit: (_, _params: { events: EmitSpec[] }) => {},
    scheduleTimer: (_, _params: { key: string; delayMs: number; type: 'recording.stop.timed-out'; data: object }) => {},
    cancelTimer: (_, _params: { key: string }) => {},
    recordPeerClosed: assign(({ context, event }) => {
      const e = event as EventOf<'recording.peer.closed'>;
      const p = context.participants[e.data.participantId];
      return {
        participants: p
          ? { ...context.participants, [e.data.participantId]: { ...p, active: false, outcome: e.data.outcome } }
          : context.participants,
        segments: addSegments(context, e.data.participantId, e.data.segments),
      };
    }),
    /** host-userInfo arrived (or changed): the name, userId and avatar the composition uses. */
    recordIdentity: assign(({ context, event }) => {
      const m = (event as EventOf<'recording.participant.identified'>).data.member;
      const p = context.participants[m.participantId];
      return p ? { participants: { ...context.participants, [m.participantId]: { ...p, ...identityOf(m) } } } : {};
    }),
    recordSegment: assign(({ context, event }) => {
      const e = event as EventOf<'recording.segment.recorded'>;
      return { segments: addSegments(context, e.data.participantId, [e.data.segment]) };
    }),
    recordLive: assign(({ event }) => {
      const e = event as EventOf<'recording.live.progressed'>;
      return { live: { ...e.data, at: e.time } };
    }),
  },
  guards: {
    allPeersClosed: ({ context }) => Object.values(context.participants).every((p) => !p.active),
    isKnownParticipant: ({ context, event }) =>
      (event.type === 'recording.peer.closed' || event.type === 'recording.segment.recorded') &&
      !!context.participants[event.data.participantId],
    isIdentifiedParticipant: ({ context, event }) =>
      event.type === 'recording.participant.identified' && !!context.participants[event.data.member.participantId],
    isActiveParticipant: ({ context, event }) =>
      event.type === 'recording.participant.left' && !!context.participants[event.data.participantId]?.active,
    isInactiveOrNew: ({ context, event }) =>
      event.type === 'recording.participant.joined' && !context.participants[event.data.member.participantId]?.active,
    isRejoinWhileActive: ({ context, event }) =>
      event.type === 'recording.participant.joined' && !!context.participants[event.data.member.participantId]?.active,
    closesARejoinedPeer: ({ context, event }) =>
      event.type === 'recording.peer.closed' && !!context.participants[event.data.participantId]?.rejoined,
  },
}).createMachine({
  id: 'recording',
  // input is absent when xstate's transition() builds its throwaway actor: never throw here
  context: ({ input }) => ({
    recordingId: input?.id ?? '',
    roomId: null,
    layout: 'grid',
    format: 'webm',
    startedAt: null,
    stoppedAt: null,
    stopReason: null,
    compose: true,
    compositionJobId: null,
    participants: {},
    segments: [],
    error: null,
  }),
  on: {
    // A failed action the runtime reports (events/catalog.ts actionFailed): kept in the log for the
    // operator; the state stays. assign({}) copies the context, so the step is recorded, not refused.
    'recording.action.failed': { actions: assign({}) },
  },
  initial: 'starting',
  states: {
    starting: {
      description: 'The session exists in name only until its room accepts the start.',
      on: {
        'recording.started': {
          target: 'recording',
          actions: [
            assign(({ event }) => ({
              roomId: event.data.roomId,
              layout: event.data.layout,
              format: event.data.format,
              startedAt: event.data.startedAt,
              participants: Object.fromEntries(
                event.data.members.map((m) => [
                  m.participantId,
                  { role: m.role, ...identityOf(m), ...(m.nodeId ? { nodeId: m.nodeId } : {}), requests: 1, active: true, outcome: null },
                ]),
              ),
            })),
            {
              type: 'emit',
              params: ({ context, event }) => ({ events: event.data.members.map((m) => requestPeer(context, m, 0)) }),
            },
          ],
        },
      },
    },
    recording: {
      description: 'Every member is asked for a recorder peer; their segments accumulate.',
      on: {
        'recording.participant.joined': [
          {
            guard: 'isInactiveOrNew',
            actions: [
              {
                type: 'emit',
                params: ({ context, event }) => ({
                  events: [requestPeer(context, event.data.member, segmentsOf(context, event.data.member.participantId))],
                }),
              },
              assign(({ context, event }) => {
                const m = event.data.member;
                const prev = context.participants[m.participantId];
                return {
                  participants: {
                    ...context.participants,
                    [m.participantId]: { role: m.role, ...identityOf(m), ...(m.nodeId ? { nodeId: m.nodeId } : {}), requests: (prev?.requests ?? 0) + 1, active: true, outcome: null },
                  },
                };
              }),
            ],
          },
          {
            // Its old peer is still finalizing (or open): ask again once it reports closed.
            guard: 'isRejoinWhileActive',
            actions: assign(({ context, event }) => {
              const m = event.data.member;
              return { participants: { ...context.participants, [m.participantId]: { ...context.participants[m.participantId], rejoined: m } } };
            }),
          },
        ],
        'recording.participant.left': {
          guard: 'isActiveParticipant',
          actions: {
            type: 'emit',
            params: ({ context, event }) => ({
              events: [
                {
                  stream: peerStream(context.recordingId, event.data.participantId),
                  type: 'peer.close.requested' as const,
                  data: { reason: 'participant-left' },
                },
              ],
            }),
          },
        },
        'recording.peer.closed': [
          {
            guard: 'closesARejoinedPeer',
            actions: [
              'recordPeerClosed',
              {
                type: 'emit',
                params: ({ context, event }) => ({
                  events: [requestPeer(context, context.participants[event.data.participantId].rejoined!, segmentsOf(context, event.data.participantId))],
                }),
              },
              assign(({ context, event }) => {
                const { rejoined, ...p } = context.participants[event.data.participantId];
                const m = rejoined!;
                return {
                  participants: {
                    ...context.participants,
                    [m.participantId]: { ...p, role: m.role, ...identityOf(m), ...(m.nodeId ? { nodeId: m.nodeId } : {}), requests: p.requests + 1, active: true, outcome: null },
                  },
                };
              }),
            ],
          },
          { guard: 'isKnownParticipant', actions: 'recordPeerClosed' },
        ],
        'recording.segment.recorded': { guard: 'isKnownParticipant', actions: 'recordSegment' },
        'recording.live.progressed': { actions: 'recordLive' },
        'recording.participant.identified': {
          guard: 'isIdentifiedParticipant',
          actions: [
            'recordIdentity',
            // Its peer's sidecars carry who they are: a composition from the sidecars alone keeps a rejoin on one tile.
            {
              type: 'emit',
              params: ({ context, event }) => ({ events: [identifyPeer(context, event.data.member)] }),
            },
          ],
        },
        'recording.stop.requested': {
          target: 'stopping',
          actions: [
            assign(({ context, event }) => ({
              stoppedAt: Math.max(context.startedAt ?? 0, Math.min(event.data.stoppedAt ?? event.time, event.time)),
              stopReason: event.data.reason,
              compose: event.data.compose,
              compositionJobId: event.data.compositionJobId,
            })),
            ...stopEffects,
          ],
        },
        // A recorder that cannot write (disk full, I/O error) cannot go on: stop, and compose what was written.
        'recording.write.failed': {
          target: 'stopping',
          actions: [
            assign(({ context, event }) => ({
              stoppedAt: Math.max(context.startedAt ?? 0, event.time),
              stopReason: event.data.reason,
              compose: true,
              compositionJobId: stopCompositionJobId(context.recordingId),
              error: context.error ?? writeError(event),
            })),
            ...stopEffects,
          ],
        },
        'recording.failed': { target: 'failed', actions: assign({ error: ({ event }) => event.data.error }) },
      },
    },
    stopping: {
      description: 'Waiting for every recorder peer to finalize its files.',
      always: { guard: 'allPeersClosed', target: 'stopped' },
      on: {
        'recording.peer.closed': { guard: 'isKnownParticipant', actions: 'recordPeerClosed' },
        'recording.segment.recorded': { guard: 'isKnownParticipant', actions: 'recordSegment' },
        'recording.live.progressed': { actions: 'recordLive' },
        'recording.participant.identified': { guard: 'isIdentifiedParticipant', actions: 'recordIdentity' },
        'recording.stop.timed-out': { target: 'stopped' },
        // A file that fails while the peers finalize (the stop came from elsewhere): the session says so.
        'recording.write.failed': { actions: assign({ error: ({ context, event }) => context.error ?? writeError(event) }) },
      },
    },
    stopped: {
      type: 'final',
      description: 'Stopped; the files are kept and, unless told not to, a composition was requested.',
      entry: [
        { type: 'cancelTimer', params: { key: 'stop' } },
        {
          type: 'emit',
          params: ({ context }) => ({
            events: [
              ...(context.roomId
                ? [
                    {
                      stream: roomStream(context.roomId),
                      type: 'room.recording.ended' as const,
                      data: { recordingId: context.recordingId },
                    },
                  ]
                : []),
              ...(context.compose && context.compositionJobId && context.roomId
                ? [
                    {
                      stream: compositionStream(context.compositionJobId),
                      type: 'composition.requested' as const,
                      data: {
                        jobId: context.compositionJobId,
                        recordingId: context.recordingId,
                        meetingId: context.roomId,
                        layout: context.layout,
                        format: context.format,
                        durationMs: Math.max(0, (context.stoppedAt ?? 0) - (context.startedAt ?? 0)),
                        maxAttempts: COMPOSITION_MAX_ATTEMPTS,
                      },
                    },
                  ]
                : []),
            ],
          }),
        },
      ],
    },
    failed: {
      type: 'final',
      description: 'The session could not go on; its peers are closed and whatever was recorded is kept on disk.',
      entry: {
        type: 'emit',
        params: ({ context }) => ({
          events: [
            ...Object.entries(context.participants)
              .filter(([, p]) => p.active)
              .map(([participantId]) => ({
                stream: peerStream(context.recordingId, participantId),
                type: 'peer.close.requested' as const,
                data: { reason: 'recording-failed' },
              })),
            ...(context.roomId
              ? [{ stream: roomStream(context.roomId), type: 'room.recording.ended' as const, data: { recordingId: context.recordingId } }]
              : []),
          ],
        }),
      },
    },
  },
});
