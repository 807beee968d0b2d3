import type { ClientMessage, ClientMessageOf, ServerMessage, ServerMessageOf } from '../../events/wire.js';
import { peerStream, roomStream } from '../../machines/actions.js';
import { memberDisplayName } from '../../events/names.js';
import { mayHost, mayJoin, type Principal } from '../auth/index.js';
import type { DispatchResult, Runtime } from '../runtime/runtime.js';
import type { EventDataInput } from '../runtime/types.js';
import type { Connection, Connections, LeaveReason } from './connections.js';
import { DEFAULT_LIMITS, type SignalingLimits } from './limits.js';
import { createRelay, type Relay } from './relay.js';

export interface InboundDeps {
  runtime: Runtime;
  connections: Connections;
  nodeId: string;
  newId: () => string;
  limits?: Pick<SignalingLimits, 'membersPerRoom' | 'liveRooms' | 'reoffersPerMinute'>;
  /** With access control on: who the socket's token says it is (null: refuse everything). */
  principalOf?: (conn: Connection) => Principal | null;
  /** True while the process drains (SIGTERM): rooms without a socket here are not opened or joined. */
  draining?: () => boolean;
  /** Relayed messages to members on other nodes (NATS mode); default: this process's sockets only. */
  relay?: Relay;
}

/**
 * Turns one parsed client message into events (runtime.dispatch) or, for
 * meeting media, relays it to the other sockets of the room. Decisions
 * (roles, whether an offer is acceptable) are the machines'; this only reads
 * the dispatch result to word the reply.
 */
