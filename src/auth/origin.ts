/**
 * Which origins may act on the API and open sockets (issue 14): the server's
 * own (the request's Host, or PUBLIC_URL) and ALLOWED_ORIGINS. CORS headers go
 * only to ALLOWED_ORIGINS. Origins are compared as `scheme://host[:port]`.
 */
export interface OriginPolicy {
  /** Listed in ALLOWED_ORIGINS. */
  listed(origin: string): boolean;
  /** The server's own origin for a request that arrived with this Host header. */
  own(origin: string, host: string | undefined): boolean;
  /** own or listed. */
  allowed(origin: string, host: string | undefined): boolean;
  /** Whether ALLOWED_ORIGINS was set at all. */
  readonly restricted: boolean;
}

/** `scheme://host[:port]` of an http(s) URL, lower-cased; null when it is not one. */
export const originOf = (origin: string): string | null => {
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
};

export function createOriginPolicy({ allowedOrigins, publicUrl }: { allowedOrigins: string[]; publicUrl?: string }): OriginPolicy {
  const listed = new Set(allowedOrigins.map(originOf).filter((o): o is string => o !== null));
  const publicOrigin = publicUrl ? originOf(publicUrl) : null;
  const policy: OriginPolicy = {
    restricted: listed.size > 0,
    listed: (origin) => {
      const o = originOf(origin);
      return o !== null && listed.has(o);
    },
    own(origin, host) {
      const o = originOf(origin);
      if (o === null) return false;
      if (o === publicOrigin) return true;
      // Same host and port as the request was sent to; the scheme may differ behind a TLS-terminating proxy.
      return !!host && new URL(o).host === host.toLowerCase();
    },
    allowed: (origin, host) => policy.own(origin, host) || policy.listed(origin),
  };
  return policy;
}
