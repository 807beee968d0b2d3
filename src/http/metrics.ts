import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenOf, type AccessControl } from '../auth/index.js';
import type { Metrics } from '../integrations/metrics.js';
import { HttpError } from './respond.js';

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * GET /metrics (Prometheus text format). With access control on, or with
 * METRICS_TOKEN set, the request needs `Authorization: Bearer` with that
 * token or an operator's.
 */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, metrics: Metrics, access: AccessControl, metricsToken: string | undefined) {
  if (access.enabled || metricsToken) {
    const token = tokenOf(req)?.token;
    if (!token) throw new HttpError(401, 'metrics need a bearer token', {}, { 'www-authenticate': 'Bearer' });
    if (!(metricsToken && same(token, metricsToken))) {
      const check = access.enabled ? await access.verify(token) : null;
      if (!check?.ok) throw new HttpError(401, check?.message ?? 'not the metrics token', {}, { 'www-authenticate': 'Bearer' });
      if (check.principal.role !== 'operator') throw new HttpError(403, 'metrics need an operator token');
    }
  }
  const text = await metrics.text();
  res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}
