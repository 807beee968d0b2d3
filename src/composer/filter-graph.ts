import type { Rect } from './geometry.js';
import { enableExpr, intersect, subtract, union, type Interval } from './intervals.js';
import { namePlateFilter, placeholderNameFilter } from './drawtext.js';
import type { Scene, Slot } from './layout.js';
import { displayName, type Participant, type PlacedSegment } from './participants.js';

export interface GraphSpec {
  width: number;
  height: number;
  fps: number;
  durationMs: number;
  namePlates: boolean;
  fontFile: string;
  participants: readonly Participant[];
  scene: Scene;
  /** swscale flags for tile scaling; bilinear is measured to be the best speed/quality trade here. */
  scaleFlags?: string;
  /**
   * Where the frame grid sits inside a frame on the recording's timeline (0 ≤ ms < 1000/fps):
   * frames at k/fps + this. See gridPhaseOf: one video segment's frames land on the grid exactly
   * instead of up to ½ frame off. The file keeps whole frames: everything, sound too, is moved
   * later by leadInMs (under a frame), so file time = recording time + leadInMs.
   */
  gridPhaseMs?: number;
  /**
   * The mixed audio moved this much later (ms) before the encoder: what the output's muxer puts
   * the decoded audio early by (see mux-offset.ts; ffmpeg 5.1 webm with Opus: its 6.5 ms codec delay).
   */
  audioShiftMs?: number;
}

export const COLORS = { canvas: '0x111111', tile: '0x262626' } as const;
export const SAMPLE_RATE = 48000;
/** One Opus frame: the sidecar's durationMs runs first → last frame, the last frame's length comes on top. */
const AUDIO_TAIL_MS = 20;

const s3 = (ms: number) => Number((ms / 1000).toFixed(6)).toString();
const num = (n: number) => Number(n.toFixed(9)).toString();

/**
 * Timing of a video segment: `setpts` moves its first frame to offsetMs and
 * scales its own timestamps by timeScale, so its last frame lands exactly at
 * offsetMs + durationMs (the sidecar's RTP-measured duration, on the sender's
 * clock). This corrects werift's drifting WebM timestamps and the sender's
 * clock rate linearly without touching frame content (no frames are
 * duplicated or dropped); `trim` is a guard for frames past the measured end.
 * The overlay then shows each frame from its timestamp until the next, and
 * nothing after the last (eof_action=pass).
 *
 * Output frames are a constant-rate grid; the overlay shows the newest frame
 * at or before each grid time. Moved half an output frame earlier, each frame
 * lands on the grid frame nearest its own time (error within ±½ frame, none
 * on average) instead of the next one (0 to 1 frame late, ½ on average).
 */
export function videoTiming(s: PlacedSegment, fps?: number): string {
  const lead = fps ? 500 / fps : 0;
  const start = s.offsetMs - lead;
  const end = start + s.durationMs + 1; // trim's end is exclusive: keep the frame at exactly offset + duration
  return `setpts='(PTS-STARTPTS)*${num(s.timeScale)}+(${s3(start)})/TB',trim=end=${s3(Math.max(0, end))}`;
}

/**
 * The output frame grid's phase that puts the frames of the longest video
 * segment exactly on grid frames (its first frame is at offsetMs and a camera
 * sends at a steady rate, so the rest follow): that participant's picture is
 * then as exact as its sound, instead of up to half a frame (17 ms at 30 fps)
 * early or late. Every other segment keeps the nearest-frame rule
 * (videoTiming), so no picture is ever worse than half a frame off.
 */
export function gridPhaseOf(video: readonly Pick<PlacedSegment, 'offsetMs' | 'durationMs'>[], fps: number): number {
  let longest: Pick<PlacedSegment, 'offsetMs' | 'durationMs'> | null = null;
  for (const s of video) if (!longest || s.durationMs > longest.durationMs) longest = s;
  if (!longest) return 0;
  // In ticks of the graph's clock (1/(fps·1000) s, fps ticks a millisecond, 1000 a frame): exact.
  const ticks = Math.round(((longest.offsetMs * fps) % 1000 + 1000) % 1000);
  return ticks === 0 || ticks === 1000 ? 0 : ticks / fps;
}

