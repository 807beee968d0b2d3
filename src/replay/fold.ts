import type { AnyMachineSnapshot } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';
import { recordingStream, type StreamKind } from '../../events/streams.js';
import type { LoggedEvent } from '../log/types.js';
import { foldEvent, initialState } from '../runtime/fold.js';
import { problemOf } from './problems.js';
import { stateOf, summarize } from './summary.js';

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
  /**
   * Sees every shown event with the states around it, the problem found at it
   * (if any) and its causation chain on demand: the timeline picture
   * (timeline.ts) is drawn from what this fold sees, not from a second fold.
   */
  observe?: (shown: ShownEvent) => void;
}

/** One event of the causation chain the report prints under a problem. */
export interface LedTo {
  seq: number;
  stream: string;
  type: string;
  summary: string;
}

/** What `observe` is handed for each shown event. */
export interface ShownEvent {
  seq: number;
  event: StoredEvent;
  before: AnyMachineSnapshot;
  after: AnyMachineSnapshot;
  /** The problem this event is (the same object as in ReplayResult.problems), or null. */
  problem: Problem | null;
  /** The events that led to this one: the chain a problem prints, for any event (computed when called, during observe only). */
  ledTo(): LedTo[];
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

export interface Problem {
  seq: number;
  stream: string;
  what: string;
  detail: string[];
  /** The events that led to it: the causation chain, oldest first, then the stream's recent history. */
  ledTo: LedTo[];
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

/** A stream's folded state and its recent events (for showing what led to a problem). */
interface ReplayActor {
  kind: StreamKind;
  snapshot: AnyMachineSnapshot;
  position: number;
  history: { seq: number; event: StoredEvent }[];
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

/**
 * Folds a log through the runtime's own fold (src/runtime/fold.ts),
 * collecting a timeline, each actor's final state and the problems found.
 * Deterministic: it reads nothing but the events.
 */
export async function replay(events: AsyncIterable<LoggedEvent> | Iterable<LoggedEvent>, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const actors = new Map<string, ReplayActor>();
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
    let actor = actors.get(e.stream);
    if (!actor) {
      const { kind, snapshot } = initialState(e.stream);
      actor = { kind, snapshot, position: 0, history: [] };
      actors.set(e.stream, actor);
    }
    // Every event handed over is folded, in the order given: the operator sees the log as it is.
    const before = actor.snapshot;
    const after = foldEvent(actor.kind, before, e);
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
    if (opts.recordingId && e.correlationId === opts.recordingId && actor.kind !== 'room') inRecording.add(e.stream);
    if (wanted(e)) show(seq, e, before, after, h);
    if (after.status === 'done') actor.history = []; // a finished actor takes no more events: its history is not needed
  }

  function show(seq: number, e: StoredEvent, before: AnyMachineSnapshot, after: AnyMachineSnapshot, history: { seq: number; event: StoredEvent }[]) {
    shownCount++;
    if (opts.onEntry) opts.onEntry(entryOf({ seq, event: e, before, after }));
    else shown.push({ seq, event: e, before, after });
    const ledTo = () => chainOf(seq, e, history);
    const p = problemOf(e, before, after);
    const problem: Problem | null = p ? { seq, stream: e.stream, what: p.what, detail: p.detail.filter(Boolean), ledTo: ledTo() } : null;
    if (problem) problems.push(problem);
    opts.observe?.({ seq, event: e, before, after, problem, ledTo });
  }

  /** The stream's recent history, and what caused each of those events, back to the start. */
  function chainOf(seq: number, e: StoredEvent, history: { seq: number; event: StoredEvent }[]): LedTo[] {
    const recent = history.slice(-7).filter((x) => x.seq !== seq);
    const found = new Map<number, { seq: number; event: StoredEvent }>(recent.map((x) => [x.seq, x]));
    for (const start of [{ seq, event: e }, ...recent]) {
      let cause = causeOf(start.event.causationId);
      for (let depth = 0; cause && depth < 10; depth++) {
        found.set(cause.seq, cause);
        cause = causeOf(cause.event.causationId);
      }
    }
    return [...found.values()]
      .sort((a, b) => a.seq - b.seq)
      .slice(-12)
      .map((x) => ({ seq: x.seq, stream: x.event.stream, type: x.event.type, summary: summarize(x.event) }));
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
