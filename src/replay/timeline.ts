import type { StoredEvent } from '../../events/envelope.js';
import { parseStream, recordingOfPeerStream, recordingStream } from '../../events/streams.js';
import type { LoggedEvent } from '../log/types.js';
import { replay, type LedTo, type ShownEvent } from './fold.js';
import { summarize } from './summary.js';

/**
 * A recording's timeline as data: one lane per participant (presence, track
 * segments, camera-off spans, speech, problem marks) and one for its
 * compositions, drawn from what the replay fold (fold.ts) sees of the
 * recording, so the picture, the report and the runtime cannot disagree.
 * Times are ms from the recording's start. Pure: speech comes from the
 * levels files (speech.ts adds it).
 */

export interface Span {
  startMs: number;
  endMs: number;
}

export type MarkKind =
  | 'no-media'
  | 'no-offer'
  | 'failed-peer'
  | 'gap'
  | 'composition-failed'
  | 'recording-failed'
  | 'interrupted'
  | 'write-failed';

/** A problem at one moment, with the events behind it (the causation chain the replay report prints, then the event itself). */
export interface Mark {
  kind: MarkKind;
  atMs: number;
  /** A gap's end (null while it lasts). */
  endMs?: number | null;
  title: string;
  detail: string[];
  events: (LedTo & { time: string })[];
}

export interface PresenceSpan extends Span {
  /** How the span began: in the room when recording started, joined later, or came back. */
  began: 'at-start' | 'joined' | 'rejoined';
  /** Why it ended (null: still present, or present until the stop). */
  leftReason: string | null;
}

export interface SegmentSpan extends Span {
  kind: 'audio' | 'video';
  file: string;
  segmentIndex: number;
  codec: string;
  /** Not finalized yet: its end is the timeline's end. */
  open: boolean;
}

export interface Lane {
  participantId: string;
  name: string | null;
  role: 'host' | 'participant';
  presence: PresenceSpan[];
  segments: SegmentSpan[];
  cameraOff: Span[];
  speech: Span[];
  marks: Mark[];
  /** The recorder peer's last state and its totals. */
  peer: { state: string; packets: number; bytes: number; lost: number } | null;
}

export interface CompositionAttempt extends Span {
  jobId: string;
  attempt: number;
  outcome: 'running' | 'completed' | 'failed' | 'timed-out' | 'lost';
  percent: number;
  error: string | null;
}

export interface Timeline {
  recordingId: string;
  roomId: string | null;
  state: string;
  layout: string | null;
  format: string | null;
  /** ms since epoch. */
  startedAt: number | null;
  stoppedAt: number | null;
  stopReason: string | null;
  /** Length of the recording (to its stop, or to its last event while it runs). */
  durationMs: number;
  /** The picture's right edge: the recording and its compositions. */
  endMs: number;
  lanes: Lane[];
  compositions: { jobId: string; layout: string; format: string; state: string; attempts: CompositionAttempt[]; output: string | null }[];
  /** Marks of the recording itself (failed composition attempts, a failed or interrupted recording). */
  marks: Mark[];
  /**
   * The live composition's progress (LIVE_COMPOSE), window by window: at atMs of the recording it was
   * composed up to composedUpToMs, lagMs behind real time, on workerId. Empty without it.
   */
  live: { atMs: number; composedUpToMs: number; lagMs: number; chunks: number; workerId: string }[];
  /** Events of the recording the fold saw. */
  events: number;
}

/** A hole in a participant's audio while present that counts as a gap. */
const AUDIO_GAP_MS = 2_000;
/** Camera-off spans shorter than this (the moment between two segments) are not drawn. */
const CAMERA_OFF_MIN_MS = 500;

const PEER_MARKS: Record<string, MarkKind> = { 'no-media': 'no-media', 'no-offer': 'no-offer', failed: 'failed-peer' };

/** Union of spans, sorted. */
export function unionOf(spans: readonly Span[]): Span[] {
  const out: Span[] = [];
  for (const s of [...spans].sort((a, b) => a.startMs - b.startMs)) {
    const last = out.at(-1);
    if (last && s.startMs <= last.endMs) last.endMs = Math.max(last.endMs, s.endMs);
    else out.push({ startMs: s.startMs, endMs: s.endMs });
  }
  return out;
}

/** The parts of `within` that `covered` does not cover, at least minMs long. */
export function holesOf(within: readonly Span[], covered: readonly Span[], minMs: number): Span[] {
  const cov = unionOf(covered);
  const out: Span[] = [];
  for (const w of within) {
    let at = w.startMs;
    for (const c of cov) {
      if (c.endMs <= at || c.startMs >= w.endMs) continue;
      if (c.startMs > at) out.push({ startMs: at, endMs: c.startMs });
      at = Math.max(at, c.endMs);
    }
    if (w.endMs > at) out.push({ startMs: at, endMs: w.endMs });
  }
  return out.filter((s) => s.endMs - s.startMs >= minMs);
}

