import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ffmpegArgs, MAX_INLINE_GRAPH } from './args.js';
import { DEFAULT_FONT } from './drawtext.js';
import { ComposeError, isNoSpaceError, saysNoSpace } from './errors.js';
import { buildFilterGraph, leadInOf } from './filter-graph.js';
import { muxAudioShift } from './mux-offset.js';
import { FfmpegNotFoundError, findFfmpeg, findFfprobe } from './find-ffmpeg.js';
import { evaluateSegments, findSegments, type EvaluatedSegment } from './inputs.js';
import type { Format } from '../../events/catalog.js';
import { composedFileName, sidecarOf } from '../../events/files.js';
import { buildMetadata } from './metadata.js';
import { planComposition } from './plan.js';
import { parseProbe, probeArgs, type ProbeInfo } from './probe.js';
import { createProgressParser } from './progress.js';
import { runProcess } from '../process/run.js';
import {
  composeRequestSchema,
  type ComposeHooks,
  type Composer,
  type ComposerOptions,
  type ComposeRequest,
  type ComposeResult,
  type UsedInput,
} from './types.js';

export const DEFAULTS = { width: 1280, height: 720, fps: 30 } as const;
/** The output must last the recording's duration within this. */
export const DURATION_TOLERANCE_MS = 100;

const EXPECTED_CODECS = { webm: { video: 'vp9', audio: 'opus' }, mp4: { video: 'h264', audio: 'aac' } } as const;

/** What is wrong with a written output, or null. Pure. */
export function checkOutput(probe: ProbeInfo, format: Format, durationMs: number): string | null {
  const want = EXPECTED_CODECS[format];
  const video = probe.streams.filter((s) => s.codecType === 'video');
  const audio = probe.streams.filter((s) => s.codecType === 'audio');
  if (video.length !== 1 || video[0]!.codecName !== want.video) return `expected one ${want.video} video stream, found ${video.map((s) => s.codecName).join(', ') || 'none'}`;
  if (audio.length !== 1 || audio[0]!.codecName !== want.audio) return `expected one ${want.audio} audio stream, found ${audio.map((s) => s.codecName).join(', ') || 'none'}`;
  if (probe.formatDurationMs === null) return 'output has no duration';
  if (Math.abs(probe.formatDurationMs - durationMs) > DURATION_TOLERANCE_MS) {
    return `output lasts ${Math.round(probe.formatDurationMs)} ms, expected ${Math.round(durationMs)} ms`;
  }
  return null;
}

export async function runFfmpeg(ffmpeg: string, args: string[], onStdout: (d: string) => void, signal?: AbortSignal): Promise<void> {
  const run = await runProcess(ffmpeg, args, { onStdout, signal });
  if (run.aborted) throw new ComposeError('aborted', 'composition aborted', { exitCode: run.exitCode, stderr: run.stderr });
  // ffmpeg exits 0 when a full disk cut its trailer: the output is short, and the cause is space.
  if (run.exitCode !== 0 || saysNoSpace(run.stderr)) {
    const why = run.stderr.slice(-1)[0] ?? (run.signal ? `killed by ${run.signal}` : 'no output');
    if (saysNoSpace(run.stderr)) {
      throw new ComposeError('disk-full', `no space left for the output: ffmpeg exited with code ${run.exitCode ?? run.signal}: ${why}`, {
        exitCode: run.exitCode,
        stderr: run.stderr,
      });
    }
    throw new ComposeError('ffmpeg-failed', `ffmpeg exited with code ${run.exitCode ?? run.signal}: ${why}`, {
      exitCode: run.exitCode,
      stderr: run.stderr,
    });
  }
}

/** ffprobe the written file; throws unless it has the right streams and duration. */
export async function verifyOutput(ffprobe: string, file: string, format: Format, durationMs: number): Promise<ProbeInfo> {
  let out = '';
  const probed = await runProcess(ffprobe, probeArgs(file), { onStdout: (d) => (out += d) });
  const probe = probed.exitCode === 0 ? parseProbe(out) : null;
  const problem = probe ? checkOutput(probe, format, durationMs) : `ffprobe cannot read the output: ${probed.stderr.slice(-1)[0] ?? ''}`;
  if (problem || !probe) throw new ComposeError('output-invalid', `composed file rejected: ${problem}`, { stderr: probed.stderr });
  return probe;
}

