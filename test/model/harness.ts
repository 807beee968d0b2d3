import pino from 'pino';
import type { AnyStateMachine } from 'xstate';
import type { StoredEvent } from '../../events/envelope.js';
import { STREAM_KINDS, type StreamKind } from '../../events/streams.js';
import { machines, steppers } from '../../machines/index.js';
import { createRuntime, type EffectHandlers, type Runtime, type UncheckedEventInput } from '../../src/runtime/runtime.js';
import { createMemoryLog } from './memory-log.js';
import { recordingStepper, type StepRecord, type TransitionKey } from './transitions.js';

export type MachineSet = Record<StreamKind, AnyStateMachine>;

/** One accepted event as the runtime applied it, with the state values around it. */
export interface TracedEvent {
  event: StoredEvent;
  before: unknown;
  after: unknown;
  afterContext: any;
}
/** An effect the runtime asked a handler to run (timers included: the runtime runs those itself). */
export interface TracedEffect {
  type: string;
  params: any;
  /** The event whose transition asked for it. */
  cause: StoredEvent;
}
export interface Trace {
  name: string;
  events: TracedEvent[];
  effects: TracedEffect[];
  /** Inputs the path handed in that the runtime refused (the step named, and why). */
  refused: string[];
  final: Map<string, { value: unknown; context: any }>;
  /** Streams whose replayed state differs from the live one. */
  replayMismatch: string[];
  taken: Set<TransitionKey>;
}

let current: { onStep: (r: StepRecord) => void } | null = null;

/**
 * Runs fn with the runtime hosting the given machines. The runtime looks its
 * machines up in machines/index.ts's registries on every step, so swapping
 * their entries (and putting them back) is enough; vitest runs each test file
 * in its own module graph, so no other file sees the swap.
 */
export async function withMachines<T>(set: MachineSet, fn: () => Promise<T>): Promise<T> {
  const saved = { machines: { ...machines }, steppers: { ...steppers } };
  for (const kind of Object.keys(set) as StreamKind[]) {
    machines[kind] = set[kind];
    steppers[kind] = recordingStepper(set[kind], (r) => current?.onStep(r)) as never;
  }
  try {
    return await fn();
  } finally {
    Object.assign(machines, saved.machines);
    Object.assign(steppers, saved.steppers);
  }
}

const flush = () => new Promise((r) => setImmediate(r));

export interface World {
  rt: Runtime;
  trace: Trace;
  dispatch(input: UncheckedEventInput): Promise<boolean>;
}

/**
 * Plays inputs through the real runtime over an in-memory log, with effect
 * handlers that only record what they are asked for; `settle` then plays what
 * the outside world would answer. Finally a fresh runtime folds the same log
 * and must reach the same state for every stream.
 */
export async function playTrace(
  name: string,
  steps: UncheckedEventInput[],
  settle?: (w: World) => Promise<void>,
): Promise<Trace> {
  const log = createMemoryLog();
  const logger = pino({ level: 'silent' });
  let t = 1_700_000_000_000;
  let n = 0;
  const trace: Trace = { name, events: [], effects: [], refused: [], final: new Map(), replayMismatch: [], taken: new Set() };
  const record = (type: string) => (params: unknown, ctx: { event: StoredEvent }) => {
    trace.effects.push({ type, params, cause: ctx.event });
  };
  const effects: EffectHandlers = {
    openRecorderPeer: record('openRecorderPeer'),
    addRemoteCandidate: record('addRemoteCandidate'),
    closeRecorderPeer: record('closeRecorderPeer'),
    enqueueComposition: record('enqueueComposition'),
    abortComposition: record('abortComposition'),
  };
  const steps_: Map<string, StepRecord> = new Map();
  current = { onStep: (r) => steps_.set(r.eventId, r) };
  const rt = createRuntime({ log, logger, clock: () => (t += 1000), newId: () => `e${++n}`, effects, shardedLoad: false });
  rt.onEvent(({ event, before, after }) => {
    trace.events.push({ event, before: before?.value, after: after.value, afterContext: after.context });
    const step = steps_.get(event.id);
    // the runtime's own timer actions are effects too: keep them beside the handlers'
    for (const a of step?.actions ?? []) if (a.type === 'scheduleTimer' || a.type === 'cancelTimer') trace.effects.push({ type: a.type, params: a.params, cause: event });
    for (const k of step?.taken ?? []) trace.taken.add(k);
  });
  const world: World = {
    rt,
    trace,
    async dispatch(input) {
      const r = await rt.dispatch(input);
      await Promise.resolve(); // effect handlers run on the microtask queue: let them record
      if (!r.accepted) trace.refused.push(`${input.type} on ${input.stream}: ${r.message}`);
      return r.accepted;
    },
  };
  try {
    for (const s of steps) await world.dispatch(s);
    if (settle) await settle(world);
    await flush();
    for (const kind of STREAM_KINDS) {
      for (const a of rt.list(kind)) trace.final.set(a.stream, { value: a.snapshot.value, context: a.snapshot.context });
    }
  } finally {
    current = null;
    await rt.close();
  }
  const replayed = createRuntime({ log, logger, shardedLoad: false });
  await replayed.load();
  for (const [stream, live] of trace.final) {
    const again = replayed.get(stream);
    if (JSON.stringify(again?.value) !== JSON.stringify(live.value) || JSON.stringify(again?.context) !== JSON.stringify(live.context)) {
      trace.replayMismatch.push(stream);
    }
  }
  await replayed.close();
  return trace;
}