interface LaneDraft extends Omit<Lane, 'cameraOff' | 'speech'> {
  openSince: number | null;
}

/**
 * Collects a timeline from the fold's shown events: hand `observe` to
 * `replay({ recordingId, observe })`, then `build()`.
 */
export function createTimelineBuilder(recordingId: string) {
  const lanes = new Map<string, LaneDraft>();
  const marks: Mark[] = [];
  const jobs = new Map<string, Timeline['compositions'][number]>();
  const live: Timeline['live'] = [];
  const times = new Map<number, string>();
  let startedAt: number | null = null;
  let stoppedAt: number | null = null;
  let stopReason: string | null = null;
  let lastTime = 0;
  let state = 'unknown';
  let roomId: string | null = null;
  let layout: string | null = null;
  let format: string | null = null;
  let segments: (Omit<SegmentSpan, 'startMs' | 'endMs' | 'open'> & { participantId: string; offsetMs: number; durationMs: number | null })[] = [];
  const pendingLeft = new Map<string, string>();
  /** The chain behind each segment's recording.segment.recorded: a gap found between segments shows the segments' events. */
  const segmentChains = new Map<string, Mark['events']>();
  let count = 0;

  const rel = (t: number) => Math.max(0, t - (startedAt ?? t));
  const chain = (s: ShownEvent) => [...s.ledTo(), { seq: s.seq, stream: s.event.stream, type: s.event.type, summary: summarize(s.event) }].map((l) => ({ ...l, time: times.get(l.seq) ?? '' }));

  function lane(participantId: string, role?: 'host' | 'participant', name?: string | null): LaneDraft {
    let l = lanes.get(participantId);
    if (!l) lanes.set(participantId, (l = { participantId, name: name ?? null, role: role ?? 'participant', presence: [], segments: [], marks: [], peer: null, openSince: null }));
    if (name) l.name = name;
    if (role) l.role = role;
    return l;
  }
  function arrive(l: LaneDraft, at: number, began: PresenceSpan['began']) {
    if (l.openSince !== null) return;
    l.openSince = at;
    l.presence.push({ startMs: at, endMs: at, began: l.presence.length > 0 ? 'rejoined' : began, leftReason: null });
  }
  function depart(l: LaneDraft, at: number, reason: string | null) {
    if (l.openSince === null) return;
    const span = l.presence.at(-1)!;
    span.endMs = Math.max(span.startMs, at);
    span.leftReason = reason;
    l.openSince = null;
  }

  function observe(s: ShownEvent) {
    const e: StoredEvent = s.event;
    // A fold of the whole log shows every recording's events: this builder takes its own recording's.
    if (e.correlationId !== recordingId && e.stream !== recordingStream(recordingId) && recordingOfPeerStream(e.stream) !== recordingId) return;
    count++;
    times.set(s.seq, new Date(e.time).toISOString());
    lastTime = Math.max(lastTime, e.time);
    const { kind, id } = parseStream(e.stream);
    const d = e.data as Record<string, any>;
    const ctx = s.after.context as Record<string, any>;

    if (e.stream === recordingStream(recordingId)) {
      state = typeof s.after.value === 'string' ? s.after.value : JSON.stringify(s.after.value);
      roomId = ctx.roomId ?? roomId;
      layout = ctx.layout ?? layout;
      format = ctx.format ?? format;
      segments = ctx.segments ?? segments;
      if (e.type === 'recording.started') {
        startedAt = d.startedAt;
        for (const m of d.members) arrive(lane(m.participantId, m.role, m.name), 0, 'at-start');
      } else if (e.type === 'recording.participant.joined') {
        arrive(lane(d.member.participantId, d.member.role, d.member.name), rel(e.time), 'joined');
      } else if (e.type === 'recording.participant.left') {
        depart(lane(d.participantId), rel(e.time), pendingLeft.get(d.participantId) ?? 'left');
        pendingLeft.delete(d.participantId);
      } else if (e.type === 'recording.segment.recorded') {
        segmentChains.set(d.segment.file, chain(s));
      } else if (e.type === 'recording.peer.closed') {
        const c = chain(s);
        for (const x of d.segments) if (!segmentChains.has(x.file)) segmentChains.set(x.file, c);
      } else if (e.type === 'recording.stop.requested' && s.after !== s.before) {
        stopReason = d.reason;
      } else if (e.type === 'recording.live.progressed' && s.after !== s.before) {
        live.push({ atMs: rel(e.time), composedUpToMs: d.composedUpToMs, lagMs: d.lagMs, chunks: d.chunks, workerId: d.workerId });
      }
      if (ctx.stoppedAt !== null && ctx.stoppedAt !== undefined && stoppedAt === null && s.after.value !== 'recording') stoppedAt = ctx.stoppedAt;
    } else if (kind === 'room' && e.type === 'room.member.left') {
      pendingLeft.set(d.participantId, d.reason);
    } else if (kind === 'peer' && recordingOfPeerStream(e.stream) === recordingId) {
      const l = lane(ctx.participantId || id.slice(id.indexOf('.') + 1), ctx.role, ctx.name);
      l.peer = { state: String(s.after.value), ...ctx.stats };
      if (e.type === 'peer.media.stalled' && s.after !== s.before) {
        l.marks.push({
          kind: 'gap',
          atMs: rel(e.time),
          endMs: null,
          title: `${d.kind} stopped arriving`,
          detail: [`no ${d.kind} packets for a while on a started track`],
          events: chain(s),
        });
      } else if (e.type === 'peer.media.resumed' && s.after !== s.before) {
        const open = l.marks.findLast((m) => m.kind === 'gap' && m.endMs === null && m.title.startsWith(d.kind));
        if (open) {
          open.endMs = rel(e.time);
          open.detail.push(`${d.kind} resumed after ${Math.round((open.endMs - open.atMs) / 100) / 10} s`);
        }
      }
    } else if (kind === 'composition') {
      let job = jobs.get(id);
      if (!job) jobs.set(id, (job = { jobId: id, layout: ctx.layout, format: ctx.format, state: '', attempts: [], output: null }));
      job.state = String(s.after.value);
      job.output = ctx.output?.file ?? job.output;
      const attempt = job.attempts.at(-1);
      if (e.type === 'composition.started' && s.after !== s.before) {
        if (attempt?.outcome === 'running') attempt.outcome = 'lost';
        job.attempts.push({ jobId: id, attempt: d.attempt, startMs: rel(e.time), endMs: rel(e.time), outcome: 'running', percent: 0, error: null });
      } else if (attempt && attempt.outcome === 'running') {
        attempt.endMs = rel(e.time);
        if (e.type === 'composition.progressed') attempt.percent = d.percent;
        else if (e.type === 'composition.completed') Object.assign(attempt, { outcome: 'completed', percent: 100 });
        else if (e.type === 'composition.failed') Object.assign(attempt, { outcome: 'failed', error: d.error });
        else if (e.type === 'composition.timed-out') Object.assign(attempt, { outcome: 'timed-out', error: 'timed out' });
        else if (e.type === 'composition.requeued') Object.assign(attempt, { outcome: 'lost', error: d.reason });
      }
    }

    if (s.problem) {
      const p = s.problem;
      const at = rel(e.time);
      if (kind === 'peer') {
        const l = lane(ctx.participantId);
        const mk = PEER_MARKS[String(s.after.value)] ?? 'failed-peer';
        l.marks.push({ kind: mk, atMs: at, title: p.what, detail: p.detail, events: chain(s) });
      } else if (kind === 'composition') {
        marks.push({ kind: 'composition-failed', atMs: at, title: p.what, detail: p.detail, events: chain(s) });
      } else if (kind === 'recording') {
        marks.push({ kind: e.type === 'recording.stop.requested' ? 'interrupted' : 'recording-failed', atMs: at, title: p.what, detail: p.detail, events: chain(s) });
      }
    }
    if (e.type === 'recording.write.failed') {
      lane(d.participantId).marks.push({ kind: 'write-failed', atMs: rel(e.time), title: `writing ${d.file} failed (${d.reason})`, detail: [d.error], events: chain(s) });
    }
  }

  function build(): Timeline {
    const durationMs = stoppedAt !== null && startedAt !== null ? Math.max(0, stoppedAt - startedAt) : rel(lastTime);
    const out: Lane[] = [];
    for (const l of lanes.values()) {
      const own = segments.filter((x) => x.participantId === l.participantId);
      const segs: SegmentSpan[] = own
        .map((x) => ({
          kind: x.kind,
          file: x.file,
          segmentIndex: x.segmentIndex,
          codec: x.codec,
          startMs: x.offsetMs,
          endMs: x.durationMs === null ? durationMs : Math.min(x.offsetMs + x.durationMs, Math.max(durationMs, x.offsetMs)),
          open: x.durationMs === null,
        }))
        .sort((a, b) => a.startMs - b.startMs || a.kind.localeCompare(b.kind));
      const presence = l.presence.map((p, i) => (l.openSince !== null && i === l.presence.length - 1 ? { ...p, endMs: Math.max(p.startMs, durationMs) } : p));
      const cameraOff = holesOf(presence, segs.filter((x) => x.kind === 'video'), CAMERA_OFF_MIN_MS);
      const marks = [...l.marks];
      // Audio missing while present and the peer had sent audio before: a gap the events do not name.
      const audio = segs.filter((x) => x.kind === 'audio');
      if (audio.length > 0) {
        const since = audio[0]!.startMs;
        const within = presence.map((p) => ({ startMs: Math.max(p.startMs, since), endMs: p.endMs })).filter((p) => p.endMs > p.startMs);
        for (const h of holesOf(within, audio, AUDIO_GAP_MS)) {
          if (marks.some((m) => m.kind === 'gap' && m.atMs <= h.endMs && (m.endMs ?? durationMs) >= h.startMs)) continue;
          // the events behind the segments on either side of the hole
          const before = audio.findLast((x) => x.endMs <= h.startMs + 1);
          const after = audio.find((x) => x.startMs >= h.endMs - 1);
          const events = [...(before ? (segmentChains.get(before.file) ?? []) : []), ...(after ? (segmentChains.get(after.file) ?? []) : [])];
          const seen = new Set<number>();
          marks.push({
            kind: 'gap',
            atMs: h.startMs,
            endMs: h.endMs,
            title: `no audio recorded for ${Math.round((h.endMs - h.startMs) / 100) / 10} s while present`,
            detail: [
              before ? `the audio segment before ends at ${Math.round(before.endMs)} ms (${before.file})` : 'no audio segment before it',
              after ? `the next begins at ${Math.round(after.startMs)} ms (${after.file})` : 'no audio segment after it',
            ],
            events: events.filter((x) => !seen.has(x.seq) && seen.add(x.seq)).sort((a, b) => a.seq - b.seq),
          });
        }
      }
      out.push({
        participantId: l.participantId,
        name: l.name,
        role: l.role,
        presence,
        segments: segs,
        cameraOff,
        speech: [],
        marks: marks.sort((a, b) => a.atMs - b.atMs),
        peer: l.peer,
      });
    }
    out.sort((a, b) => (a.role === b.role ? (a.presence[0]?.startMs ?? 0) - (b.presence[0]?.startMs ?? 0) : a.role === 'host' ? -1 : 1));
    const compositions = [...jobs.values()];
    const endMs = Math.max(durationMs, ...compositions.flatMap((j) => j.attempts.map((a) => a.endMs)), ...marks.map((m) => m.atMs));
    return {
      recordingId,
      roomId,
      state,
      layout,
      format,
      startedAt,
      stoppedAt,
      stopReason,
      durationMs,
      endMs,
      lanes: out,
      compositions,
      live,
      marks: [...marks].sort((a, b) => a.atMs - b.atMs),
      events: count,
    };
  }

  return { observe, build };
}

