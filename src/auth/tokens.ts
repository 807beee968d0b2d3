import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { idSchema } from '../../events/ids.js';

/**
 * Access tokens: JWTs signed HS256 with AUTH_SECRET (issue 14). The claims
 * are the interface tools/token.ts and any other issuer must keep.
 */
export const ROLES = ['host', 'participant', 'operator'] as const;
export type Role = (typeof ROLES)[number];

const claimsSchema = z.object({
  /** The user id. */
  sub: z.string().min(1).max(128),
  /** Display name; wins over a name the client sends. */
  name: z.string().min(1).max(100).optional(),
  /** A room (connectionId), or `*` for every room. */
  room: z.union([z.literal('*'), idSchema]),
  role: z.enum(ROLES),
  exp: z.number().int(),
  iat: z.number().int().optional(),
});

/** Who a request or socket acts as, once its token checked out. */
export interface Principal {
  sub: string;
  name: string | null;
  room: string;
  role: Role;
  /** Expiry, seconds since epoch. */
  exp: number;
}

export type TokenCheck =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired'; message: string };

export interface TokenClaims {
  sub: string;
  name?: string;
  room: string;
  role: Role;
}

export interface Tokens {
  sign(claims: TokenClaims, ttlSeconds: number): Promise<string>;
  verify(token: string | null | undefined): Promise<TokenCheck>;
}

/** Tokens longer than this are not parsed at all. */
const MAX_TOKEN_CHARS = 4096;

export function createTokens(secret: string, now: () => number = Date.now): Tokens {
  if (secret.length < 32) throw new Error('AUTH_SECRET must be at least 32 characters');
  const raw = new TextEncoder().encode(secret);
  // Imported once: importing the key per request would double the cost of a check.
  const key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const seconds = () => Math.floor(now() / 1000);

  return {
    async sign(claims, ttlSeconds) {
      const parsed = claimsSchema.omit({ exp: true, iat: true }).parse(claims);
      const iat = seconds();
      return new SignJWT({ ...parsed })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .sign(await key);
    },
    async verify(token) {
      if (!token) return { ok: false, reason: 'missing', message: 'access token required' };
      if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'invalid', message: 'access token is invalid' };
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, await key, {
          algorithms: ['HS256'],
          requiredClaims: ['exp', 'sub', 'room', 'role'],
          currentDate: new Date(now()),
        }));
      } catch (err) {
        if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired', message: 'access token has expired' };
        return { ok: false, reason: 'invalid', message: 'access token is invalid' };
      }
      const c = claimsSchema.safeParse(payload);
      if (!c.success) return { ok: false, reason: 'invalid', message: `access token is invalid: ${c.error.issues[0]?.path.join('.') || 'claims'}` };
      const { sub, name, room, role, exp } = c.data;
      return { ok: true, principal: { sub, name: name ?? null, room, role, exp } };
    },
  };
}

/** `2h`, `30m`, `45s`, `7d` or plain seconds → seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`bad duration ${JSON.stringify(text)}: use e.g. 90s, 30m, 2h, 7d`);
  const n = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (n <= 0) throw new Error('a token must live at least one second');
  return n;
}
