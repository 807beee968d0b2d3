import type { SegmentMeta } from '../../../events/segment.js';
import type { Layout } from '../../../events/catalog.js';
import { audioMix, buildFilterGraph, SAMPLE_RATE } from '../filter-graph.js';
import { planComposition, type CompositionPlan, type PlanSegment } from '../plan.js';
import type { WebmIndex } from './webm-index.js';

/**
 * One window of a live composition, planned. Pure: the segments as the
 * recorder has written them so far (sidecar + cluster index) in, the window's
 * slices, filtergraph and inputs out.
 *
 * A window [startMs, endMs) of the recording's timeline is composed as a
 * composition of its own, of length endMs - startMs, by the same planner and
 * filtergraph as the post-stop path: every segment's timing is moved by
 * -startMs, so a segment that began in an earlier window starts at a negative
 * time (its frames before 0 only set the picture current at 0). Everybody who
 * has appeared by the window's end has a place (the planner's order: host,
 * then by first appearance), so a newcomer reflows the layout from the window
 * in which they appear and a rejoin keeps its place.
 */
export interface LiveSegment {
  meta: SegmentMeta;
  /** Absolute path of the media file. */
  path: string;
  index: WebmIndex;
}

/** Video frames reach this far past their timestamp (one frame at 30 fps); audio one Opus frame. */
const TAIL_MS = { video: 34, audio: 20 } as const;
/** A slice reaches this far past the window, so the frame current at its end is in it. */
const SLICE_PAST_MS = 200;

/** Where a segment's media lies on the recording's timeline so far: [start, end). Null before its first block. */
export function extentOf(s: LiveSegment): { start: number; end: number } | null {
  const { meta, index } = s;
  if (meta.finalized) {
    if (meta.durationMs === null) return null;
    return { start: meta.offsetMs, end: meta.offsetMs + meta.durationMs };
  }
  if (index.firstBlockMs === null || index.lastBlockMs === null) return null;
  return { start: meta.offsetMs, end: meta.offsetMs + (index.lastBlockMs - index.firstBlockMs) + TAIL_MS[meta.kind] };
}

/**
 * Whether every segment's media for [.., endMs) is on disk: finished
 * segments are; a growing one once its newest whole block reaches endMs.
 * Segments that have not started by endMs do not count.
 */
export function windowReady(segments: readonly LiveSegment[], endMs: number): boolean {
  return segments.every((s) => {
    if (s.meta.offsetMs >= endMs || s.meta.finalized) return true;
    const e = extentOf(s);
    return e !== null && e.end >= endMs;
  });
}

export interface SliceSpec {
  segment: LiveSegment;
  /** File time (ms) the slice must hold from / to. */
  fromMs: number;
  toMs: number;
}

/** The segments a window needs, with the file times their slices must cover. */
export function windowSlices(segments: readonly LiveSegment[], startMs: number, endMs: number): SliceSpec[] {
  const out: SliceSpec[] = [];
  for (const s of segments) {
    const e = extentOf(s);
    if (!e || e.start >= endMs || e.end <= startMs) continue;
    const first = s.index.firstBlockMs ?? 0;
    const scale = timeScaleOf(s);
    out.push({ segment: s, fromMs: Math.max(first, first + (startMs - e.start) / scale), toMs: first + (endMs - e.start) / scale + SLICE_PAST_MS });
  }
  return out;
}

export interface CutSlice {
  spec: SliceSpec;
  path: string;
  /** File time of the slice's first cluster. */
  startMs: number;
  /** Audio: the slice's container start as ffmpeg reads it (startMs, or less by an Opus codec delay). */
  formatStartMs?: number;
}

export interface WindowRequest {
  startMs: number;
  endMs: number;
  layout: Layout;
  width: number;
  height: number;
  fps: number;
  namePlates: boolean;
  fontFile: string;
}

export interface WindowPlan {
  plan: CompositionPlan;
  /** ffmpeg inputs in order: the plan's video, then the audio slices. */
  inputs: { index: number; kind: 'audio' | 'video'; path: string }[];
  graph: string;
}

/** Beyond this the sidecar and the file disagree too much for a drift correction (as probe.ts's assessSegment). */
const MAX_DRIFT = 0.2;

/**
 * Video of a finished segment: the factor that maps its file timestamps onto
 * the sidecar's RTP-measured duration (as the post-stop path's assessment does
 * from a packet scan; here from the cluster index). A growing segment's
 * timestamps are the recorder's own RTP milliseconds: 1.
 */
export function timeScaleOf(s: LiveSegment): number {
  const { meta, index } = s;
  if (meta.kind !== 'video' || !meta.finalized || meta.durationMs === null || index.firstBlockMs === null || index.lastBlockMs === null) return 1;
  const span = index.lastBlockMs - index.firstBlockMs;
  if (span <= 0) return 1;
  // The sidecar's duration runs to the END of the last frame, the blocks' span to its start (as probe.ts's assessSegment).
  const frames = index.clusters.reduce((n, c) => n + c.blocks, 0);
  const stepMs = frames > 1 ? span / (frames - 1) : 0;
  const scale = (meta.durationMs - stepMs) / span;
  return Math.abs(scale - 1) > MAX_DRIFT ? 1 : scale;
}

/** A segment's sidecar seen from the window: its timing moved by -startMs, its duration what is on disk. */
function shifted(s: LiveSegment, startMs: number, sliceStart?: number): SegmentMeta {
  const e = extentOf(s);
  const first = s.index.firstBlockMs ?? 0;
  const skip = sliceStart === undefined ? 0 : (sliceStart - first) * timeScaleOf(s);
  return {
    ...s.meta,
    offsetMs: s.meta.offsetMs + skip - startMs,
    durationMs: e ? e.end - e.start - skip : s.meta.durationMs,
  };
}

