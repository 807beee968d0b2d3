import type { IncomingMessage, ServerResponse } from 'node:http';

/** Bodies above this are refused with 413 (protocol: JSON bodies are small). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A client still sending after this much is cut off instead of drained. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A command the event log could not take (it is down): 503, the client asks again. */
export function unavailable(message: string): HttpError {
  return new HttpError(503, message, {}, { 'retry-after': '2' });
}

/** Refusals of a dispatch that are not the request's fault. */
export function throwIfUnavailable(r: { accepted: boolean; reason?: string; message?: string }): void {
  if (!r.accepted && r.reason === 'unavailable') throw unavailable(r.message ?? 'event log unavailable, retry');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { success: false, message: err.message, ...err.extra }, err.headers);
}

/** Reads a JSON body: 413 above MAX_BODY_BYTES, 400 when it is not JSON. An empty body reads as undefined. */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      if (size > DRAIN_LIMIT_BYTES) req.destroy();
      if (!tooBig) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new HttpError(tooBig ? 413 : 400, 'the request body was cut off'));
    });
    req.on('end', () => {
      if (tooBig) return reject(new HttpError(413, `the body exceeds ${MAX_BODY_BYTES} bytes`));
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'the body is not valid JSON'));
      }
    });
  });
}