/** The used track files with their sidecars and levels; unused and skipped ones stay. */
async function deleteInputs(dir: string, usable: readonly EvaluatedSegment[], used: readonly UsedInput[]): Promise<void> {
  const files = new Set(used.map((u) => u.file));
  for (const seg of usable.filter((u) => files.has(u.meta.file))) {
    for (const f of [seg.meta.file, seg.sidecar, seg.meta.levelsFile]) {
      if (f) await rm(path.join(dir, f), { force: true }).catch(() => undefined);
    }
  }
}

export function insideRoot(root: string, ...parts: string[]): string {
  // `.`, `..` and hidden folders (the event log's `.eventlog`) are refused, as the recorder refuses them.
  const dotted = parts.find((p) => p.startsWith('.'));
  if (dotted !== undefined) throw new ComposeError('invalid-request', `path ${JSON.stringify(dotted)} is a dot name: refused`);
  const base = path.resolve(root);
  const p = path.resolve(base, ...parts);
  const rel = path.relative(base, p);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new ComposeError('invalid-request', `path ${p} is outside the recordings root`);
  return p;
}

/**
 * The ffmpeg composer: finds a recording's kept track files, probes them,
 * plans the layout and runs one ffmpeg. Writes under a temporary name and
 * renames at the end, so the final name only ever holds a complete, checked
 * file. Knows nothing of machines or logs: the runtime turns the returned
 * promise and the progress callback into events.
 */
