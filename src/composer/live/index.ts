import path from 'node:path';
import type { Logger } from 'pino';
import type { Format, Layout } from '../../../events/catalog.js';
import { DEFAULTS, insideRoot } from '../composer.js';
import { DEFAULT_FONT } from '../drawtext.js';
import { findFfmpeg, findFfprobe } from '../find-ffmpeg.js';
import type { ComposeHooks, Composer, ComposeRequest, ComposeResult } from '../types.js';
import { createLiveSession, type LiveSession, type LiveStatus } from './session.js';

export type { LiveStatus } from './session.js';

export interface LiveComposerOptions {
  root: string;
  ffmpegPath?: string;
  ffprobePath?: string;
  logger: Logger;
  fontFile?: string;
  /** Recording time per chunk (default 10 s). */
  windowMs?: number;
  /**
   * Recordings composed live at once (default 1): each costs about 0.6 of a core for 4
   * participants at 1280×720 (npm run bench:live), taken from the recorder's machine. The
   * recordings that start beyond it are composed after their stop, as without LIVE_COMPOSE.
   */
  maxSessions?: number;
  /** Real time a window waits after its end before it is composed (default 1.5 s). */
  lagMs?: number;
  /**
   * …at most, when a track's media has not reached the window's end (default:
   * no bound). A window composed before a slow track's media is in would lose
   * that media (placed by its RTP time, it lands in a window already done),
   * so by default a window waits for every growing track; the stop catches up.
   */
  maxLagMs?: number;
  now?: () => number;
  /** Called after each window composed while recording (throttling is the caller's). */
  onStatus?(s: LiveStatus): void;
}

export interface LiveRecording {
  meetingId: string;
  recordingId: string;
  startedAt: number;
  layout: Layout;
  format: Format;
}

/**
 * Live compositions of the recordings running in this process (see
 * session.ts), and `wrap()`: a Composer that finishes a recording's live
 * composition when its job matches it, and otherwise (another layout or
 * format, a re-composition, a live run that failed, a process that did not
 * see the recording start) composes after the stop as before.
 */
