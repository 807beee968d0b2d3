import { initialTransition, type AnyMachineSnapshot } from 'xstate';
import { type StoredEvent } from '../../events/envelope.js';
import { parseStream, recordingStream } from '../../events/streams.js';
import { machines, steppers } from '../../machines/index.js';
import type { LoggedEvent } from '../log/types.js';

export interface ReplayOptions {
  /** Only show events correlated with this recording (every event is still folded). */
  recordingId?: string;
  /** Stop after this global sequence number. */
  untilSeq?: number;
  /**
   * Hands every shown entry over as it is folded instead of keeping it for
   * `timeline` (which is then empty): a log of any length replays in bounded
   * memory.
   */
  onEntry?: (entry: TimelineEntry) => void;
}

/** Events kept for following causation chains back from a problem: at least the last this many. */
export const CAUSES_KEPT = 100_000;

export interface TimelineEntry {
  seq: number;
  time: string;
  stream: string;
  type: string;
  position: number;
  before: string;
  after: string;
  /** The event changed nothing: the machine refused it (live, it would not have been logged). */
  refused: boolean;
  summary: string;
}

/** What the fold keeps per shown event; the strings of a TimelineEntry are made only when asked for. */
interface Shown {
  seq: number;
  event: StoredEvent;
  before: AnyMachineSnapshot;
  after: AnyMachineSnapshot;
}

const entryOf = ({ seq, event: e, before, after }: Shown): TimelineEntry => ({
  seq,
  time: new Date(e.time).toISOString(),
  stream: e.stream,
  type: e.type,
  position: e.position,
  before: stateOf(before),
  after: stateOf(after),
  refused: after === before,
  summary: summarize(e),
});

export interface Problem {
  seq: number;
  stream: string;
  what: string;
  detail: string[];
  /** The events that led to it: the causation chain, oldest first, then the stream's recent history. */
  ledTo: { seq: number; stream: string; type: string; summary: string }[];
}

export interface ReplayResult {
  /** Built on first access: folding does not pay for strings nobody prints. Empty with onEntry. */
  readonly timeline: TimelineEntry[];
  /** Entries shown (kept in timeline, or handed to onEntry). */
  shown: number;
  finals: { stream: string; state: string; position: number; context: Record<string, unknown> }[];
  problems: Problem[];
  events: number;
}

const stateOf = (s: AnyMachineSnapshot) => (typeof s.value === 'string' ? s.value : JSON.stringify(s.value));

/** One line of what an event says, for people. */
export function summarize(e: StoredEvent): string {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case 'room.member.joined':
      return `participant ${d.participantId}${d.name ? ` (${d.name})` : ''} on ${d.nodeId}`;
    case 'room.member.left':
      return `participant ${d.participantId}: ${d.reason}`;
    case 'room.recording.requested':
      return `recording ${d.recordingId} ${d.layout}/${d.format}`;
    case 'recording.started':
      return `members ${d.members.map((m: any) => `${m.participantId}(${m.role})`).join(', ')}`;
    case 'recording.stop.requested':
      return `${d.reason}${d.compose ? `, compose as ${d.compositionJobId}` : ', no composition'}`;
    case 'recording.peer.closed':
      return `${d.participantId}: ${d.outcome}, ${d.segments.length} segment(s)`;
    case 'peer.offer.received':
      return `offer (${d.sdp.length} bytes of SDP)`;
    case 'peer.answered':
      return `answer to offer ${d.offerNumber}`;
    case 'peer.track.received':
      return `${d.kind} ${d.codec}`;
    case 'peer.media.stats':
      return `+${d.packets} packets, +${d.bytes} bytes, ${d.lost} lost`;
    case 'peer.segment.finalized':
    case 'recording.segment.recorded':
      return `${d.segment.kind} ${d.segment.file} at +${d.segment.offsetMs} ms, ${d.segment.durationMs ?? '?'} ms`;
    case 'peer.failed':
    case 'peer.offer.failed':
      return d.error;
    case 'composition.started':
      return `attempt ${d.attempt} on ${d.workerId} (delivery ${d.delivery})`;
    case 'composition.progressed':
      return `${d.percent}%${d.speed ? ` at ${d.speed}x` : ''}`;
    case 'composition.completed':
      return `${d.output.file}, ${d.output.durationMs} ms, ${d.output.sizeBytes} bytes${d.skipped.length ? `, skipped ${d.skipped.length}` : ''}`;
    case 'composition.failed':
      return `attempt ${d.attempt}: ${d.error}`;
    default: {
      const s = JSON.stringify(d);
      return s === '{}' ? '' : s.length > 120 ? `${s.slice(0, 117)}...` : s;
    }
  }
}

