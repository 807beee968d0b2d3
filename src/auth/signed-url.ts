import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Signed file links: `<path>?exp=<seconds>&sig=<HMAC-SHA256(exp \n path)>`,
 * so a `<video src>` or a plain download works without headers. The key is
 * derived from AUTH_SECRET (HKDF), never the secret itself, so a link can't
 * be turned into a token or the other way round.
 */
export type UrlCheck = 'ok' | 'missing' | 'expired' | 'invalid';

export interface UrlSigner {
  /** `path` as the server will see it (already percent-encoded). */
  sign(path: string): string;
  check(path: string, query: URLSearchParams): UrlCheck;
}

export function createUrlSigner(secret: string, ttlSeconds: number, now: () => number = Date.now): UrlSigner {
  const key = Buffer.from(hkdfSync('sha256', secret, 'meeting-recorder', 'signed-url v1', 32));
  const mac = (exp: string, path: string) => createHmac('sha256', key).update(`${exp}\n${path}`).digest();

  return {
    sign(path) {
      const exp = String(Math.floor(now() / 1000) + ttlSeconds);
      return `${path}?exp=${exp}&sig=${mac(exp, path).toString('base64url')}`;
    },
    check(path, query) {
      const exp = query.get('exp');
      const sig = query.get('sig');
      if (exp === null && sig === null) return 'missing';
      if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return 'invalid';
      const expected = mac(exp, path);
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
      return Number(exp) * 1000 < now() ? 'expired' : 'ok';
    },
  };
}
