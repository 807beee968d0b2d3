import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { recordingStream } from '../../machines/actions.js';
import { createAccessControl, tokenOf, type AccessControl } from '../auth/index.js';
import type { Runtime } from '../runtime/runtime.js';
import { authenticate, cors, preflight, refuseCrossSite, tokenLanding, type Caller } from './access.js';
import { getComposition, listCompositions, requestComposition } from './compositions.js';
import { resolveInside, sendFile, sendPublic } from './files.js';
import type { Metrics } from '../integrations/metrics.js';
import { serveMetrics } from './metrics.js';
import { listRecordings, type Person } from './recordings.js';
import { HttpError, sendError, sendJson } from './respond.js';
import { getSession, listSessions, startSession, stopSession, type ApiContext } from './sessions.js';
import { isId } from '../../events/ids.js';
import { openApiDocument } from './openapi.js';
import { getTimeline } from './timeline.js';
import { createConsoleFeed, requireOperator } from './console.js';
import type { EventLog } from '../log/types.js';
import type { LiveCompositionView } from './views.js';

export interface HttpApiOptions {
  runtime: Runtime;
  /** The event log: a recording's timeline is folded from it (without one, the timeline route answers 503). */
  log?: EventLog;
  /** The recordings root (protocol.md section 5). */
  root: string;
  logger: Logger;
  newId: () => string;
  publicDir: string;
  stopWaitMs?: number;
  /** Tokens, signed links and origin rules (default: access control off, no extra origins). */
  access?: AccessControl;
  /** Whether browsers reach this server over https (the token cookie is then Secure). */
  secureCookies?: boolean;
  /** GET /readyz: the log appends, the disk is above the reserve (default: always ready). */
  readiness?: () => Promise<{ ready: boolean; reasons: string[] }>;
  /** Why a new recording cannot be stored now (the disk below the reserve), or null: POST answers 507 with it. */
  storageRefusal?: () => Promise<string | null>;
  /** True once the process drains (SIGTERM): new recordings get 503. */
  draining?: () => boolean;
  /** GET /metrics, when given; METRICS_TOKEN may read it besides an operator token. */
  metrics?: Metrics;
  metricsToken?: string;
  /** A presigned link of an uploaded object (object storage configured). */
  objectUrl?: (key: string) => string | null;
  /** A recording's live composition in this process (src/composer/live). */
  liveStatus?: (recordingId: string) => LiveCompositionView | null;
}

export type HttpApi = ((req: IncomingMessage, res: ServerResponse) => void) & { close(): void };

const FILE_ROUTE = /^(stream|download)$/;

/**
 * The HTTP API of protocol.md section 3 plus the demo page, as a plain
 * node:http request listener. Requests become events; answers are read from
 * the runtime's snapshots.
 */
