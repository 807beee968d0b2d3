import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import type { ServerMessage } from '../../events/wire.js';
import type { FloodGuard, OfferWindow } from './limits.js';

export type LeaveReason = 'left' | 'socket-closed' | 'timed-out';

/** One signaling socket of this process. */
export interface Connection {
  readonly id: number;
  readonly ws: WebSocket;
  /** The room this socket is a member of (at most one). */
  roomId: string | null;
  /** Server-assigned at `connect`; kept after a host-left close so the final recording-stopped still reaches it. */
  participantId: string | null;
  /** Messages held back until the `connect` reply has gone out. */
  outbox: ServerMessage[] | null;
  alive: boolean;
  /** Why the socket is going away, when the server decided it. */
  closeReason: LeaveReason | null;
  /** Inbound messages are handled one after another, in arrival order. */
  queue: Promise<void>;
  /** Inbound messages queued or being handled. */
  inFlight: number;
  /** The client address the socket came from (sockets per address). */
  readonly address: string;
  /** The socket's message budget (token bucket). */
  readonly flood: FloodGuard;
  /** Its accepted recording-offers per recording, for the re-offer limit. */
  readonly offers: OfferWindow;
  /** The socket's logger; `log` adds the room and participant once joined. */
  readonly baseLog: Logger;
  log: Logger;
}

/** A socket buffering more than this is not reading: drop it rather than grow without bound. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * Relayed meeting media (another member's offers, candidates) is dropped, not
 * queued, for a socket buffering more than this: a member flooding the room
 * must not make the server cut the recipient off (the host leaving closes the room).
 */
export const RELAY_HIGH_WATER_BYTES = 1024 * 1024;

/** The sockets of this process, by room and by participant. */
export function createConnections() {
  const all = new Set<Connection>();
  const byParticipant = new Map<string, Connection>();
  const byRoom = new Map<string, Set<Connection>>();

  /** Sends (or holds) a message; false when a relayed one was dropped for a recipient that is not keeping up. */
  function send(conn: Connection, message: ServerMessage, opts: { relayed?: boolean } = {}): boolean {
    if (conn.outbox) {
      conn.outbox.push(message);
      return true;
    }
    if (conn.ws.readyState !== WebSocket.OPEN) return true;
    if (opts.relayed && conn.ws.bufferedAmount > RELAY_HIGH_WATER_BYTES) return false;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.log.warn({ buffered: conn.ws.bufferedAmount }, 'socket is not reading; terminating it');
      conn.closeReason = 'timed-out';
      conn.ws.terminate();
      return true;
    }
    conn.ws.send(JSON.stringify(message));
    return true;
  }

  return {
    all,
    send,
    /** Sends `first`, then the held-back messages, and lets later ones through directly. */
    release(conn: Connection, first?: ServerMessage): void {
      const held = conn.outbox ?? [];
      conn.outbox = null;
      for (const m of first ? [first, ...held] : held) send(conn, m);
    },
    join(conn: Connection, roomId: string, participantId: string): void {
      if (conn.participantId && byParticipant.get(conn.participantId) === conn) byParticipant.delete(conn.participantId);
      conn.roomId = roomId;
      conn.participantId = participantId;
      byParticipant.set(participantId, conn);
      let room = byRoom.get(roomId);
      if (!room) byRoom.set(roomId, (room = new Set()));
      room.add(conn);
    },
    /** Takes the socket out of its room; `keepParticipant` lets messages for its old id still arrive. */
    detach(conn: Connection, keepParticipant = false): void {
      if (conn.roomId) {
        const room = byRoom.get(conn.roomId);
        room?.delete(conn);
        if (room?.size === 0) byRoom.delete(conn.roomId);
      }
      conn.roomId = null;
      if (!keepParticipant) {
        if (conn.participantId && byParticipant.get(conn.participantId) === conn) byParticipant.delete(conn.participantId);
        conn.participantId = null;
      }
    },
    byParticipant: (participantId: string) => byParticipant.get(participantId),
    inRoom: (roomId: string): Connection[] => [...(byRoom.get(roomId) ?? [])],
    /** Sockets of this process in the room (joins in flight included). */
    countInRoom: (roomId: string) => byRoom.get(roomId)?.size ?? 0,
    /** Rooms with at least one socket of this process. */
    get roomCount() {
      return byRoom.size;
    },
  };
}
export type Connections = ReturnType<typeof createConnections>;
