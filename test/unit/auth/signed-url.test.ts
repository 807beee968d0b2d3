import { describe, expect, it } from 'vitest';
import { createUrlSigner } from '../../../src/auth/signed-url.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';
const PATH = '/api/recordings/room-1/1700000000000-rec-composed.webm/stream';
const parse = (url: string) => {
  const [path, q] = url.split('?');
  return [path, new URLSearchParams(q)] as const;
};

describe('signed file links', () => {
  it('accepts its own link until it expires', () => {
    let now = 1_700_000_000_000;
    const signer = createUrlSigner(SECRET, 3600, () => now);
    const url = signer.sign(PATH);
    expect(url).toMatch(/\?exp=\d+&sig=[A-Za-z0-9_-]{43}$/);
    expect(signer.check(...parse(url))).toBe('ok');
    now += 3601_000;
    expect(signer.check(...parse(url))).toBe('expired');
  });

  it('refuses an unsigned, altered or foreign link', () => {
    const signer = createUrlSigner(SECRET, 3600);
    const [path, q] = parse(signer.sign(PATH));
    expect(signer.check(path, new URLSearchParams())).toBe('missing');
    expect(signer.check(path.replace('room-1', 'room-2'), q)).toBe('invalid');
    expect(signer.check(path.replace('/stream', '/download'), q)).toBe('invalid');
    expect(signer.check(path, new URLSearchParams({ exp: String(Number(q.get('exp')) + 9999), sig: q.get('sig')! }))).toBe('invalid');
    expect(signer.check(path, new URLSearchParams({ exp: q.get('exp')!, sig: 'A'.repeat(43) }))).toBe('invalid');
    expect(signer.check(path, new URLSearchParams({ exp: q.get('exp')! }))).toBe('invalid');
    expect(signer.check(path, new URLSearchParams({ exp: '1e99', sig: q.get('sig')! }))).toBe('invalid');
    const other = createUrlSigner('another-secret-of-at-least-32-characters', 3600);
    expect(other.check(path, q)).toBe('invalid');
  });
});
