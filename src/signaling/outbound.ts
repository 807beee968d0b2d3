import type { AnyMachineSnapshot } from 'xstate';
import type { DomainEvent, Member } from '../../events/catalog.js';
import type { ServerMessage } from '../../events/wire.js';
import { roomStream } from '../../machines/actions.js';
import type { AppliedEvent } from '../runtime/runtime.js';

/** One message for some participants (by server-assigned participantId). */
export interface Delivery {
  to: string[];
  message: ServerMessage;
}

export type SnapshotLookup = (stream: string) => AnyMachineSnapshot | undefined;

const iso = (ms: number | null | undefined) => new Date(ms ?? 0).toISOString();
const closeReason = (r: string | null | undefined) => (!r || r === 'node-lost' ? 'host-left' : r);
const memberIds = (s: AnyMachineSnapshot | undefined): string[] => Object.keys(s?.context?.members ?? {});

function membersMessage(roomId: string, after: AnyMachineSnapshot): Delivery {
  const members = Object.values(after.context.members as Record<string, Member>);
  return {
    to: members.map((m) => m.participantId),
    message: {
      type: 'members',
      connectionId: roomId,
      members: members.map(({ participantId, role, name, avatar }) => ({ participantId, role, name, ...(avatar ? { avatar } : {}) })),
    },
  };
}

/**
 * Maps an applied event to the server messages it causes. Pure: which event
 * happened says what to send; snapshots only fill in fields and recipients.
 */
export function deliveriesFor({ event, before, after }: AppliedEvent, get: SnapshotLookup): Delivery[] {
  const e = event as unknown as DomainEvent;
  switch (e.type) {
    case 'room.member.joined':
    case 'room.member.identified':
      return [membersMessage(after.context.roomId, after)];

    case 'room.member.left':
    case 'room.closed': {
      const roomId: string = after.context.roomId;
      if (before?.value !== 'closed' && after.value === 'closed') {
        const leaving = e.type === 'room.member.left' ? e.data.participantId : null;
        return [
          {
            to: memberIds(before).filter((id) => id !== leaving),
            // node-lost: the host's node died, so to its participants the host has gone.
            message: { type: 'disconnect', connectionId: roomId, reason: closeReason(after.context.closedReason) },
          },
        ];
      }
      if (e.type !== 'room.member.left') return [];
      const { participantId } = e.data;
      if (!before?.context.members?.[participantId]) return [];
      return [
        { to: after.context.hostId ? [after.context.hostId] : [], message: { type: 'participant-left', connectionId: roomId, participantId } },
        membersMessage(roomId, after),
      ];
    }

    case 'peer.requested': {
      const d = e.data;
      const started = {
        connectionId: d.roomId,
        recordingId: d.recordingId,
        status: 'recording' as const,
        layout: d.layout,
        format: d.format,
        startedAt: iso(d.startedAt),
      };
      return [
        { to: [d.participantId], message: { type: 'recording-started', ...started } },
        {
          to: [d.participantId],
          message: { type: 'recording-peer-request', ...started, mediaMode: 'webrtc-sendonly', participantId: d.participantId },
        },
      ];
    }

    case 'recording.stop.requested':
    case 'recording.failed': {
      // A failed session ends too: clients close their recorder peers on recording-stopped.
      const c = after.context;
      if (!c.roomId) return [];
      const to = new Set([...Object.keys(c.participants ?? {}), ...memberIds(get(roomStream(c.roomId)))]);
      return [
        {
          to: [...to],
          message: {
            type: 'recording-stopped',
            connectionId: c.roomId,
            recordingId: c.recordingId,
            status: 'stopped',
            layout: c.layout,
            format: c.format,
            startedAt: iso(c.startedAt),
            stoppedAt: iso(c.stoppedAt ?? event.time),
            ...(e.type === 'recording.failed' ? { error: e.data.error } : {}),
          },
        },
      ];
    }

    case 'peer.answered':
    case 'peer.candidate.gathered':
    case 'peer.offer.received':
    case 'peer.offer.failed': {
      const c = after.context;
      const ref = { recordingId: c.recordingId as string, connectionId: c.roomId as string, participantId: c.participantId as string };
      const to = [ref.participantId];
      if (e.type === 'peer.answered') {
        return [{ to, message: { type: 'recording-answer', ...ref, sdp: e.data.sdp } }];
      }
      if (e.type === 'peer.candidate.gathered') {
        const { candidate, sdpMid, sdpMLineIndex } = e.data;
        return [{ to, message: { type: 'recording-candidate', ...ref, candidate, sdpMid, sdpMLineIndex } }];
      }
      if (e.type === 'peer.offer.received') return [{ to, message: { type: 'recording-status', ...ref, status: 'offer-received' } }];
      const status = 'status' in e.data ? String(e.data.status) : 'offer-failed';
      return [{ to, message: { type: 'recording-status', ...ref, status, message: e.data.error } }];
    }

    default:
      return [];
  }
}