export function createHttpApi({
  runtime,
  log: eventLog,
  root,
  logger,
  newId,
  publicDir,
  stopWaitMs = 15_000,
  access = createAccessControl(),
  secureCookies = false,
  readiness = async () => ({ ready: true, reasons: [] }),
  storageRefusal,
  draining,
  metrics,
  metricsToken,
  objectUrl,
  liveStatus,
}: HttpApiOptions): HttpApi {
  const log = logger.child({ module: 'http' });
  let apiDocument: ReturnType<typeof openApiDocument> | undefined;
  // Made on the first console request: a server nobody watches pays nothing for it.
  let consoleFeed: ReturnType<typeof createConsoleFeed> | null = null;
  const feed = () => (consoleFeed ??= createConsoleFeed({ runtime, logger: log, accessControl: access.enabled }));
  const ctx: ApiContext = { runtime, logger: log, newId, times: (s) => runtime.times(s), stopWaitMs, fileUrl: access.fileUrl, storageRefusal, draining, objectUrl, liveStatus };

  /** The method, once it is one this route takes; a state-changing one must pass the cross-site rules. */
  function allow(req: IncomingMessage, methods: string[]) {
    const m = req.method ?? 'GET';
    if (!(methods.includes(m) || (m === 'HEAD' && methods.includes('GET')))) {
      throw new HttpError(405, `${m} is not allowed here`, {}, { allow: methods.join(', ') });
    }
    if (m !== 'GET' && m !== 'HEAD') refuseCrossSite(access, req);
    return m === 'HEAD' ? 'GET' : m;
  }

  /** A file link: a valid signature, or a token that may see the room. */
  async function mayRead(req: IncomingMessage, pathname: string, query: URLSearchParams, meetingId: string): Promise<void> {
    const link = access.checkFileUrl(pathname, query);
    if (link === 'ok') return;
    if (access.tokens && tokenOf(req)) return (await authenticate(access, req)).view(meetingId);
    throw new HttpError(403, link === 'missing' ? 'this link is not signed' : link === 'expired' ? 'this link has expired' : 'this link has been altered');
  }

  const lookupRecording = (recordingId: string) => {
    const s = isId(recordingId) ? runtime.get(recordingStream(recordingId)) : undefined;
    if (!s) return undefined;
    const participants: Person[] = Object.entries(s.context.participants as Record<string, { name: string | null; role: Person['role'] }>).map(
      ([participantId, p]) => ({ participantId, name: p.name, role: p.role }),
    );
    return { participants, startedAt: s.context.startedAt, stoppedAt: s.context.stoppedAt };
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    // The raw path, not a normalised one: `..` must reach the checks, not be folded away.
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const parts = pathname.split('/').slice(1);
    cors(access, req, res);
    if (req.method === 'OPTIONS' && req.headers.origin !== undefined) return preflight(access, req, res);
    // Probes for orchestrators: no token needed, nothing revealed beyond the reasons.
    if (pathname === '/healthz') {
      allow(req, ['GET']);
      return sendJson(res, 200, { ok: true });
    }
    if (pathname === '/readyz') {
      allow(req, ['GET']);
      const r = await readiness();
      return sendJson(res, r.ready ? 200 : 503, { ok: r.ready, reasons: r.reasons });
    }
    if (pathname === '/metrics' && metrics && allow(req, ['GET'])) return serveMetrics(req, res, metrics, access, metricsToken);
    if (pathname === '/console') {
      allow(req, ['GET']);
      if (!access.enabled) return sendPublic(req, res, publicDir, '/console.html');
      if (query.has('token')) {
        const check = await access.verify(query.get('token'));
        if (check.ok && check.principal.role !== 'operator') throw new HttpError(403, 'the console needs an operator token');
        return tokenLanding(access, req, res, query, secureCookies, '/console');
      }
      if (!tokenOf(req)) throw new HttpError(401, 'the console needs an operator token: open /console?token=<operator token> (npm run token -- --role operator --room "*")');
      requireOperator(await authenticate(access, req));
      return sendPublic(req, res, publicDir, '/console.html');
    }
    if (parts[0] !== 'api') {
      allow(req, ['GET']);
      if (pathname === '/' && query.has('token') && access.enabled) return tokenLanding(access, req, res, query, secureCookies);
      return sendPublic(req, res, publicDir, pathname);
    }
    const [, resource, id, ...rest] = parts;
    if (resource === 'recordings' && rest.length === 2 && FILE_ROUTE.test(rest[1])) {
      allow(req, ['GET']);
      await mayRead(req, pathname, query, id);
      const file = await resolveInside(root, [id, rest[0]]);
      if (!/\.(webm|mp4|json)$/.test(file)) throw new HttpError(404, 'not found');
      return sendFile(req, res, file, { download: rest[1] === 'download' });
    }
    if (resource === 'openapi.json' && id === undefined) {
      allow(req, ['GET']);
      return sendJson(res, 200, (apiDocument ??= openApiDocument({ accessControl: access.enabled })));
    }
    const who: Caller = await authenticate(access, req);
    const one = id !== undefined && rest.length === 0;
    const none = id === undefined;
    if (resource === 'console' && (id === 'events' || id === 'state') && rest.length === 0) {
      allow(req, ['GET']);
      requireOperator(who);
      return id === 'events' ? feed().serve(req, res) : sendJson(res, 200, { success: true, ...feed().view() });
    }
    if (resource === 'recording-sessions' && none) {
      if (allow(req, ['GET', 'POST']) === 'POST') return startSession(ctx, req, res, who);
      return listSessions(ctx, res, query.get('connectionId'), who);
    }
    if (resource === 'recording-sessions' && one) {
      if (!isId(id)) throw new HttpError(404, `unknown recording session ${id.slice(0, 128)}`);
      if (allow(req, ['GET', 'DELETE']) === 'DELETE') return stopSession(ctx, res, id, query.get('compose') !== 'false', who);
      return getSession(ctx, res, id, who);
    }
    if (resource === 'recording-sessions' && id !== undefined && rest.length === 1 && rest[0] === 'timeline') {
      allow(req, ['GET']);
      if (!eventLog) throw new HttpError(503, 'no event log to build the timeline from');
      return getTimeline({ runtime, log: eventLog, root, logger: log }, res, id, who);
    }
    if (resource === 'recording-compositions' && none) {
      if (allow(req, ['GET', 'POST']) === 'POST') return requestComposition(ctx, req, res, who);
      return listCompositions(ctx, res, query.get('meetingId'), who);
    }
    if (resource === 'recording-compositions' && one) {
      allow(req, ['GET']);
      if (!isId(id)) throw new HttpError(404, `unknown composition job ${id.slice(0, 128)}`);
      return getComposition(ctx, res, id, who);
    }
    if (resource === 'recordings' && none) {
      allow(req, ['GET']);
      const recordings = (await listRecordings(root, lookupRecording, access.fileUrl)).filter((r) => who.sees(r.meetingId));
      return sendJson(res, 200, { success: true, recordings, totalCount: recordings.length });
    }
    throw new HttpError(404, `no route for ${req.method} ${pathname.slice(0, 200)}`);
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        // 503 (log unavailable, draining) and 507 (disk low) are refusals whose cause is already reported elsewhere.
        if (err.status === 503 || err.status === 507) log.warn({ status: err.status, why: err.message, method: req.method, url: req.url }, 'request refused');
        else if (err.status >= 500) log.error({ err, url: req.url }, 'request failed');
        return sendError(res, err);
      }
      log.error({ err, method: req.method, url: req.url }, 'request failed');
      sendError(res, new HttpError(500, 'internal error'));
    });
  };
  return Object.assign(handler, { close: () => consoleFeed?.close() });
}
