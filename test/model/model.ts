import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { createEmbeddedLog } from '../../src/log/embedded.js';
import { createRuntime } from '../../src/runtime/runtime.js';

export interface ModelEvent {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Every transition of the machine's (abstracted) graph, each as the shortest
 * path to its source state followed by that transition.
 */
export function transitionPaths(
  machine: AnyStateMachine,
  events: (s: AnyMachineSnapshot) => ModelEvent[],
  serializeState: (s: AnyMachineSnapshot) => string,
  limit = 5_000,
  stopWhen?: (s: AnyMachineSnapshot) => boolean,
) {
  const model = createTestModel(machine, {
    input: { id: 'x' } as never,
    events: ((s: AnyMachineSnapshot) => events(s).map((e) => ({ ...e, time: 1 }))) as never,
    serializeState: serializeState as never,
    limit,
    stopWhen: stopWhen as never,
  });
  const shortest = model.getShortestPaths({ allowDuplicatePaths: true });
  const toState = new Map(shortest.map((p) => [serializeState(p.state as AnyMachineSnapshot), p]));
  const adjacency = model.getAdjacencyMap();
  const paths: { name: string; steps: ModelEvent[]; expected: unknown[] }[] = [];
  const edges = new Set<string>();
  for (const [key, { state, transitions }] of Object.entries(adjacency)) {
    const prefix = toState.get(key);
    if (!prefix) continue;
    for (const { event, state: next } of Object.values(transitions) as { event: ModelEvent; state: AnyMachineSnapshot }[]) {
      if (next === state || serializeState(next) === key && JSON.stringify(next.context) === JSON.stringify((state as AnyMachineSnapshot).context)) continue;
      edges.add(`${JSON.stringify((state as AnyMachineSnapshot).value)} --${event.type}--> ${JSON.stringify(next.value)}`);
      const steps = [...prefix.steps.slice(1).map((s) => s.event as unknown as ModelEvent), event];
      const expected = [...prefix.steps.slice(1).map((s) => (s.state as AnyMachineSnapshot).value), next.value];
      paths.push({ name: `${key} + ${event.type}`, steps, expected });
    }
  }
  const states = new Set(Object.values(adjacency).map((a) => JSON.stringify((a.state as AnyMachineSnapshot).value)));
  return { states, edges, paths };
}

/**
 * Plays a path through the real runtime over a real embedded log, checking the
 * state after each step; then a fresh runtime loads the same log and must
 * reach the very same snapshot (replay reproduces the live run).
 */
export async function playPath(stream: string, steps: ModelEvent[], expected: unknown[], prelude: { stream: string; type: string; data: object }[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'mr-model-'));
  const logger = pino({ level: 'silent' });
  const file = join(dir, 'events.jsonl');
  const log = await createEmbeddedLog({ file, fsync: false });
  let t = 1_700_000_000_000;
  const rt = createRuntime({ log, logger, clock: () => (t += 1000) });
  try {
    for (const p of prelude) await rt.dispatch(p);
    for (let i = 0; i < steps.length; i++) {
      const r = await rt.dispatch({ stream, type: steps[i].type, data: steps[i].data });
      if (!r.accepted) throw new Error(`step ${i} ${steps[i].type} refused: ${r.message}`);
      const value = rt.get(stream)?.value;
      if (JSON.stringify(value) !== JSON.stringify(expected[i])) {
        throw new Error(`step ${i} ${steps[i].type}: runtime is in ${JSON.stringify(value)}, model expected ${JSON.stringify(expected[i])}`);
      }
    }
    const live = rt.get(stream)!;
    await rt.close();
    await log.close();
    const log2 = await createEmbeddedLog({ file, fsync: false });
    const replayed = createRuntime({ log: log2, logger });
    await replayed.load();
    const again = replayed.get(stream)!;
    await log2.close();
    return { live, replayed: again };
  } finally {
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