export function createInbound({ runtime, connections, nodeId, newId, limits = DEFAULT_LIMITS, principalOf, draining, relay: relayTo }: InboundDeps) {
  const rooms = relayTo ?? createRelay({ runtime, connections, nodeId });
  const send = (conn: Connection, message: ServerMessage, opts?: { relayed?: boolean }) => connections.send(conn, message, opts);
  const error = (conn: Connection, message: string): void => void send(conn, { type: 'error', message });

  const connectReply = (conn: Connection, role: 'host' | 'participant'): ServerMessageOf<'connect'> => ({
    type: 'connect',
    connectionId: conn.roomId!,
    polite: role !== 'host',
    role,
    participantId: conn.participantId!,
  });

  async function connect(conn: Connection, msg: ClientMessageOf<'connect'>) {
    if (conn.roomId) {
      if (conn.roomId !== msg.connectionId) return error(conn, `this socket is already in room ${conn.roomId}; send disconnect first`);
      const member = runtime.get(roomStream(conn.roomId))?.context.members[conn.participantId!];
      return member ? void send(conn, connectReply(conn, member.role)) : error(conn, `not a member of room ${conn.roomId}`);
    }
    // Checked and joined in one synchronous step, so concurrent joins cannot overshoot.
    const roomId = msg.connectionId;
    const members = Object.keys(runtime.get(roomStream(roomId))?.context.members ?? {}).length;
    if (Math.max(members, connections.countInRoom(roomId)) >= limits.membersPerRoom) {
      conn.log.info({ roomId, limit: limits.membersPerRoom }, 'join refused: room is full');
      return error(conn, `room ${roomId} is full: at most ${limits.membersPerRoom} members`);
    }
    if (connections.countInRoom(roomId) === 0 && draining?.()) {
      conn.log.info({ roomId }, 'join refused: draining');
      return error(conn, `room ${roomId} refused: this server is shutting down; connect again to reach another one`);
    }
    if (connections.countInRoom(roomId) === 0 && connections.roomCount >= limits.liveRooms) {
      conn.log.warn({ roomId, limit: limits.liveRooms }, 'join refused: too many live rooms');
      return error(conn, `room ${roomId} refused: this server already holds ${limits.liveRooms} live rooms`);
    }
    const principal = principalOf ? principalOf(conn) : null;
    if (principalOf) {
      if (!principal || principal.exp * 1000 <= Date.now()) return error(conn, 'access token has expired; reconnect with a fresh one');
      // Checked in the same tick as the join is stepped: a room cannot open or close in between.
      const open = runtime.get(roomStream(msg.connectionId))?.value === 'open';
      const d = mayJoin(principal, msg.connectionId, open);
      if (!d.ok) {
        conn.log.info({ roomId: msg.connectionId, why: d.message }, 'join refused');
        return error(conn, d.message);
      }
    }
    const participantId = newId();
    connections.join(conn, msg.connectionId, participantId);
    conn.log = conn.baseLog.child({ roomId: msg.connectionId, participantId });
    // Messages the join causes (members, a late joiner's recording-peer-request) wait for the connect reply.
    conn.outbox = [];
    let r: DispatchResult;
    try {
      r = await runtime.dispatch({
        stream: roomStream(msg.connectionId),
        type: 'room.member.joined',
        data: {
          participantId,
          name: memberDisplayName({ token: principal?.name, connect: msg.name }),
          nodeId,
          ...(principal?.sub ? { userId: principal.sub } : {}),
          ...(memberDisplayName({ token: principal?.name }) ? { nameFromToken: true } : {}),
        },
      }, { command: true });
    } catch (err) {
      conn.log.error({ err }, 'join failed');
      r = { accepted: false, reason: 'rejected', message: 'the room could not be joined' };
    }
    const member = r.accepted ? r.snapshot.context.members[participantId] : undefined;
    if (!r.accepted && r.reason === 'unavailable' && runtime.get(roomStream(msg.connectionId))?.context.members[participantId]) {
      // The join is kept until the log takes it: so is its undoing, behind it.
      void runtime.dispatch({ stream: roomStream(msg.connectionId), type: 'room.member.left', data: { participantId, reason: 'left' } }).catch(() => {});
    }
    if (!member) {
      connections.detach(conn);
      conn.outbox = null;
      return error(conn, r.accepted ? 'the room did not admit this member' : r.message);
    }
    if (principal && member.role === 'host' && !mayHost(principal, msg.connectionId)) {
      // Only if the room closed between the check and the join (another node's write): undo it.
      conn.log.warn('a non-host token opened the room; leaving it again');
      conn.outbox = null;
      await leave(conn, 'left');
      return error(conn, `room ${msg.connectionId} has no host yet; only a host token can open it`);
    }
    conn.log.info({ role: member.role }, 'member joined');
    connections.release(conn, connectReply(conn, member.role));
  }

  /** The socket leaves its room: by `disconnect`, by closing, or by missing pongs. */
  async function leave(conn: Connection, reason: LeaveReason) {
    const { roomId, participantId } = conn;
    connections.detach(conn);
    if (!roomId || !participantId) return;
    conn.log.info({ reason }, 'member left');
    const r = await runtime.dispatch({ stream: roomStream(roomId), type: 'room.member.left', data: { participantId, reason } });
    if (!r.accepted) conn.log.debug({ why: r.message }, 'leave not applied');
  }

  /** Meeting media and the field's invite-call / on-message: to the room's other members, or to the one named by `to`. */
  function relay(conn: Connection, msg: ClientMessageOf<'offer' | 'answer' | 'candidate' | 'invite-call' | 'on-message'>) {
    const roomId = conn.roomId!;
    const media = msg.type === 'offer' || msg.type === 'answer' || msg.type === 'candidate';
    if (media && msg.data.connectionId !== roomId) return error(conn, `${msg.type} for room ${msg.data.connectionId} ignored: this socket is in room ${roomId}`);
    // the member named by `to` may hold its socket on another node: the room's membership (from the log) decides
    const named = msg.to && msg.to !== roomId ? msg.to : null;
    if (named && (named === conn.participantId || !rooms.hasMember(roomId, named))) return error(conn, `${msg.type}: no member ${msg.to} in room ${roomId}`);
    const routing = { from: roomId, to: '' as const, fromParticipantId: conn.participantId! };
    // invite-call / on-message travel exactly as sent; media gets the time it was relayed.
    const out = (media ? { type: msg.type, ...routing, data: { ...msg.data, datetime: Date.now() } } : { type: msg.type, ...routing, data: msg.data }) as ServerMessage;
    // A recipient that is not keeping up loses relays, not its socket; the sender hears of it.
    const behind = rooms.deliver(conn, named, out);
    if (behind.length) error(conn, `${msg.type} dropped for ${behind.map((c) => c.participantId).join(', ')}: the recipient is not keeping up`);
  }

  /** host-userInfo: the member's identity (name, userId, avatar) for name plates and the recording's metadata. */
  async function identify(conn: Connection, msg: ClientMessageOf<'host-userInfo'>) {
    const r = await runtime.dispatch(
      { stream: roomStream(conn.roomId!), type: 'room.member.identified', data: { participantId: conn.participantId!, userInfo: msg.data } },
      { command: true },
    );
    if (r.accepted) return void conn.log.info({ userId: msg.data.userId }, 'member identified');
    conn.log.info({ why: r.message }, 'host-userInfo not applied');
    error(conn, `host-userInfo not applied: ${r.message}`);
  }

  type RecordingMessage = ClientMessageOf<'recording-offer' | 'recording-candidate' | 'recording-status'>;

  /** Dispatches to the socket's own recorder peer; the participantId the message claims is ignored. */
  /** The peer events a client's recording message becomes (typed by the catalog). */
  type PeerInput = 'peer.offer.received' | 'peer.candidate.received' | 'peer.status.reported';
  async function toPeer<T extends PeerInput>(conn: Connection, msg: RecordingMessage, type: T, data: EventDataInput<T>, rejected: string | null) {
    const roomId = conn.roomId!;
    const participantId = conn.participantId!;
    const { recordingId } = msg.data;
    if (msg.data.connectionId !== roomId) {
      return error(conn, `${msg.type} for room ${msg.data.connectionId} ignored: this socket is in room ${roomId}`);
    }
    const isOffer = msg.type === 'recording-offer';
    if (isOffer && !conn.offers.allows(recordingId)) {
      conn.log.info({ recordingId, limit: limits.reoffersPerMinute }, 'recording-offer refused: too many re-offers');
      return error(conn, `recording-offer refused: at most ${limits.reoffersPerMinute} re-offers per recorder peer per minute`);
    }
    const r = await runtime.dispatch<T>({ stream: peerStream(recordingId, participantId), type, data }, { mustExist: true, command: true });
    if (r.accepted && isOffer) conn.offers.record(recordingId);
    if (r.accepted) return;
    if (r.reason === 'unavailable') return error(conn, r.message);
    conn.log.info({ recordingId, messageType: msg.type, why: r.message }, 'recording message not accepted');
    if (rejected === null) return;
    const status = r.reason === 'unknown-stream' ? 'recorder-unavailable' : rejected;
    send(conn, { type: 'recording-status', recordingId, connectionId: roomId, participantId, status, message: r.message });
  }

  return {
    leave,
    async handle(conn: Connection, msg: ClientMessage): Promise<void> {
      if (msg.type === 'connect') return connect(conn, msg);
      if (msg.type === 'disconnect') {
        // Leaving a room this socket is not in is a no-op (clients send it after a host-left too).
        if (conn.roomId === msg.connectionId) await leave(conn, 'left');
        return;
      }
      if (!conn.roomId || !conn.participantId) return error(conn, `${msg.type}: send connect first`);
      switch (msg.type) {
        case 'offer':
        case 'answer':
        case 'candidate':
        case 'invite-call':
        case 'on-message':
          return relay(conn, msg);
        case 'host-userInfo':
          return identify(conn, msg);
        case 'recording-offer':
          return toPeer(conn, msg, 'peer.offer.received', { sdp: msg.data.sdp }, 'invalid-offer');
        case 'recording-candidate':
          return toPeer(
            conn,
            msg,
            'peer.candidate.received',
            { candidate: msg.data.candidate, sdpMid: msg.data.sdpMid ?? null, sdpMLineIndex: msg.data.sdpMLineIndex ?? null },
            'candidate-rejected',
          );
        case 'recording-status':
          return toPeer(conn, msg, 'peer.status.reported', { status: msg.data.status }, null);
      }
    },
  };
}