function problemOf(e: StoredEvent, before: AnyMachineSnapshot, after: AnyMachineSnapshot): { what: string; detail: string[] } | null {
  const { kind, id } = parseStream(e.stream);
  const ctx = after.context as Record<string, any>;
  if (kind === 'composition' && e.type === 'composition.failed') {
    const d = e.data as { attempt: number; error: string; stderr: string[] };
    const next = after.value === 'retrying' ? 'will be retried' : 'no attempts left';
    return { what: `composition ${id} of recording ${ctx.recordingId} failed (attempt ${d.attempt}, ${next})`, detail: [d.error, ...d.stderr.map((l) => `ffmpeg: ${l}`)] };
  }
  if (kind === 'composition' && e.type === 'composition.timed-out') {
    return { what: `composition ${id} timed out (attempt ${ctx.attempt})`, detail: [] };
  }
  if (kind === 'peer' && before.value !== after.value && ['failed', 'no-media', 'no-offer'].includes(String(after.value))) {
    const who = `participant ${ctx.participantId} of recording ${ctx.recordingId}`;
    const what =
      after.value === 'no-offer' ? `${who} never sent its recorder offer` : after.value === 'no-media' ? `${who} never sent media` : `recorder peer of ${who} failed`;
    return { what, detail: [ctx.problem ?? ''] };
  }
  if (kind === 'recording' && before.value !== after.value && after.value === 'failed') {
    return { what: `recording ${id} failed`, detail: [ctx.error ?? ''] };
  }
  if (kind === 'recording' && e.type === 'recording.stop.requested' && (e.data as any).reason === 'interrupted') {
    return { what: `recording ${id} was interrupted by a server restart`, detail: ['its kept tracks are composed'] };
  }
  return null;
}

/**
 * Folds a log through the same pure machine transitions the runtime uses,
 * collecting a timeline, each actor's final state and the problems found.
 * Deterministic: it reads nothing but the events.
 */