/** The graph's clock ticks (1/(fps·1000) s) of a phase: a whole number. */
const phaseTicks = (spec: Pick<GraphSpec, 'fps' | 'gridPhaseMs'>) => Math.round((spec.gridPhaseMs ?? 0) * spec.fps) % 1000;

/**
 * How much later than on the recording's timeline everything is in the file (ms, under a frame):
 * the frame grid at phase p is moved on by (frame − p) so its frames fall on whole frames, k/fps.
 * A file's frames must: sub-frame frame times, kept by a finer encoder clock, made ffmpeg (and
 * any later transcode at 1/fps) round some frames down and some up into the same frame slot.
 */
export function leadInOf(spec: Pick<GraphSpec, 'fps' | 'gridPhaseMs'>): number {
  const p = phaseTicks(spec);
  return p === 0 ? 0 : (1000 - p) / spec.fps;
}

/** Below this a stretch is not worth a resampler (30 minutes at 2 ppm is 3.6 ms). */
const MIN_STRETCH = 2e-6;
/** asetrate takes whole Hz: stretching at 192 kHz makes the rate exact to 2.6 ppm. */
const STRETCH_RATE = 192000;

/**
 * Timing of an audio segment (werift's audio timestamps are exact): on the
 * file's own clock as ffprobe reads it, whose 0 is the sidecar's offsetMs
 * (not rebased to the first decoded sample: Opus decoding drops a 6.5 ms
 * pre-skip, so a recorded track's first sample is at 6.5 ms, and rebasing
 * moved the whole track 6.5 ms early), gaps from lost packets and that
 * pre-skip filled with silence by timestamp (aresample async), cut at the measured duration, stretched by timeScale (the
 * sender's clock rate from its Sender Reports: a sound card 100 ppm fast plays
 * 100 ppm shorter; a pitch change of 0.01 % nobody hears), then delayed by
 * offsetMs in whole samples — sample-exact placement.
 */
export function audioTiming(s: PlacedSegment): string {
  const delay = Math.round((s.offsetMs * SAMPLE_RATE) / 1000);
  const stretch = Math.abs(s.timeScale - 1) >= MIN_STRETCH;
  const start = s.inputStartMs ?? 0;
  return [
    // ffmpeg moved the input's timestamps by minus its container start: back on the file's clock.
    ...(start !== 0 ? [`asetpts=PTS${start < 0 ? '-' : '+'}${s3(Math.abs(start))}/TB`] : []),
    `aresample=${SAMPLE_RATE}:async=1:first_pts=0`,
    `atrim=end=${s3(s.durationMs / s.timeScale + AUDIO_TAIL_MS)}`,
    ...(stretch ? [`aresample=${STRETCH_RATE}`, `asetrate=${Math.round(STRETCH_RATE / s.timeScale)}`, `aresample=${SAMPLE_RATE}`] : []),
    `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=stereo`,
    `adelay=delays=${delay}S:all=1`,
  ].join(',');
}

/**
 * Every voice summed at unity gain (normalize=0: no level changes when people
 * join or leave, no pumping), a limiter with fixed gain to catch the rare sum
 * above full scale, then padded/cut to exactly the recording's duration,
 * `leadInMs` of silence in front (leadInOf) and moved `shiftMs` later
 * (GraphSpec.audioShiftMs).
 */
