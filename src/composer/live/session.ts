import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { Format, Layout } from '../../../events/catalog.js';
import { composedFileName, sidecarOf } from '../../../events/files.js';
import { codecArgs, inputArgs } from '../args.js';
import { runFfmpeg, verifyOutput } from '../composer.js';
import { ComposeError } from '../errors.js';
import { findSegments } from '../inputs.js';
import { buildMetadata } from '../metadata.js';
import { muxAudioShift } from '../mux-offset.js';
import { planComposition } from '../plan.js';
import { parseProbe, probeArgs } from '../probe.js';
import { runProcess, type RunResult } from '../../process/run.js';
import type { ComposeRequest, ComposeResult } from '../types.js';
import { refreshIndex, sliceRanges, writeSlice, type WebmIndex } from './webm-index.js';
import { planWindow, planWindowAudio, windowReady, windowSlices, type CutSlice, type LiveSegment, type SliceSpec } from './window.js';

export interface LiveSessionOptions {
  /** Absolute meeting folder. */
  dir: string;
  meetingId: string;
  recordingId: string;
  /** Wall clock of the recording's start (its timeline's 0). */
  startedAt: number;
  layout: Layout;
  format: Format;
  width: number;
  height: number;
  fps: number;
  namePlates: boolean;
  fontFile: string;
  windowMs: number;
  /** A window is composed no earlier than this long after its end (real time). */
  lagMs: number;
  /** …and at the latest this long after, even when a track's media has not reached its end (a stalled sender). */
  maxLagMs: number;
  ffmpeg: string;
  ffprobe: string;
  logger: Logger;
  now?: () => number;
  /** After each window composed while recording (its progress: recording.live.progressed). Must not throw. */
  onStatus?(s: LiveStatus): void;
  /** How often the session looks for a window to compose. */
  pollMs?: number;
  /** Windows ending after this recording time wait for finish() (a known length: tests, benchmarks). */
  maxEndMs?: number;
}

export interface LiveChunk {
  k: number;
  startMs: number;
  endMs: number;
  file: string;
}

export interface LiveStatus {
  meetingId: string;
  recordingId: string;
  layout: Layout;
  format: Format;
  state: 'recording' | 'finishing' | 'done' | 'failed' | 'aborted';
  /** Recording time composed so far (the end of the last chunk). */
  composedUpToMs: number;
  /** Real time since the recording's start minus composedUpToMs. */
  lagMs: number;
  chunks: number;
  error: string | null;
}

const MANIFEST = 'manifest.json';
/** At the stop, what is left is composed in runs of at most this much recording time. */
const CATCH_UP_MS = 300_000;

/** The video part of the format's encoder settings (everything before the audio codec). */
export function videoCodecArgs(format: Format, o: { fps: number; threads: number }): string[] {
  const all = codecArgs(format, o);
  return all.slice(0, all.indexOf('-c:a'));
}

/** The audio part of the format's encoder settings (codec, bitrate, rate). */
export function audioCodecArgs(format: Format, o: { fps: number; threads: number }): string[] {
  const all = codecArgs(format, o);
  const from = all.indexOf('-c:a');
  const to = all.findIndex((a, i) => i > from && (a === '-movflags' || a === '-f'));
  return all.slice(from, to < 0 ? undefined : to);
}

/**
 * The live composition of one recording: while it runs, every `windowMs` of
 * recording time is composed as soon as every track's media for it is on
 * disk, into a video chunk (its own encoder run: it starts on a keyframe, same
 * settings as the post-stop path) and the window's mixed audio as raw samples,
 * which go, sample-exact and in order, into ONE audio encoder that runs for
 * the whole recording (no priming gaps at window joins). At the stop the last
 * window is composed and the chunks are joined by stream copy with the audio:
 * seconds of work whatever the length.
 *
 * The chunks and a manifest stay in `<dir>/.live-<recordingId>/` until the
 * composed file is written; a process that crashed leaves them for
 * recovery (see finish()).
 */