export async function replay(events: AsyncIterable<LoggedEvent> | Iterable<LoggedEvent>, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const actors = new Map<string, { snapshot: AnyMachineSnapshot; position: number; history: { seq: number; event: StoredEvent }[] }>();
  // Causes by event id, in two generations of up to CAUSES_KEPT: memory stays bounded on a long log.
  let causes = new Map<string, { seq: number; event: StoredEvent }>();
  let olderCauses = new Map<string, { seq: number; event: StoredEvent }>();
  const causeOf = (id: string | null) => (id ? (causes.get(id) ?? olderCauses.get(id)) : undefined);
  const shown: Shown[] = [];
  let shownCount = 0;
  const problems: Problem[] = [];
  const inRecording = new Set<string>();
  let n = 0;

  const wanted = (e: StoredEvent) =>
    !opts.recordingId || e.correlationId === opts.recordingId || e.stream === recordingStream(opts.recordingId) || inRecording.has(e.stream);

  for await (const { seq, event: e } of events as AsyncIterable<LoggedEvent>) {
    if (opts.untilSeq !== undefined && seq > opts.untilSeq) break;
    n++;
    const { kind, id } = parseStream(e.stream);
    let actor = actors.get(e.stream);
    if (!actor) {
      actor = { snapshot: initialTransition(machines[kind], { id })[0], position: 0, history: [] };
      actors.set(e.stream, actor);
    }
    const before = actor.snapshot;
    const [after] = steppers[kind](before, e);
    actor.snapshot = after;
    actor.position = e.position;
    const at = { seq, event: e };
    causes.set(e.id, at);
    if (causes.size >= CAUSES_KEPT) {
      olderCauses = causes;
      causes = new Map();
    }
    const h = actor.history;
    h.push(at);
    if (h.length > 12) h.splice(0, 6);
    if (opts.recordingId && e.correlationId === opts.recordingId && kind !== 'room') inRecording.add(e.stream);
    if (wanted(e)) show(seq, e, before, after, h);
    if (after.status === 'done') actor.history = []; // a finished actor takes no more events: its history is not needed
  }

  function show(seq: number, e: StoredEvent, before: AnyMachineSnapshot, after: AnyMachineSnapshot, history: { seq: number; event: StoredEvent }[]) {
    shownCount++;
    if (opts.onEntry) opts.onEntry(entryOf({ seq, event: e, before, after }));
    else shown.push({ seq, event: e, before, after });
    const p = problemOf(e, before, after);
    if (p) {
      // The stream's recent history, and what caused each of those events, back to the start.
      const recent = history.slice(-7).filter((x) => x.seq !== seq);
      const found = new Map<number, { seq: number; event: StoredEvent }>(recent.map((x) => [x.seq, x]));
      for (const start of [{ seq, event: e }, ...recent]) {
        let cause = causeOf(start.event.causationId);
        for (let depth = 0; cause && depth < 10; depth++) {
          found.set(cause.seq, cause);
          cause = causeOf(cause.event.causationId);
        }
      }
      const ledTo = [...found.values()]
        .sort((a, b) => a.seq - b.seq)
        .slice(-12)
        .map((x) => ({ seq: x.seq, stream: x.event.stream, type: x.event.type, summary: summarize(x.event) }));
      problems.push({ seq, stream: e.stream, what: p.what, detail: p.detail.filter(Boolean), ledTo });
    }
  }

  const finals = [...actors.entries()]
    .filter(([stream]) => !opts.recordingId || inRecording.has(stream) || stream === recordingStream(opts.recordingId))
    .map(([stream, a]) => ({ stream, state: stateOf(a.snapshot), position: a.position, context: a.snapshot.context as Record<string, unknown> }))
    .sort((a, b) => a.stream.localeCompare(b.stream));
  let timeline: TimelineEntry[] | null = null;
  return {
    get timeline() {
      return (timeline ??= shown.map(entryOf));
    },
    shown: shownCount,
    finals,
    problems,
    events: n,
  };
}

/** One timeline line. */
export function formatEntry(t: TimelineEntry): string {
  const change = t.refused ? `${t.before} (refused)` : t.before === t.after ? t.after : `${t.before} → ${t.after}`;
  return `${String(t.seq).padStart(6)}  ${t.time}  ${t.stream.padEnd(48)} ${t.type.padEnd(28)} ${change}${t.summary ? `  · ${t.summary}` : ''}`;
}

/** The human-readable report. */
export function formatReplay(r: ReplayResult): string {
  return ['TIMELINE', ...r.timeline.map(formatEntry), '', formatOutcome(r)].join('\n');
}

/** What follows the timeline: the counts, every actor's final state, the problems. */
export function formatOutcome(r: ReplayResult): string {
  const out: string[] = [];
  out.push(`${r.events} events read, ${r.shown} shown`);
  out.push('');
  out.push('FINAL STATE');
  for (const f of r.finals) {
    const c = f.context as Record<string, any>;
    const extra =
      f.stream.startsWith('composition:') && c.output
        ? ` output ${c.output.file}`
        : c.problem
          ? ` (${c.problem})`
          : c.error
            ? ` (${c.error})`
            : '';
    out.push(`  ${f.stream.padEnd(48)} ${f.state}${extra}`);
  }
  out.push('');
  if (r.problems.length === 0) {
    out.push('No problems found.');
  } else {
    out.push(`PROBLEMS (${r.problems.length}); the first thing that went wrong:`);
    r.problems.forEach((p, i) => {
      out.push(`${i === 0 ? '>>' : '  '} #${p.seq} ${p.what}`);
      for (const d of p.detail) out.push(`       ${d}`);
      if (p.ledTo.length) {
        out.push('     led to by:');
        for (const l of p.ledTo) out.push(`       #${l.seq} ${l.stream} ${l.type}${l.summary ? `  · ${l.summary}` : ''}`);
      }
    });
  }
  return out.join('\n');
}