/**
 * The audio of a window: every slice on its own clock from its first cluster, gaps filled by timestamp,
 * placed by its offset in whole samples (cut at the window's start when it
 * began before it), summed, limited and cut to the window's exact number of
 * samples, so windows join sample-exactly.
 */
export function windowAudioGraph(slices: readonly { index: number; offsetMs: number; durationMs: number; inputStartMs?: number }[], lengthMs: number): string {
  const chains: string[] = [];
  const labels: string[] = [];
  for (const s of slices) {
    const offsetSamples = Math.round((s.offsetMs * SAMPLE_RATE) / 1000);
    const start = s.inputStartMs ?? 0;
    const f = [
      // ffmpeg starts the slice at its first packet; its first cluster is the offset. Not rebased to the
      // first decoded sample: the decoder drops an Opus pre-skip (6.5 ms) there, and aresample fills it.
      ...(start !== 0 ? [`asetpts=PTS${start < 0 ? '-' : '+'}${(Math.abs(start) / 1000).toFixed(6)}/TB`] : []),
      `aresample=${SAMPLE_RATE}:async=1:first_pts=0`,
      `atrim=end_sample=${Math.round(((s.durationMs + TAIL_MS.audio) * SAMPLE_RATE) / 1000)}`,
      `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=stereo`,
    ];
    if (offsetSamples >= 0) f.push(`adelay=delays=${offsetSamples}S:all=1`);
    else f.push(`atrim=start_sample=${-offsetSamples}`, 'asetpts=PTS-STARTPTS');
    const label = `la${s.index}`;
    chains.push(`[${s.index}:a]${f.join(',')}[${label}]`);
    labels.push(label);
  }
  const samples = Math.round((lengthMs * SAMPLE_RATE) / 1000);
  const mixed = audioMix(labels, lengthMs).replace(/\[aout\]$/, `,atrim=end_sample=${samples}[aout]`);
  chains.push(mixed);
  return chains.join(';\n');
}

/** Drops the audio chains from a full filtergraph: the window's audio is built by windowAudioGraph. */
function videoOnly(graph: string): string {
  return graph
    .split(';\n')
    .filter((c) => !/^\[\d+:a\]/.test(c) && !c.endsWith('[aout]'))
    .join(';\n');
}

/** The audio slices as the window's inputs (appended to `inputs`) and their timing in it. */
function audioSlices(req: Pick<WindowRequest, 'startMs'>, slices: readonly CutSlice[], inputs: WindowPlan['inputs']) {
  const audio: { index: number; offsetMs: number; durationMs: number; inputStartMs?: number }[] = [];
  for (const c of slices) {
    if (c.spec.segment.meta.kind !== 'audio') continue;
    const meta = shifted(c.spec.segment, req.startMs, c.startMs);
    const index = inputs.length;
    inputs.push({ index, kind: 'audio', path: c.path });
    const inputStartMs = c.formatStartMs === undefined ? 0 : c.formatStartMs - c.startMs;
    audio.push({ index, offsetMs: meta.offsetMs, durationMs: meta.durationMs ?? 0, ...(inputStartMs !== 0 ? { inputStartMs } : {}) });
  }
  return audio;
}

/**
 * Only the audio of [startMs, endMs) (outputs [aout]): what a resumed session
 * composes again for the chunks a crashed process left, whose audio died with
 * that process's encoder.
 */
export function planWindowAudio(req: Pick<WindowRequest, 'startMs' | 'endMs'>, slices: readonly CutSlice[]): { inputs: WindowPlan['inputs']; graph: string } {
  const inputs: WindowPlan['inputs'] = [];
  const audio = audioSlices(req, slices, inputs);
  return { inputs, graph: windowAudioGraph(audio, req.endMs - req.startMs) };
}

/** The window's plan, inputs and whole filtergraph (outputs [vout] and [aout]). */
export function planWindow(req: WindowRequest, slices: readonly CutSlice[], all: readonly LiveSegment[]): WindowPlan {
  const lengthMs = req.endMs - req.startMs;
  const inWindow = new Set(slices.map((c) => c.spec.segment.meta.file));
  const video: PlanSegment[] = [];
  for (const c of slices) {
    if (c.spec.segment.meta.kind !== 'video') continue;
    const meta = shifted(c.spec.segment, req.startMs, c.startMs);
    video.push({
      meta,
      path: c.path,
      assessment: { ok: true, durationMs: meta.durationMs ?? 0, timeScale: timeScaleOf(c.spec.segment) },
      levels: null,
    });
  }
  // Everything else says who is there when (audio, and segments outside this window).
  const presence = all
    .filter((s) => s.meta.kind === 'audio' || !inWindow.has(s.meta.file))
    .filter((s) => s.meta.offsetMs < req.endMs && extentOf(s) !== null)
    .map((s) => shifted(s, req.startMs));
  const plan = planComposition(
    { durationMs: lengthMs, layout: req.layout, width: req.width, height: req.height, fps: req.fps, namePlates: req.namePlates, fontFile: req.fontFile },
    video,
    presence,
  );
  const inputs: WindowPlan['inputs'] = plan.inputs.map((s) => ({ index: s.index, kind: 'video', path: s.path }));
  const audio = audioSlices(req, slices, inputs);
  // Chunks are joined end to end: each keeps the grid at whole frames (the post-stop composition
  // moves it onto the longest segment's frames, plan.ts), so no join has an uneven frame step.
  const graph = `${videoOnly(buildFilterGraph({ ...plan.spec, gridPhaseMs: 0 }))};\n${windowAudioGraph(audio, lengthMs)}`;
  return { plan, inputs, graph };
}
