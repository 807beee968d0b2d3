import type { IncomingMessage } from 'node:http';
import { createOriginPolicy, type OriginPolicy } from './origin.js';
import { createUrlSigner, type UrlCheck } from './signed-url.js';
import { createTokens, type Principal, type TokenCheck, type Tokens } from './tokens.js';

export { canSee, mayControl, mayHost, mayJoin, mayView, memberName, type Decision } from './policy.js';
export { createOriginPolicy, originOf, type OriginPolicy } from './origin.js';
export { createUrlSigner, type UrlCheck, type UrlSigner } from './signed-url.js';
export { createTokens, parseTtl, ROLES, type Principal, type Role, type TokenCheck, type TokenClaims, type Tokens } from './tokens.js';

/** The cookie `GET /?token=` sets; HTTP requests and socket upgrades read it. */
export const TOKEN_COOKIE = 'recorder_token';

export interface AccessOptions {
  /** Unset: access control is off. */
  secret?: string;
  allowedOrigins?: string[];
  publicUrl?: string;
  signedUrlTtlSeconds?: number;
  now?: () => number;
}

/** Where a request's token came from. */
export type TokenSource = 'header' | 'cookie' | 'query';

export interface AccessControl {
  readonly enabled: boolean;
  readonly origins: OriginPolicy;
  /** Null when access control is off. */
  readonly tokens: Tokens | null;
  /** Checks a token (a missing one is `missing`). */
  verify(token: string | null | undefined): Promise<TokenCheck>;
  /** A file link as API answers carry it: signed when access control is on. */
  fileUrl(path: string): string;
  checkFileUrl(path: string, query: URLSearchParams): UrlCheck;
  /** Seconds a signed link lives. */
  readonly signedUrlTtlSeconds: number;
}

export function createAccessControl({ secret, allowedOrigins = [], publicUrl, signedUrlTtlSeconds = 3600, now = Date.now }: AccessOptions = {}): AccessControl {
  const origins = createOriginPolicy({ allowedOrigins, publicUrl });
  const tokens = secret ? createTokens(secret, now) : null;
  const urls = secret ? createUrlSigner(secret, signedUrlTtlSeconds, now) : null;
  return {
    enabled: tokens !== null,
    origins,
    tokens,
    signedUrlTtlSeconds,
    verify: (token) => (tokens ? tokens.verify(token) : Promise.resolve({ ok: false, reason: 'invalid', message: 'access control is off' })),
    fileUrl: (path) => (urls ? urls.sign(path) : path),
    checkFileUrl: (path, query) => (urls ? urls.check(path, query) : 'ok'),
  };
}

/** The value of one cookie, or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/**
 * The token a request carries: `Authorization: Bearer`, then `?token=` (only
 * where `query` is given: the socket URL), then the cookie.
 */
export function tokenOf(req: IncomingMessage, query?: URLSearchParams): { token: string; source: TokenSource } | null {
  const auth = req.headers.authorization;
  const bearer = auth && /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
  if (bearer) return { token: bearer, source: 'header' };
  const q = query?.get('token');
  if (q) return { token: q, source: 'query' };
  const cookie = cookieValue(req.headers.cookie, TOKEN_COOKIE);
  if (cookie) return { token: cookie, source: 'cookie' };
  return null;
}