export function createLiveComposer(opts: LiveComposerOptions) {
  const sessions = new Map<string, LiveSession>();
  /** Recordings whose stop was asked for: their sessions wait for the job. */
  const frozen = new Set<string>();
  const logger = opts.logger;
  let bins: { ffmpeg: string; ffprobe: string } | null = null;
  const binaries = () => {
    if (!bins) {
      const ffmpeg = opts.ffmpegPath ?? findFfmpeg(process.env);
      bins = { ffmpeg, ffprobe: opts.ffprobePath ?? findFfprobe(process.env, ffmpeg) };
    }
    return bins;
  };

  function sessionFor(r: LiveRecording, dir: string) {
    const { ffmpeg, ffprobe } = binaries();
    return createLiveSession({
      dir,
      meetingId: r.meetingId,
      recordingId: r.recordingId,
      startedAt: r.startedAt,
      layout: r.layout,
      format: r.format,
      ...DEFAULTS,
      namePlates: true,
      fontFile: opts.fontFile ?? DEFAULT_FONT,
      windowMs: opts.windowMs ?? 10_000,
      lagMs: opts.lagMs ?? 1_500,
      maxLagMs: opts.maxLagMs ?? Infinity,
      ffmpeg,
      ffprobe,
      logger,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.onStatus ? { onStatus: opts.onStatus } : {}),
    });
  }

  /**
   * A job for a recording this process did not see start (it restarted after a crash): the live
   * chunks the dead process left, if they match the job. Null: compose after the stop.
   */
  async function resumed(req: ComposeRequest) {
    if (req.layout === 'speaker') return null;
    const size = { width: req.width ?? DEFAULTS.width, height: req.height ?? DEFAULTS.height, fps: req.fps ?? DEFAULTS.fps };
    if (size.width !== DEFAULTS.width || size.height !== DEFAULTS.height || size.fps !== DEFAULTS.fps) return null;
    let dir: string;
    try {
      dir = insideRoot(opts.root, req.meetingId);
    } catch {
      return null;
    }
    const s = sessionFor({ meetingId: req.meetingId, recordingId: req.recordingId, startedAt: Date.now(), layout: req.layout, format: req.format }, dir);
    return (await s.resume()) ? s : null;
  }

  function start(r: LiveRecording): boolean {
    if (sessions.has(r.recordingId)) return true;
    // Speaker switching needs the audio levels, which the recorder writes only when a segment ends.
    if (r.layout === 'speaker') {
      logger.info({ roomId: r.meetingId, recordingId: r.recordingId }, 'speaker layout: composed after the stop');
      return false;
    }
    // A frozen session (its recording stopped) composes nothing more until its job finishes it.
    const composing = [...sessions.keys()].filter((id) => !frozen.has(id)).length;
    if (composing >= (opts.maxSessions ?? 1)) {
      logger.info({ roomId: r.meetingId, recordingId: r.recordingId, composing }, 'live compositions at their limit (LIVE_COMPOSE_MAX): composed after the stop');
      return false;
    }
    let dir: string;
    try {
      dir = insideRoot(opts.root, r.meetingId);
    } catch (err) {
      logger.warn({ roomId: r.meetingId, recordingId: r.recordingId, err: (err as Error).message }, 'no live composition');
      return false;
    }
    const session = sessionFor(r, dir);
    sessions.set(r.recordingId, session);
    session.start();
    logger.info({ roomId: r.meetingId, recordingId: r.recordingId, dir: path.basename(dir) }, 'live composition started');
    return true;
  }

  return {
    start,
    status: (recordingId: string): LiveStatus | null => sessions.get(recordingId)?.status() ?? null,
    list: (): LiveStatus[] => [...sessions.values()].map((s) => s.status()),
    /** The stop was asked for: no more windows until the job finishes them. */
    freeze: async (recordingId: string) => {
      const s = sessions.get(recordingId);
      if (!s) return;
      frozen.add(recordingId);
      await s.freeze();
    },
    /** The recording will not be composed (failed, or composition not asked for): chunks removed. */
    async drop(recordingId: string) {
      const s = sessions.get(recordingId);
      sessions.delete(recordingId);
      frozen.delete(recordingId);
      await s?.dispose();
    },
    /**
     * The recording's composition job ended on another worker (NATS mode: the job goes to any
     * composer): the session it did not finish is let go, its audio encoder ended. Completed: its
     * chunks are spent (that worker took what it needed from them) and removed; failed for good:
     * kept, for a retry to resume from.
     */
    async release(recordingId: string, outcome: 'completed' | 'failed') {
      const s = sessions.get(recordingId);
      if (!s) return;
      sessions.delete(recordingId);
      frozen.delete(recordingId);
      if (outcome === 'completed') await s.dispose();
      else await s.suspend();
      logger.info({ recordingId, outcome }, 'live composition let go: its job ended on another worker');
    },
    /** The live path in front of `composer`. */
    wrap(composer: Composer): Composer {
      return {
        async compose(req: ComposeRequest, hooks: ComposeHooks = {}): Promise<ComposeResult> {
          const s = sessions.get(req.recordingId) ?? (await resumed(req).catch(() => null));
          if (s) {
            const done = await s.finish(req);
            sessions.delete(req.recordingId);
            frozen.delete(req.recordingId);
            if (done) {
              hooks.onProgress?.({ percent: 100, speed: null, outTimeMs: done.durationMs });
              return done;
            }
            await s.dispose();
          }
          return composer.compose(req, hooks);
        },
      };
    },
    /** The process stops: every session stops composing and ends its audio encoder (no child process outlives it). */
    async close() {
      await Promise.all([...sessions.values()].map((s) => s.suspend()));
      sessions.clear();
      frozen.clear();
    },
  };
}

export type LiveComposer = ReturnType<typeof createLiveComposer>;
