import type { IncomingMessage, ServerResponse } from 'node:http';
import { canSee, mayControl, mayView, tokenOf, TOKEN_COOKIE, type AccessControl, type Decision, type Principal } from '../auth/index.js';
import { HttpError } from './respond.js';

/**
 * What one request may do. Without access control everyone may do
 * everything (`principal` is null); with it, `control` and `view` throw the
 * 403 the policy words.
 */
export interface Caller {
  principal: Principal | null;
  /** Whether lists may show this room. */
  sees(roomId: string): boolean;
  view(roomId: string): void;
  control(roomId: string): void;
}

const enforce = (d: Decision) => {
  if (!d.ok) throw new HttpError(d.status, d.message);
};

export const anyone: Caller = { principal: null, sees: () => true, view: () => {}, control: () => {} };

export function callerOf(principal: Principal): Caller {
  return {
    principal,
    sees: (roomId) => canSee(principal, roomId),
    view: (roomId) => enforce(mayView(principal, roomId)),
    control: (roomId) => enforce(mayControl(principal, roomId)),
  };
}

/** 401 for a missing, forged or expired token; the caller otherwise. */
export async function authenticate(access: AccessControl, req: IncomingMessage): Promise<Caller> {
  if (!access.enabled) return anyone;
  const check = await access.verify(tokenOf(req)?.token);
  if (!check.ok) throw new HttpError(401, check.message, {}, { 'www-authenticate': 'Bearer' });
  return callerOf(check.principal);
}

/** Sets CORS headers for an ALLOWED_ORIGINS origin (only those get any). */
export function cors(access: AccessControl, req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin;
  if (!origin) return;
  res.setHeader('vary', 'Origin');
  if (!access.origins.listed(origin)) return;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-expose-headers', 'content-range, accept-ranges, content-length, content-disposition');
}

/** Answers a CORS preflight: allowed only for ALLOWED_ORIGINS. */
export function preflight(access: AccessControl, req: IncomingMessage, res: ServerResponse): void {
  if (!access.origins.listed(req.headers.origin ?? '')) throw new HttpError(403, `origin ${String(req.headers.origin).slice(0, 200)} is not allowed`);
  res.writeHead(204, {
    'access-control-allow-methods': 'GET, HEAD, POST, DELETE',
    'access-control-allow-headers': 'authorization, content-type, range',
    'access-control-max-age': '600',
  });
  res.end();
}

/**
 * A state-changing request must not come from another site: its Origin, when
 * present, is the server's own or listed; a body must be JSON (a cross-site
 * form can post text/plain, urlencoded or multipart without a preflight).
 * A DELETE without a body needs no Content-Type: browsers cannot send a
 * cross-site DELETE without a preflight, which only listed origins pass, and
 * field clients send it bare.
 */
export function refuseCrossSite(access: AccessControl, req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !access.origins.allowed(origin, req.headers.host)) {
    throw new HttpError(403, `cross-site request refused: origin ${origin.slice(0, 200)} is not allowed`);
  }
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (req.method === 'POST' || hasBody) {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') throw new HttpError(415, 'a request that changes state must have Content-Type: application/json');
  }
}

/**
 * `GET /?token=`: checks the token, keeps it in an HttpOnly cookie and sends
 * the browser to the same page without it (so it is not left in history,
 * logs or Referer). Other query parameters (room, name) are kept.
 */
export async function tokenLanding(
  access: AccessControl,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  secure: boolean,
  page: '/' | '/console' = '/',
): Promise<void> {
  const check = await access.verify(query.get('token'));
  if (!check.ok) throw new HttpError(401, check.message);
  const rest = new URLSearchParams(query);
  rest.delete('token');
  const maxAge = Math.max(0, check.principal.exp - Math.floor(Date.now() / 1000));
  const cookie = [`${TOKEN_COOKIE}=${query.get('token')}`, 'HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${maxAge}`, ...(secure ? ['Secure'] : [])];
  const location = rest.size > 0 ? `${page}?${rest}` : page;
  res.writeHead(303, { location, 'set-cookie': cookie.join('; '), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  res.end();
}
