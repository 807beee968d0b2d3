import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

const INSTALL_HINT =
  'Install it (Debian/Ubuntu: `apt-get install ffmpeg`, which also provides ffprobe) or point FFMPEG_PATH / FFPROBE_PATH at the binaries.';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return null;
}

/** Raised when ffmpeg or ffprobe cannot be found; the message says how to install them. */
export class FfmpegNotFoundError extends Error {
  constructor(binary: 'ffmpeg' | 'ffprobe', detail: string) {
    super(`${binary} not found: ${detail}. ${INSTALL_HINT}`);
    this.name = 'FfmpegNotFoundError';
  }
}

/** FFMPEG_PATH, then `ffmpeg` on PATH. */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.FFMPEG_PATH?.trim();
  if (explicit) {
    if (executable(explicit)) return explicit;
    throw new FfmpegNotFoundError('ffmpeg', `FFMPEG_PATH=${explicit} is not an executable file`);
  }
  const found = onPath('ffmpeg', env);
  if (found) return found;
  throw new FfmpegNotFoundError('ffmpeg', 'FFMPEG_PATH is not set and there is no ffmpeg on PATH');
}

/** FFPROBE_PATH, then `ffprobe` beside the ffmpeg in use, then on PATH. */
export function findFfprobe(env: NodeJS.ProcessEnv = process.env, ffmpegPath?: string): string {
  const explicit = env.FFPROBE_PATH?.trim();
  if (explicit) {
    if (executable(explicit)) return explicit;
    throw new FfmpegNotFoundError('ffprobe', `FFPROBE_PATH=${explicit} is not an executable file`);
  }
  if (ffmpegPath) {
    const beside = path.join(path.dirname(ffmpegPath), 'ffprobe');
    if (executable(beside)) return beside;
  }
  const found = onPath('ffprobe', env);
  if (found) return found;
  throw new FfmpegNotFoundError('ffprobe', 'FFPROBE_PATH is not set and there is no ffprobe on PATH');
}
