import { assign, setup } from 'xstate';
import type { EventOf, Member, UserInfo } from '../events/catalog.js';
import { memberDisplayName } from '../events/names.js';
import { recordingStream, stopCompositionJobId, type EmitSpec } from './actions.js';

/** The member a join makes; user id and token flags only when the token gave them (members without access control keep their shape). */
const memberOf = (d: EventOf<'room.member.joined'>['data'], role: Member['role']): Member => ({
  participantId: d.participantId,
  role,
  name: d.name,
  ...(d.userId ? { userId: d.userId, userIdFromToken: true } : {}),
  ...(d.nameFromToken ? { nameFromToken: true } : {}),
  // the node holding the member's socket (its recorder peer runs there too)
  ...(d.nodeId ? { nodeId: d.nodeId } : {}),
});

/**
 * The member after host-userInfo: the token's name and sub win (they are
 * verified); otherwise the info's name and userId replace the earlier ones.
 * The info itself is kept as given.
 */
export function identify(m: Member, info: UserInfo): Member {
  const name = m.nameFromToken ? m.name : memberDisplayName({ userInfo: info.name, connect: m.name });
  const userId = m.userIdFromToken ? m.userId : (info.userId ?? m.userId);
  const avatar = info.avatar ?? m.avatar;
  return { ...m, name, ...(userId ? { userId } : {}), ...(avatar ? { avatar } : {}), userInfo: info };
}

export interface RoomContext {
  roomId: string;
  nodeId: string | null;
  hostId: string | null;
  members: Record<string, Member>;
  activeRecordingId: string | null;
  /** The room's most recent recording ids, oldest first (at most ROOM_RECORDINGS_KEPT; each session is in its own stream). */
  recordings: string[];
  closedReason: string | null;
}

/** Recording ids a room's context remembers: a room reused for years must not grow with every recording. */
export const ROOM_RECORDINGS_KEPT = 50;

type RoomEvent =
  | EventOf<'room.member.joined'>
  | EventOf<'room.member.left'>
  | EventOf<'room.member.identified'>
  | EventOf<'room.closed'>
  | EventOf<'room.recording.requested'>
  | EventOf<'room.recording.ended'>
  | EventOf<'room.action.failed'>;

const stopActive = (ctx: RoomContext, reason: 'host-left' | 'interrupted'): EmitSpec[] =>
  ctx.activeRecordingId
    ? [
        {
          stream: recordingStream(ctx.activeRecordingId),
          type: 'recording.stop.requested',
          data: { reason, compose: true, compositionJobId: stopCompositionJobId(ctx.activeRecordingId) },
          correlationId: ctx.activeRecordingId,
        },
      ]
    : [];