export function audioMix(labels: readonly string[], durationMs: number, shiftMs = 0, leadInMs = 0): string {
  const T = s3(durationMs);
  const shift = shiftMs > 0 ? `,asetpts=PTS+${s3(shiftMs)}/TB` : '';
  if (labels.length === 0) {
    return `anullsrc=r=${SAMPLE_RATE}:cl=stereo,atrim=end=${s3(durationMs + leadInMs)}${shift}[aout]`;
  }
  // The lead-in as silence in front (whole samples, within 10 µs), so sound starts with the picture.
  const lead = Math.round((leadInMs * SAMPLE_RATE) / 1000);
  const delay = lead > 0 ? `,adelay=delays=${lead}S:all=1` : '';
  return (
    labels.map((l) => `[${l}]`).join('') +
    `amix=inputs=${labels.length}:duration=longest:normalize=0:dropout_transition=0,` +
    `alimiter=limit=0.89:attack=5:release=100:level=0:latency=1,` +
    `apad=whole_dur=${T},atrim=end=${T}${delay}${shift}[aout]`
  );
}

/**
 * Scales a tile's video to fit its place, keeping the aspect ratio; and
 * centres it there, re-evaluated per frame. Both follow a resolution or
 * orientation change in the middle of a segment (WebRTC adapts resolution,
 * phones rotate): with `-reinit_filter 0` the frames of a new size flow
 * through the same graph and come out letterboxed in the same place.
 */
export function fitInto(rect: Rect, flags: string): string {
  return `scale=${rect.w}:${rect.h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=${flags}`;
}

export function centredOverlay(rect: Rect): string {
  return `overlay=x='${rect.x}+trunc((${rect.w}-overlay_w)/4)*2':y='${rect.y}+trunc((${rect.h}-overlay_h)/4)*2':eval=frame:eof_action=pass`;
}

const segmentSpan = (s: PlacedSegment): Interval => ({ start: s.offsetMs, end: s.offsetMs + s.durationMs });

interface Use {
  slot: Slot;
  /** Null: the whole segment; else only these ranges (a stage slot). */
  windows: Interval[] | null;
}

function usesOf(seg: PlacedSegment, slots: readonly Slot[]): Use[] {
  const uses: Use[] = [];
  for (const slot of slots) {
    if (slot.participantId !== (seg.owner ?? seg.participantId)) continue;
    if (slot.when === null) uses.push({ slot, windows: null });
    else {
      const windows = intersect(slot.when, [segmentSpan(seg)]);
      if (windows.length > 0) uses.push({ slot, windows });
    }
  }
  return uses;
}

/** The video segments a scene actually shows (the others need not be decoded at all). */
export function shownVideo(participants: readonly Participant[], scene: Scene): PlacedSegment[] {
  return participants.flatMap((p) => p.video).filter((s) => usesOf(s, scene.slots).length > 0);
}

/**
 * The whole filtergraph: a background with the tile places and name
 * placeholders, every shown video segment overlaid at its place and time,
 * name plates on top; every audio segment placed on the timeline and mixed.
 * Outputs `[vout]` and `[aout]`. Pure.
 */
