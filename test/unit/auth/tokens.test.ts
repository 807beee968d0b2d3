import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokens, parseTtl } from '../../../src/auth/tokens.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';
const key = new TextEncoder().encode(SECRET);

describe('access tokens', () => {
  it('round-trips the claims of the interface', async () => {
    const tokens = createTokens(SECRET);
    const t = await tokens.sign({ sub: 'u1', name: 'Alice', room: 'room-1', role: 'host' }, 60);
    const r = await tokens.verify(t);
    expect(r).toMatchObject({ ok: true, principal: { sub: 'u1', name: 'Alice', room: 'room-1', role: 'host' } });
    if (r.ok) expect(r.principal.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(55);
  });

  it('refuses a missing, forged, expired, tampered or wrongly signed token', async () => {
    let now = Date.now();
    const tokens = createTokens(SECRET, () => now);
    const good = await tokens.sign({ sub: 'u1', room: 'r', role: 'participant' }, 60);
    expect(await tokens.verify(undefined)).toMatchObject({ ok: false, reason: 'missing' });
    expect(await tokens.verify('')).toMatchObject({ ok: false, reason: 'missing' });
    expect(await tokens.verify('not.a.jwt')).toMatchObject({ ok: false, reason: 'invalid' });
    const forged = await createTokens('another-secret-of-at-least-32-characters').sign({ sub: 'u1', room: 'r', role: 'host' }, 60);
    expect(await tokens.verify(forged)).toMatchObject({ ok: false, reason: 'invalid' });
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, role: 'host' })).toString('base64url')}.${s}`;
    expect(await tokens.verify(tampered)).toMatchObject({ ok: false, reason: 'invalid' });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect(await tokens.verify(none)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await tokens.verify('x'.repeat(5000))).toMatchObject({ ok: false, reason: 'invalid' });
    now += 61_000;
    expect(await tokens.verify(good)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('requires exp and well-formed claims', async () => {
    const tokens = createTokens(SECRET);
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect(await tokens.verify(await sign({ sub: 'u', room: 'r', role: 'host' }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await tokens.verify(await sign({ sub: 'u', room: 'r', role: 'admin', exp }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await tokens.verify(await sign({ sub: 'u', room: '../x', role: 'host', exp }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await tokens.verify(await sign({ sub: 'u', room: '*', role: 'operator', exp }))).toMatchObject({ ok: true });
  });

  it('refuses a secret shorter than 32 characters', () => {
    expect(() => createTokens('short')).toThrow(/32/);
  });

  it('reads durations', () => {
    expect(parseTtl('2h')).toBe(7200);
    expect(parseTtl('30m')).toBe(1800);
    expect(parseTtl('45')).toBe(45);
    expect(parseTtl('7d')).toBe(604_800);
    expect(() => parseTtl('soon')).toThrow(/duration/);
    expect(() => parseTtl('0s')).toThrow();
  });
});