export function createComposer(opts: ComposerOptions): Composer {
  const logger = opts.logger;
  let bins: { ffmpeg: string; ffprobe: string } | null = null;
  const binaries = () => {
    if (bins) return bins;
    try {
      const ffmpeg = opts.ffmpegPath ?? findFfmpeg(process.env);
      bins = { ffmpeg, ffprobe: opts.ffprobePath ?? findFfprobe(process.env, ffmpeg) };
      return bins;
    } catch (err) {
      if (err instanceof FfmpegNotFoundError) throw new ComposeError('ffmpeg-missing', err.message, { cause: err });
      throw err;
    }
  };

  async function compose(raw: ComposeRequest, hooks: ComposeHooks = {}): Promise<ComposeResult> {
    try {
      return await composeOnce(raw, hooks);
    } catch (err) {
      if (err instanceof ComposeError) throw err;
      if (isNoSpaceError(err)) throw new ComposeError('disk-full', `no space left for the output: ${(err as Error).message}`, { cause: err });
      throw new ComposeError('io-failed', `composition failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async function composeOnce(raw: ComposeRequest, hooks: ComposeHooks): Promise<ComposeResult> {
    const parsed = composeRequestSchema.safeParse(raw);
    if (!parsed.success) throw new ComposeError('invalid-request', `invalid compose request: ${parsed.error.message}`);
    const req = parsed.data;
    const { ffmpeg, ffprobe } = binaries();
    const log = logger.child({ jobId: req.jobId, roomId: req.meetingId, recordingId: req.recordingId });
    const width = req.width ?? DEFAULTS.width;
    const height = req.height ?? DEFAULTS.height;
    const fps = req.fps ?? DEFAULTS.fps;
    const namePlates = req.namePlates ?? true;
    const dir = insideRoot(opts.root, req.meetingId);
    const started = Date.now();

    const found = await findSegments(dir, req.meetingId, req.recordingId, log);
    if (found.length === 0) {
      throw new ComposeError('no-inputs', `no track sidecars of recording ${req.recordingId} in ${dir}`);
    }
    const evaluated = await evaluateSegments(ffprobe, found, log, hooks.signal);
    if (hooks.signal?.aborted) throw new ComposeError('aborted', 'composition aborted');
    const plan = planComposition(
      { durationMs: req.durationMs, layout: req.layout, width, height, fps, namePlates, fontFile: opts.fontFile ?? DEFAULT_FONT, members: req.members },
      evaluated.usable.map((u) => ({ meta: u.meta, path: u.mediaPath, assessment: u.assessment, levels: u.levels })),
      evaluated.skipped.map((s) => s.segment.meta),
    );
    const skipped = [...evaluated.skipped.map(({ file, reason }) => ({ file, reason })), ...plan.skipped];

    const file = composedFileName(req.createdAt, req.recordingId, req.format);
    const finalPath = path.join(dir, file);
    const metadataFile = sidecarOf(file);
    const metadataPath = path.join(dir, metadataFile);
    const tempPath = path.join(dir, `.${file}.${req.jobId}.partial`);
    const tempMetadata = `${tempPath}.json`;
    let scriptDir: string | null = null;
    const cleanup = async () => {
      await rm(tempPath, { force: true }).catch(() => undefined);
      await rm(tempMetadata, { force: true }).catch(() => undefined);
      if (scriptDir) await rm(scriptDir, { recursive: true, force: true }).catch(() => undefined);
    };

    try {
      const spec = {
        ...plan.spec,
        audioShiftMs: await muxAudioShift(ffmpeg, ffprobe, req.format, (err) =>
          log.warn({ err, format: req.format }, 'could not measure where the muxer puts the audio: composing without the correction'),
        ),
      };
      const graph = buildFilterGraph(spec);
      // The file runs this much longer: everything in it is moved later by it (leadInOf).
      const leadInMs = leadInOf(spec);
      const fileDurationMs = req.durationMs + leadInMs;
      let graphArg: { inline: string } | { scriptFile: string } = { inline: graph };
      if (graph.length > MAX_INLINE_GRAPH) {
        scriptDir = await mkdtemp(path.join(os.tmpdir(), 'compose-'));
        const scriptFile = path.join(scriptDir, 'graph.txt');
        await writeFile(scriptFile, graph);
        graphArg = { scriptFile };
      }
      const args = ffmpegArgs({
        inputs: plan.inputs,
        graph: graphArg,
        format: req.format,
        fps,
        threads: Math.max(2, Math.min(8, os.availableParallelism())),
        durationMs: fileDurationMs,
        output: tempPath,
      });
      log.info(
        { layout: req.layout, format: req.format, inputs: plan.inputs.length, skipped: skipped.length, participants: plan.spec.participants.length },
        'composing',
      );
      log.debug({ args }, 'ffmpeg arguments');

      const progress = createProgressParser(fileDurationMs, (p) => hooks.onProgress?.(p));
      await runFfmpeg(ffmpeg, args, (d) => progress.push(d), hooks.signal);
      const probe = await verifyOutput(ffprobe, tempPath, req.format, fileDurationMs);

      const sizeBytes = (await stat(tempPath)).size;
      const durationMs = probe.formatDurationMs ?? fileDurationMs;
      const metadata = buildMetadata({
        meetingId: req.meetingId,
        recordingId: req.recordingId,
        jobId: req.jobId,
        file,
        format: req.format,
        layout: req.layout,
        width,
        height,
        fps,
        namePlates,
        durationMs,
        leadInMs,
        sizeBytes,
        createdAt: req.createdAt,
        participants: plan.spec.participants,
        inputs: plan.used,
        skipped,
      });
      await writeFile(tempMetadata, `${JSON.stringify(metadata, null, 2)}\n`);
      await rename(tempPath, finalPath);
      await rename(tempMetadata, metadataPath);

      if (opts.deleteInputsOnSuccess) await deleteInputs(dir, evaluated.usable, plan.used);
      const elapsed = Date.now() - started;
      log.info({ file, sizeBytes, durationMs, elapsedMs: elapsed, speed: Number((req.durationMs / elapsed).toFixed(2)) }, 'composed');
      return { file, path: finalPath, durationMs, sizeBytes, inputs: plan.used, skipped, metadataFile, metadata };
    } finally {
      await cleanup();
    }
  }

  return { compose };
}