export const roomMachine = setup({
  types: {
    context: {} as RoomContext,
    events: {} as RoomEvent,
    input: {} as { id: string },
  },
  actions: {
    emit: (_, _params: { events: EmitSpec[] }) => {},
    // Opening (or re-opening) resets membership; the recording history stays.
    open: assign(({ event }) => {
      const e = event as EventOf<'room.member.joined'>;
      const host = memberOf(e.data, 'host');
      return { nodeId: e.data.nodeId, hostId: host.participantId, members: { [host.participantId]: host }, closedReason: null };
    }),
  },
  guards: {
    isNewMember: ({ context, event }) =>
      event.type === 'room.member.joined' && !context.members[event.data.participantId],
    isHostLeaving: ({ context, event }) =>
      event.type === 'room.member.left' && event.data.participantId === context.hostId,
    isMember: ({ context, event }) =>
      (event.type === 'room.member.left' || event.type === 'room.member.identified') && !!context.members[event.data.participantId],
    notRecording: ({ context }) => context.activeRecordingId === null,
    isActiveRecording: ({ context, event }) =>
      event.type === 'room.recording.ended' && event.data.recordingId === context.activeRecordingId,
  },
}).createMachine({
  id: 'room',
  // input is absent when xstate's transition() builds its throwaway actor: never throw here
  context: ({ input }) => ({
    roomId: input?.id ?? '',
    nodeId: null,
    hostId: null,
    members: {},
    activeRecordingId: null,
    recordings: [],
    closedReason: null,
  }),
  on: {
    // A failed action the runtime reports (events/catalog.ts actionFailed): kept in the log for the
    // operator; the state stays. assign({}) copies the context, so the step is recorded, not refused.
    'room.action.failed': { actions: assign({}) },
  },
  initial: 'absent',
  states: {
    absent: {
      description: 'No host has opened this room yet.',
      on: { 'room.member.joined': { target: 'open', actions: 'open' } },
    },
    open: {
      description: 'The host is connected; members come and go; at most one recording is active.',
      on: {
        'room.member.joined': {
          guard: 'isNewMember',
          actions: [
            assign({
              members: ({ context, event }) => ({
                ...context.members,
                [event.data.participantId]: memberOf(event.data, 'participant'),
              }),
            }),
            {
              type: 'emit',
              params: ({ context, event }) => ({
                events: context.activeRecordingId
                  ? [
                      {
                        stream: recordingStream(context.activeRecordingId),
                        type: 'recording.participant.joined' as const,
                        data: { member: memberOf(event.data, 'participant') },
                        correlationId: context.activeRecordingId,
                      },
                    ]
                  : [],
              }),
            },
          ],
        },
        'room.member.left': [
          {
            guard: 'isHostLeaving',
            target: 'closed',
            actions: [
              { type: 'emit', params: ({ context }) => ({ events: stopActive(context, 'host-left') }) },
              assign({ closedReason: 'host-left', members: {} }),
            ],
          },
          {
            guard: 'isMember',
            actions: [
              {
                type: 'emit',
                params: ({ context, event }) => ({
                  events: context.activeRecordingId
                    ? [
                        {
                          stream: recordingStream(context.activeRecordingId),
                          type: 'recording.participant.left' as const,
                          data: { participantId: event.data.participantId },
                          correlationId: context.activeRecordingId,
                        },
                      ]
                    : [],
                }),
              },
              assign({
                members: ({ context, event }) => {
                  const { [event.data.participantId]: _gone, ...rest } = context.members;
                  return rest;
                },
              }),
            ],
          },
        ],
        'room.member.identified': {
          guard: 'isMember',
          actions: [
            assign({
              members: ({ context, event }) => {
                const m = context.members[event.data.participantId]!;
                return { ...context.members, [m.participantId]: identify(m, event.data.userInfo) };
              },
            }),
            {
              type: 'emit',
              params: ({ context, event }) => ({
                events: context.activeRecordingId
                  ? [
                      {
                        stream: recordingStream(context.activeRecordingId),
                        type: 'recording.participant.identified' as const,
                        data: { member: context.members[event.data.participantId]! },
                        correlationId: context.activeRecordingId,
                      },
                    ]
                  : [],
              }),
            },
          ],
        },
        'room.closed': {
          target: 'closed',
          actions: [
            {
              type: 'emit',
              params: ({ context, event }) => ({
                events: stopActive(context, event.data.reason === 'host-left' ? 'host-left' : 'interrupted'),
              }),
            },
            assign({ closedReason: ({ event }) => event.data.reason, members: {} }),
          ],
        },
        'room.recording.requested': {
          guard: 'notRecording',
          actions: [
            assign({
              activeRecordingId: ({ event }) => event.data.recordingId,
              recordings: ({ context, event }) => [...context.recordings, event.data.recordingId].slice(-ROOM_RECORDINGS_KEPT),
            }),
            {
              type: 'emit',
              params: ({ context, event }) => ({
                events: [
                  {
                    stream: recordingStream(event.data.recordingId),
                    type: 'recording.started' as const,
                    data: {
                      recordingId: event.data.recordingId,
                      roomId: context.roomId,
                      layout: event.data.layout,
                      format: event.data.format,
                      startedAt: event.time,
                      members: Object.values(context.members),
                    },
                    correlationId: event.data.recordingId,
                  },
                ],
              }),
            },
          ],
        },
        'room.recording.ended': { guard: 'isActiveRecording', actions: assign({ activeRecordingId: null }) },
      },
    },
    closed: {
      description: 'The host left (or the server restarted): the room is gone. A new host may open it again.',
      on: {
        'room.recording.ended': { guard: 'isActiveRecording', actions: assign({ activeRecordingId: null }) },
        'room.member.joined': { target: 'open', actions: 'open' },
      },
    },
  },
});