export function createLiveSession(o: LiveSessionOptions) {
  const now = o.now ?? Date.now;
  const log = o.logger.child({ roomId: o.meetingId, recordingId: o.recordingId, module: 'live-composer' });
  const work = path.join(o.dir, `.live-${o.recordingId}`);
  const threads = Math.max(2, Math.min(8, os.availableParallelism()));
  const indexes = new Map<string, WebmIndex>();
  const chunks: LiveChunk[] = [];
  /** Window k's raw audio, composed but not yet handed to the encoder (the last one may fall after the stop). */
  const pendingPcm: { k: number; file: string; endMs: number }[] = [];
  let audioFedToMs = 0;
  /** resume(): how far the chunks of a crashed process reach (their audio is composed again at finish()). */
  let resumedUpToMs = 0;
  let state: LiveStatus['state'] = 'recording';
  let error: string | null = null;
  let busy: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const abort = new AbortController();

  let encoder: { input: PassThrough; done: Promise<RunResult>; file: string } | null = null;
  // mp4 (AAC): an MP4 file keeps the encoder's priming (1024 samples) in its edit list, ADTS would shift the audio by 21 ms.
  const audioFile = path.join(work, o.format === 'webm' ? 'audio.ogg' : 'audio.m4a');
  function startEncoder() {
    const input = new PassThrough();
    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
      '-f', 'f32le', '-ar', '48000', '-ac', '2', '-i', 'pipe:0',
      ...audioCodecArgs(o.format, { fps: o.fps, threads }),
      '-f', o.format === 'webm' ? 'ogg' : 'mp4',
      audioFile,
    ];
    // No abort signal: a stopped recording's encoder is ended by closing its input, never killed mid-stream.
    encoder = { input, done: runProcess(o.ffmpeg, args, { stdin: input }), file: audioFile };
    return encoder;
  }

  async function feed(p: { file: string; endMs: number }) {
    const enc = encoder ?? startEncoder();
    const buf = await readFile(p.file);
    if (!enc.input.write(buf)) await new Promise<void>((r) => enc.input.once('drain', () => r()));
    audioFedToMs = p.endMs;
    await rm(p.file, { force: true });
  }

  async function segments(): Promise<LiveSegment[]> {
    const found = await findSegments(o.dir, o.meetingId, o.recordingId, log);
    const out: LiveSegment[] = [];
    for (const f of found) {
      if (f.meta.finalized && f.meta.durationMs === null) continue; // nothing decodable was written
      let index = indexes.get(f.meta.file);
      try {
        index = await refreshIndex(f.mediaPath, index);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // not written yet
        throw err;
      }
      indexes.set(f.meta.file, index);
      out.push({ meta: f.meta, path: f.mediaPath, index });
    }
    return out;
  }

  /** A slice's container start as ffmpeg reads it (an Opus WebM with a codec delay reads it off every packet). */
  async function formatStartOf(file: string): Promise<number | undefined> {
    let json = '';
    const r = await runProcess(o.ffprobe, probeArgs(file), { onStdout: (d) => (json += d), signal: abort.signal });
    if (r.exitCode !== 0) return undefined;
    try {
      return parseProbe(json).formatStartMs ?? undefined;
    } catch {
      return undefined;
    }
  }

  const composedUpTo = () => chunks.at(-1)?.endMs ?? 0;

  async function saveManifest() {
    const body = { version: 1, layout: o.layout, format: o.format, width: o.width, height: o.height, fps: o.fps, windowMs: o.windowMs, chunks };
    await writeFile(path.join(work, `${MANIFEST}.tmp`), `${JSON.stringify(body)}\n`);
    await rename(path.join(work, `${MANIFEST}.tmp`), path.join(work, MANIFEST));
  }

  /** Cuts the slices of window `name` that `specs` asks for into the work folder. */
  async function cutSlices(name: string, specs: readonly SliceSpec[]): Promise<CutSlice[]> {
    await mkdir(work, { recursive: true });
    const cut: CutSlice[] = [];
    for (const [i, spec] of specs.entries()) {
      const r = sliceRanges(spec.segment.index, spec.fromMs, spec.toMs);
      if (!r) continue;
      const p = path.join(work, `${name}-${i}.${spec.segment.meta.kind}.webm`);
      await writeSlice(spec.segment.path, r.ranges, p);
      cut.push({ spec, path: p, startMs: r.startMs, ...(spec.segment.meta.kind === 'audio' ? { formatStartMs: await formatStartOf(p) } : {}) });
    }
    return cut;
  }

  /** Checks a window's raw audio is exactly its length in samples (stereo f32). */
  async function checkPcm(k: number, pcm: string, startMs: number, endMs: number) {
    const expected = Math.round(((endMs - startMs) * 48000) / 1000) * 8;
    const got = (await stat(pcm)).size;
    if (got !== expected) throw new ComposeError('ffmpeg-failed', `window ${k}: ${got} bytes of audio, expected ${expected}`);
  }

  /**
   * A resumed session: only the audio of [startMs, endMs), for chunks a crashed process composed
   * (their audio died with its encoder). Cheap: no video is decoded.
   */
  async function composeAudio(k: number, startMs: number, endMs: number, segs: readonly LiveSegment[]) {
    const cut = await cutSlices(`a${k}`, windowSlices(segs, startMs, endMs).filter((x) => x.segment.meta.kind === 'audio'));
    const plan = planWindowAudio({ startMs, endMs }, cut);
    const pcm = path.join(work, `a${k}.pcm`);
    const graphFile = path.join(work, `a${k}.graph`);
    await writeFile(graphFile, plan.graph);
    const seconds = ((endMs - startMs) / 1000).toFixed(3);
    try {
      await runFfmpeg(
        o.ffmpeg,
        [
          '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-y',
          ...inputArgs(plan.inputs),
          '-filter_complex_script', graphFile,
          '-map', '[aout]', '-c:a', 'pcm_f32le', '-ar', '48000', '-ac', '2', '-t', seconds, '-f', 'f32le', pcm,
        ],
        () => undefined,
        abort.signal,
      );
    } finally {
      for (const c of cut) await rm(c.path, { force: true });
      await rm(graphFile, { force: true });
    }
    await checkPcm(k, pcm, startMs, endMs);
    pendingPcm.push({ k, file: pcm, endMs });
  }

  /** Composes [startMs, endMs) into chunk k and its raw audio. */
  async function composeWindow(k: number, startMs: number, endMs: number, segs: readonly LiveSegment[]) {
    const t0 = now();
    const cut = await cutSlices(`w${k}`, windowSlices(segs, startMs, endMs));
    const plan = planWindow(
      { startMs, endMs, layout: o.layout, width: o.width, height: o.height, fps: o.fps, namePlates: o.namePlates, fontFile: o.fontFile },
      cut,
      segs,
    );
    const file = `chunk-${String(k).padStart(6, '0')}.mkv`;
    const partial = path.join(work, `.${file}.partial`);
    const pcm = path.join(work, `w${k}.pcm`);
    const graphFile = path.join(work, `w${k}.graph`);
    await writeFile(graphFile, plan.graph);
    const seconds = ((endMs - startMs) / 1000).toFixed(3);
    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-y',
      ...inputArgs(plan.inputs),
      '-filter_complex_script', graphFile,
      '-map', '[vout]', '-map_metadata', '-1',
      ...videoCodecArgs(o.format, { fps: o.fps, threads }),
      '-t', seconds, '-f', 'matroska', partial,
      '-map', '[aout]', '-c:a', 'pcm_f32le', '-ar', '48000', '-ac', '2', '-t', seconds, '-f', 'f32le', pcm,
    ];
    try {
      await runFfmpeg(o.ffmpeg, args, () => undefined, abort.signal);
      await rename(partial, path.join(work, file));
    } finally {
      for (const c of cut) await rm(c.path, { force: true });
      await rm(graphFile, { force: true });
      await rm(partial, { force: true });
    }
    await checkPcm(k, pcm, startMs, endMs);
    chunks.push({ k, startMs, endMs, file });
    pendingPcm.push({ k, file: pcm, endMs });
    await saveManifest();
    log.info({ window: k, startMs, endMs, inputs: plan.inputs.length, elapsedMs: now() - t0, lagMs: now() - o.startedAt - endMs }, 'live window composed');
  }

  async function tick() {
    const k = chunks.length;
    const startMs = k * o.windowMs;
    const endMs = startMs + o.windowMs;
    const late = now() - (o.startedAt + endMs);
    if (late < o.lagMs || endMs > (o.maxEndMs ?? Infinity)) return;
    const segs = await segments();
    if (!windowReady(segs, endMs) && late < o.maxLagMs) return;
    // Everything before this window may go to the encoder now: the recording lasted past it.
    while (pendingPcm.length > 0) await feed(pendingPcm.shift()!);
    await composeWindow(k, startMs, endMs, segs);
    try {
      o.onStatus?.(status());
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'live progress report failed');
    }
  }

  function schedule() {
    timer = setInterval(() => {
      if (busy || state !== 'recording') return;
      busy = tick()
        .catch((err) => {
          if (abort.signal.aborted) return;
          state = 'failed';
          error = (err as Error).message;
          log.error({ err: error }, 'live composition failed: the post-stop composition will do it');
        })
        .finally(() => {
          busy = null;
        });
    }, o.pollMs ?? 500);
    timer.unref();
  }

  function status(): LiveStatus {
    const up = composedUpTo();
    return {
      meetingId: o.meetingId,
      recordingId: o.recordingId,
      layout: o.layout,
      format: o.format,
      state,
      composedUpToMs: up,
      lagMs: Math.max(0, now() - o.startedAt - up),
      chunks: chunks.length,
      error,
    };
  }

  async function freeze() {
    if (timer) clearInterval(timer);
    timer = null;
    while (busy) await busy;
  }

  /**
   * At the stop (the composition job): the rest of the recording composed, the
   * chunks joined with the audio into the composed file, checked by ffprobe,
   * renamed into place. Null when the live chunks cannot serve this request
   * (another layout/format, or a failed live run): the caller composes after the stop.
   */
  async function finish(req: ComposeRequest): Promise<ComposeResult | null> {
    await freeze();
    if (state !== 'recording' || req.layout !== o.layout || req.format !== o.format) return null;
    state = 'finishing';
    const t0 = now();
    const D = req.durationMs;
    try {
      if (resumedUpToMs > 0) {
        // Chunks a crashed process left: those past the stop go, the audio of the rest is composed again.
        while (chunks.length > 0 && chunks.at(-1)!.endMs > D) await rm(path.join(work, chunks.pop()!.file), { force: true });
        const segs = await segments();
        const to = composedUpTo();
        for (let k = 0, at = 0; at < to; k++, at += CATCH_UP_MS) await composeAudio(k, at, Math.min(to, at + CATCH_UP_MS), segs);
        log.info({ chunks: chunks.length, resumedUpToMs: to, elapsedMs: now() - t0 }, 'live composition resumed from the chunks a crashed process left: their audio composed again');
      }
      // A window composed past the stop (a track ran ahead of the clock) is composed again.
      while (chunks.length > 0 && chunks.at(-1)!.endMs > D && pendingPcm.at(-1)?.k === chunks.at(-1)!.k) {
        const c = chunks.pop()!;
        await rm(pendingPcm.pop()!.file, { force: true });
        await rm(path.join(work, c.file), { force: true });
      }
      if (audioFedToMs > D || composedUpTo() > D) return fail('the live chunks reach past the stop');
      const segs = await segments();
      // The rest in as few runs as possible (a composer that fell behind catches up here; chunks need not be equal).
      for (let k = chunks.length; composedUpTo() < D; k++) {
        const startMs = composedUpTo();
        await composeWindow(k, startMs, Math.min(D, startMs + CATCH_UP_MS), segs);
      }
      while (pendingPcm.length > 0) await feed(pendingPcm.shift()!);
      const enc = encoder ?? startEncoder();
      enc.input.end();
      const audio = await enc.done;
      if (audio.exitCode !== 0) throw new ComposeError('ffmpeg-failed', `audio encoder exited with ${audio.exitCode}: ${audio.stderr.slice(-1)[0] ?? ''}`);
      const result = await join(req, segs);
      state = 'done';
      log.info({ file: result.file, durationMs: result.durationMs, chunks: chunks.length, finishMs: now() - t0 }, 'live composition finished');
      await rm(work, { recursive: true, force: true });
      return result;
    } catch (err) {
      return fail((err as Error).message);
    }
  }

  function fail(why: string): null {
    state = 'failed';
    error = why;
    log.warn({ err: why }, 'live chunks not usable: composing after the stop');
    encoder?.input.end();
    return null;
  }

  async function join(req: ComposeRequest, segs: readonly LiveSegment[]): Promise<ComposeResult> {
    const list = chunks.map((c) => `file '${path.join(work, c.file)}'\nduration ${((c.endMs - c.startMs) / 1000).toFixed(6)}\n`).join('');
    const listFile = path.join(work, 'chunks.txt');
    await writeFile(listFile, `ffconcat version 1.0\n${list}`);
    const file = composedFileName(req.createdAt, req.recordingId, req.format);
    const finalPath = path.join(o.dir, file);
    const tempPath = path.join(o.dir, `.${file}.${req.jobId}.partial`);
    // The audio's encoder delay sits at a negative timestamp; moved by what the muxer misplaces it by
    // (mux-offset.ts), nothing is negative and neither stream is moved against the other.
    const lead = await muxAudioShift(o.ffmpeg, o.ffprobe, req.format, (err) => log.warn({ err }, 'could not measure where the muxer puts the audio: joining without the correction'));
    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-y',
      '-f', 'concat', '-safe', '0', '-i', listFile,
      ...(lead > 0 ? ['-itsoffset', (lead / 1000).toFixed(6)] : []),
      '-i', audioFile,
      '-map', '0:v:0', '-map', '1:a:0', '-c', 'copy', '-map_metadata', '-1',
      ...(req.format === 'mp4' ? ['-movflags', '+faststart'] : []),
      '-t', (req.durationMs / 1000).toFixed(3),
      '-f', req.format, tempPath,
    ];
    try {
      await runFfmpeg(o.ffmpeg, args, () => undefined);
      const probe = await verifyOutput(o.ffprobe, tempPath, req.format, req.durationMs);
      const sizeBytes = (await stat(tempPath)).size;
      const durationMs = probe.formatDurationMs ?? req.durationMs;
      // Who was there, for the metadata: the whole recording planned from the sidecars (no probing, no ffmpeg).
      const whole = planComposition(
        { durationMs: req.durationMs, layout: o.layout, width: o.width, height: o.height, fps: o.fps, namePlates: o.namePlates, fontFile: o.fontFile },
        segs.map((s) => ({ meta: s.meta, path: s.path, assessment: { ok: true as const, durationMs: s.meta.durationMs ?? 0, timeScale: 1 }, levels: null })),
        [],
      );
      const used = segs.map((s) => ({
        file: s.meta.file,
        participantId: s.meta.participantId,
        kind: s.meta.kind,
        segmentIndex: s.meta.segmentIndex,
        offsetMs: s.meta.offsetMs,
        durationMs: s.meta.durationMs ?? 0,
      }));
      const metadataFile = sidecarOf(file);
      const metadata = buildMetadata({
        meetingId: req.meetingId,
        recordingId: req.recordingId,
        jobId: req.jobId,
        file,
        format: req.format,
        layout: o.layout,
        width: o.width,
        height: o.height,
        fps: o.fps,
        namePlates: o.namePlates,
        durationMs,
        leadInMs: 0, // windows compose on the plain grid (phase 0)
        sizeBytes,
        createdAt: req.createdAt,
        participants: whole.spec.participants,
        inputs: used,
        skipped: [],
      });
      const tempMeta = `${tempPath}.json`;
      await writeFile(tempMeta, `${JSON.stringify(metadata, null, 2)}\n`);
      await rename(tempPath, finalPath);
      await rename(tempMeta, path.join(o.dir, metadataFile));
      return { file, path: finalPath, durationMs, sizeBytes, inputs: used, skipped: [], metadataFile, metadata };
    } finally {
      await rm(tempPath, { force: true });
      await rm(`${tempPath}.json`, { force: true });
    }
  }

  /**
   * Picks up the chunks a crashed process left (`manifest.json`) when they were
   * made with this session's settings: finish() then composes only what is
   * missing (the rest of the video, and the whole recording's audio, whose
   * encoder died with that process). False when there is nothing usable.
   */
  async function resume(): Promise<boolean> {
    let m: { version?: number; layout?: string; format?: string; width?: number; height?: number; fps?: number; chunks?: LiveChunk[] };
    try {
      m = JSON.parse(await readFile(path.join(work, MANIFEST), 'utf8'));
    } catch {
      return false;
    }
    if (m.version !== 1 || m.layout !== o.layout || m.format !== o.format || m.width !== o.width || m.height !== o.height || m.fps !== o.fps) {
      log.info('live chunks left by a crashed process were made with other settings: composing after the stop');
      return false;
    }
    // Whole chunks, in order, from 0: the first missing or empty one ends what can be used.
    const usable: LiveChunk[] = [];
    for (const c of m.chunks ?? []) {
      // A chunk is a file this session names itself (chunk-NNNNNN.mkv): anything else in the manifest is not used.
      if (typeof c.file !== 'string' || !/^chunk-\d{6}\.mkv$/.test(c.file) || !Number.isInteger(c.k)) break;
      if (c.startMs !== (usable.at(-1)?.endMs ?? 0) || !(c.endMs > c.startMs)) break;
      const size = await stat(path.join(work, c.file)).then((x) => x.size, () => 0);
      if (size === 0) break;
      usable.push(c);
    }
    if (usable.length === 0) return false;
    chunks.push(...usable);
    resumedUpToMs = composedUpTo();
    log.info({ chunks: usable.length, composedUpToMs: resumedUpToMs }, 'live chunks of a crashed process found');
    return true;
  }

  /** The recording failed or the job was dropped: stop and remove the chunks. */
  async function dispose() {
    abort.abort();
    await freeze();
    if (state === 'recording' || state === 'finishing') state = 'aborted';
    encoder?.input.end();
    await encoder?.done.catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }

  /** The process stops: no more windows, the audio encoder ends its file; the chunks stay on disk. */
  async function suspend() {
    await freeze();
    encoder?.input.end();
    await encoder?.done.catch(() => undefined);
  }

  return {
    start: schedule,
    resume,
    suspend,
    status,
    /** Stops composing new windows (the stop was asked for); finish() composes the rest. */
    freeze,
    finish,
    dispose,
    /** For tests: the work folder. */
    workDir: work,
  };
}

export type LiveSession = ReturnType<typeof createLiveSession>;
