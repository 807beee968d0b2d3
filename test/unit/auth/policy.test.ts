import { describe, expect, it } from 'vitest';
import { canSee, mayControl, mayHost, mayJoin, mayView, memberName } from '../../../src/auth/policy.js';
import type { Principal } from '../../../src/auth/tokens.js';

const p = (role: Principal['role'], room = 'room-1', name: string | null = null): Principal => ({ sub: 'u', name, room, role, exp: 0 });

describe('what a principal may do', () => {
  it('sees its own room; `*` and operators see every room', () => {
    expect(canSee(p('participant'), 'room-1')).toBe(true);
    expect(canSee(p('participant'), 'room-2')).toBe(false);
    expect(canSee(p('host', '*'), 'room-2')).toBe(true);
    expect(canSee(p('operator', 'room-1'), 'room-2')).toBe(true);
    expect(mayView(p('host'), 'room-2')).toMatchObject({ ok: false, status: 403 });
  });

  it("starts and stops recordings only as the room's host or an operator", () => {
    expect(mayControl(p('host'), 'room-1')).toEqual({ ok: true });
    expect(mayControl(p('operator', 'other'), 'room-1')).toEqual({ ok: true });
    expect(mayControl(p('participant'), 'room-1')).toMatchObject({ ok: false, status: 403, message: /participant/ });
    expect(mayControl(p('host'), 'room-2')).toMatchObject({ ok: false, status: 403, message: /room-1, not room-2/ });
  });

  it('opens a room only with a host token (no squatting); joins an open one with any token for it', () => {
    expect(mayJoin(p('host'), 'room-1', false)).toEqual({ ok: true });
    expect(mayJoin(p('participant'), 'room-1', false)).toMatchObject({ ok: false, message: /no host yet/ });
    expect(mayJoin(p('operator', '*'), 'room-1', false)).toMatchObject({ ok: false });
    expect(mayJoin(p('participant'), 'room-1', true)).toEqual({ ok: true });
    expect(mayJoin(p('participant'), 'room-2', true)).toMatchObject({ ok: false, message: /not room-2/ });
    expect(mayHost(p('host'), 'room-1')).toBe(true);
    expect(mayHost(p('participant'), 'room-1')).toBe(false);
  });

  it("takes the token's name over the one the client sent", () => {
    expect(memberName(p('host', 'r', 'Alice'), 'Mallory')).toBe('Alice');
    expect(memberName(p('host'), 'Bob')).toBe('Bob');
    expect(memberName(null, undefined)).toBeNull();
  });
});