export function buildFilterGraph(spec: GraphSpec): string {
  const whole: Interval = { start: 0, end: spec.durationMs };
  const flags = spec.scaleFlags ?? 'bilinear';
  const frameMs = 1000 / spec.fps;
  const byId = new Map(spec.participants.map((p) => [p.participantId, p]));
  const videoOf = (p: Participant) => union(p.video.map(segmentSpan));
  const chains: string[] = [];

  // Background: canvas, tile places, and names for who is present without video.
  // The static background (canvas and tile places) is drawn once and looped:
  // drawbox repainting it on every frame cost more CPU than all the decoding.
  // The canvas drives every overlay's clock. overlay (eof_action=pass) converts
  // the tiles' timestamps to the canvas's time base, rounding to the nearest
  // tick: at 1/fps a tile starting at 9.039 s would show at 9.033 s. At
  // 1/(fps·1000) both frame times and the segments' millisecond timestamps are
  // exact, so a frame shows from the first canvas frame at or after its time.
  const bg = [`color=c=${COLORS.canvas}:s=${spec.width}x${spec.height}:r=${spec.fps}:d=1`, 'format=yuv420p'];
  for (const t of spec.scene.tiles) bg.push(`drawbox=x=${t.x}:y=${t.y}:w=${t.w}:h=${t.h}:color=${COLORS.tile}:t=fill`);
  bg.push(
    'trim=end_frame=1',
    'loop=loop=-1:size=1',
    `setpts=N/(${spec.fps}*TB)`,
    `settb=1/${spec.fps * 1000}`,
    // At phase p the canvas starts a frame early, at p − frame (see leadInOf): [vout] moves it on by
    // (frame − p), so the file's frames are at whole frames again, the first at 0.
    ...(phaseTicks(spec) ? [`setpts=PTS-${1000 - phaseTicks(spec)}`] : []),
    `trim=end=${s3(spec.durationMs)}`,
  );
  for (const slot of spec.scene.slots) {
    const p = byId.get(slot.participantId);
    if (!p) continue;
    const shown = intersect(slot.when ?? [whole], p.presence);
    const noVideo = subtract(shown, videoOf(p));
    if (noVideo.length === 0) continue;
    bg.push(placeholderNameFilter(displayName(p), slot.rect, spec.fontFile, enableExpr(noVideo, whole)));
  }
  chains.push(`${bg.join(',')}[bg]`);

  // Video segments onto their places.
  let last = 'bg';
  let n = 0;
  for (const p of spec.participants) {
    for (const seg of p.video) {
      const uses = usesOf(seg, spec.scene.slots);
      if (uses.length === 0) continue;
      const src = `v${seg.index}`;
      const outs = uses.map((_, i) => `${src}u${i}`);
      chains.push(`[${seg.index}:v]${videoTiming(seg, spec.fps)}${uses.length > 1 ? `,split=${uses.length}` : ''}${outs.map((o) => `[${o}]`).join('')}`);
      uses.forEach((use, i) => {
        const rect = use.slot.rect;
        const filters: string[] = [];
        if (use.windows) {
          // One frame of lead so the frame current at a window's start is there.
          const lead = use.windows.map((w) => ({ start: Math.max(0, w.start - frameMs), end: w.end }));
          filters.push(`select='${enableExpr(lead, { start: -Infinity, end: Infinity })}'`);
        }
        filters.push(fitInto(rect, flags), 'setsar=1');
        const scaled = `${outs[i]}s`;
        chains.push(`[${outs[i]}]${filters.join(',')}[${scaled}]`);
        const enable = use.windows ? `:enable='${enableExpr(use.windows, whole) ?? '1'}'` : '';
        const next = `o${n++}`;
        chains.push(`[${last}][${scaled}]${centredOverlay(rect)}${enable}[${next}]`);
        last = next;
      });
    }
  }

  // Name plates over video.
  const plates: string[] = [];
  if (spec.namePlates) {
    for (const slot of spec.scene.slots) {
      const p = byId.get(slot.participantId);
      if (!p) continue;
      const on = intersect(slot.when ?? [whole], videoOf(p));
      if (on.length === 0) continue;
      plates.push(namePlateFilter(displayName(p), slot.rect, spec.fontFile, enableExpr(on, whole)));
    }
  }
  const lead = phaseTicks(spec) ? `,setpts=PTS+${1000 - phaseTicks(spec)}` : '';
  chains.push(`[${last}]${plates.length > 0 ? plates.join(',') : 'null'}${lead}[vout]`);

  // Audio.
  const audioLabels: string[] = [];
  for (const p of spec.participants) {
    for (const seg of p.audio) {
      const label = `a${seg.index}`;
      chains.push(`[${seg.index}:a]${audioTiming(seg)}[${label}]`);
      audioLabels.push(label);
    }
  }
  chains.push(audioMix(audioLabels, spec.durationMs, spec.audioShiftMs, leadInOf(spec)));
  return chains.join(';\n');
}
