import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { recordingStream } from '../../machines/actions.js';
import type { Runtime } from '../runtime/runtime.js';
import { getComposition, listCompositions, requestComposition } from './compositions.js';
import { resolveInside, sendFile, sendPublic } from './files.js';
import { listRecordings, type Person } from './recordings.js';
import { HttpError, sendError, sendJson } from './respond.js';
import { getSession, listSessions, startSession, stopSession, type ApiContext } from './sessions.js';
import { isId } from '../../events/ids.js';

export interface HttpApiOptions {
  runtime: Runtime;
  /** The recordings root (protocol.md section 5). */
  root: string;
  logger: Logger;
  newId: () => string;
  publicDir: string;
  stopWaitMs?: number;
}

export type HttpApi = ((req: IncomingMessage, res: ServerResponse) => void) & { close(): void };


function allow(req: IncomingMessage, methods: string[]) {
  const m = req.method ?? 'GET';
  if (methods.includes(m) || (m === 'HEAD' && methods.includes('GET'))) return m === 'HEAD' ? 'GET' : m;
  throw new HttpError(405, `${m} is not allowed here`, {}, { allow: methods.join(', ') });
}

/**
 * The HTTP API of protocol.md section 3 plus the demo page, as a plain
 * node:http request listener. Requests become events; answers are read from
 * the runtime's snapshots.
 */
export function createHttpApi({ runtime, root, logger, newId, publicDir, stopWaitMs = 15_000 }: HttpApiOptions): HttpApi {
  const log = logger.child({ module: 'http' });
  const ctx: ApiContext = { runtime, logger: log, newId, times: (s) => runtime.times(s), stopWaitMs };

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
    if (parts[0] !== 'api') {
      allow(req, ['GET']);
      return sendPublic(req, res, publicDir, pathname);
    }
    const [, resource, id, ...rest] = parts;
    const one = id !== undefined && rest.length === 0;
    const none = id === undefined;
    if (resource === 'recording-sessions' && none) {
      if (allow(req, ['GET', 'POST']) === 'POST') return startSession(ctx, req, res);
      return listSessions(ctx, res, query.get('connectionId'));
    }
    if (resource === 'recording-sessions' && one) {
      if (!isId(id)) throw new HttpError(404, `unknown recording session ${id.slice(0, 128)}`);
      if (allow(req, ['GET', 'DELETE']) === 'DELETE') return stopSession(ctx, res, id, query.get('compose') !== 'false');
      return getSession(ctx, res, id);
    }
    if (resource === 'recording-compositions' && none) {
      if (allow(req, ['GET', 'POST']) === 'POST') return requestComposition(ctx, req, res);
      return listCompositions(ctx, res, query.get('meetingId'));
    }
    if (resource === 'recording-compositions' && one) {
      allow(req, ['GET']);
      if (!isId(id)) throw new HttpError(404, `unknown composition job ${id.slice(0, 128)}`);
      return getComposition(ctx, res, id);
    }
    if (resource === 'recordings' && none) {
      allow(req, ['GET']);
      const recordings = await listRecordings(root, lookupRecording);
      return sendJson(res, 200, { success: true, recordings, totalCount: recordings.length });
    }
    if (resource === 'recordings' && rest.length === 2 && (rest[1] === 'stream' || rest[1] === 'download')) {
      allow(req, ['GET']);
      const file = await resolveInside(root, [id, rest[0]]);
      if (!/\.(webm|mp4|json)$/.test(file)) throw new HttpError(404, 'not found');
      return sendFile(req, res, file, { download: rest[1] === 'download' });
    }
    throw new HttpError(404, `no route for ${req.method} ${pathname.slice(0, 200)}`);
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        if (err.status >= 500) log.error({ err, url: req.url }, 'request failed');
        return sendError(res, err);
      }
      log.error({ err, method: req.method, url: req.url }, 'request failed');
      sendError(res, new HttpError(500, 'internal error'));
    });
  };
  return Object.assign(handler, { close: () => {} });
}