/**
 * The timeline of one recording from a log (all of it, or the events
 * correlated with the recording: `log.read({ correlationId })`), through the
 * replay fold. Null when the log holds no such recording.
 */
export async function recordingTimeline(events: AsyncIterable<LoggedEvent> | Iterable<LoggedEvent>, recordingId: string): Promise<Timeline | null> {
  const b = createTimelineBuilder(recordingId);
  let seen = false;
  await replay(events, {
    recordingId,
    onEntry: () => {},
    observe: (s) => {
      if (s.event.stream === recordingStream(recordingId)) seen = true;
      b.observe(s);
    },
  });
  return seen ? b.build() : null;
}

/** Every recording's timeline in a log, in the order they started, from one fold of it. */
export async function allTimelines(events: AsyncIterable<LoggedEvent> | Iterable<LoggedEvent>): Promise<Timeline[]> {
  const builders = new Map<string, ReturnType<typeof createTimelineBuilder>>();
  await replay(events, {
    onEntry: () => {},
    observe: (s) => {
      if (s.event.type === 'recording.started' && !builders.has(parseStream(s.event.stream).id)) {
        builders.set(parseStream(s.event.stream).id, createTimelineBuilder(parseStream(s.event.stream).id));
      }
      const { kind, id } = parseStream(s.event.stream);
      const owner = kind === 'recording' ? id : kind === 'peer' ? recordingOfPeerStream(s.event.stream) : s.event.correlationId;
      if (owner) builders.get(owner)?.observe(s);
    },
  });
  return [...builders.values()].map((b) => b.build());
}
