import type { Principal } from './tokens.js';

/**
 * What a principal may do and see (issue 14). Pure: the HTTP API and the
 * signaling adapter ask these and word the refusal.
 */
export type Decision = { ok: true } | { ok: false; status: 401 | 403; message: string };

const yes: Decision = { ok: true };
const no = (message: string): Decision => ({ ok: false, status: 403, message });

/** The token names this room (or every room). Operators see every room. */
export function canSee(p: Principal, roomId: string): boolean {
  return p.role === 'operator' || p.room === '*' || p.room === roomId;
}

/** Start or stop a recording, or compose one again: the room's host, or an operator. */
export function mayControl(p: Principal, roomId: string): Decision {
  if (p.role === 'operator') return yes;
  if (!canSee(p, roomId)) return no(`this token is for room ${p.room}, not ${roomId}`);
  if (p.role !== 'host') return no(`a ${p.role} token may not start, stop or compose recordings`);
  return yes;
}

/** Read a room's sessions, compositions and files. */
export function mayView(p: Principal, roomId: string): Decision {
  return canSee(p, roomId) ? yes : no(`this token is for room ${p.room}, not ${roomId}`);
}

/**
 * Join a room's signaling. `roomIsOpen`: the room has a host right now.
 * Only a host token may open a room (no squatting); anyone the token admits
 * may join an open one.
 */
export function mayJoin(p: Principal, roomId: string, roomIsOpen: boolean): Decision {
  if (!canSee(p, roomId)) return no(`this token is for room ${p.room}, not ${roomId}`);
  if (!roomIsOpen && p.role !== 'host') return no(`room ${roomId} has no host yet; only a host token can open it`);
  return yes;
}

/** Whether joining may make this principal the room's host. */
export const mayHost = (p: Principal, roomId: string): boolean => p.role === 'host' && canSee(p, roomId);

/** The member's identity: the token's name wins over the one the client sent. */
export function memberName(p: Principal | null, sent: string | undefined): string | null {
  return p?.name ?? sent ?? null;
}
