import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { HttpError } from './respond.js';

/** One path segment taken from a URL: the storage charset, and never a dot-name (`.`, `..`, hidden files). */
export const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

const CONTENT_TYPES: Record<string, string> = {
  '.webm': 'video/webm',
  '.mp4': 'video/mp4',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

export function contentTypeOf(filename: string): string | undefined {
  const ext = path.extname(filename).toLowerCase();
  // Track files carry their kind in the name: <ts>-<recordingId>-<participantId>-audio-<trackId>.webm
  if (ext === '.webm' && /^\d+-.+-audio-[^/]+\.webm$/.test(filename)) return 'audio/webm';
  return CONTENT_TYPES[ext];
}

/**
 * Resolves segments under root, refusing anything that is not a plain name
 * or that lands outside root once symlinks are followed. 400 for a bad name,
 * 404 for a missing file.
 */
export async function resolveInside(root: string, segments: string[]): Promise<string> {
  if (segments.length === 0 || !segments.every((s) => SAFE_SEGMENT.test(s))) throw new HttpError(400, 'invalid path: names may only use A-Z a-z 0-9 . _ -');
  const base = path.resolve(root);
  const target = path.resolve(base, ...segments);
  const inside = (b: string, t: string) => {
    const rel = path.relative(b, t);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  if (!inside(base, target)) throw new HttpError(400, 'invalid path');
  let real: string;
  let realBase: string;
  try {
    [real, realBase] = await Promise.all([realpath(target), realpath(base)]);
  } catch {
    throw new HttpError(404, 'not found');
  }
  if (!inside(realBase, real)) throw new HttpError(404, 'not found');
  return real;
}

type Range = { start: number; end: number } | 'unsatisfiable' | null;

/** One `bytes=` range (RFC 9110 14.1.2). Multiple or malformed ranges are ignored: the whole file is sent. */
export function parseRange(header: string | undefined, size: number): Range {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** Sends a file with Range support; `download` adds Content-Disposition: attachment. */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, opts: { download?: boolean; contentType?: string } = {}): Promise<void> {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) throw new HttpError(404, 'not found');
  const name = path.basename(file);
  const headers: Record<string, string | number> = {
    'content-type': opts.contentType ?? contentTypeOf(name) ?? 'application/octet-stream',
    'accept-ranges': 'bytes',
    'last-modified': info.mtime.toUTCString(),
  };
  if (opts.download) headers['content-disposition'] = `attachment; filename="${name}"`;
  const range = parseRange(req.headers.range, info.size);
  if (range === 'unsatisfiable') {
    throw new HttpError(416, `range not satisfiable for ${info.size} bytes`, {}, { 'content-range': `bytes */${info.size}` });
  }
  const { start, end } = range ?? { start: 0, end: info.size - 1 };
  const length = info.size === 0 ? 0 : end - start + 1;
  headers['content-length'] = length;
  if (range) headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file, { start, end });
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

/** Serves public/ files: `/` is index.html; only plain names, only known types. */
export async function sendPublic(req: IncomingMessage, res: ServerResponse, publicDir: string, urlPath: string): Promise<void> {
  const segments = urlPath === '/' ? ['index.html'] : urlPath.split('/').slice(1);
  const last = segments[segments.length - 1] ?? '';
  if (!CONTENT_TYPES[path.extname(last).toLowerCase()]) throw new HttpError(404, `no route for ${urlPath}`);
  const file = await resolveInside(publicDir, segments).catch((err: HttpError) => {
    throw new HttpError(404, err.status === 404 ? `no route for ${urlPath}` : err.message);
  });
  await sendFile(req, res, file, { contentType: CONTENT_TYPES[path.extname(last).toLowerCase()] });
}
