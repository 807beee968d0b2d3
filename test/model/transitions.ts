import { createActor, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';

/** One declared transition: its source state, its event ('always' when eventless) and its place among that event's candidates. */
export type TransitionKey = string;

interface TransitionDef {
  source: { id: string; transitions: Map<string, unknown[]>; always?: unknown[] };
  eventType: string;
}

export function keyOf(t: TransitionDef): TransitionKey {
  if (!t.eventType) return `${t.source.id} always#${t.source.always?.indexOf(t) ?? -1}`;
  return `${t.source.id} ${t.eventType}#${t.source.transitions.get(t.eventType)?.indexOf(t) ?? -1}`;
}

/**
 * Every transition the machine declares, read from its state nodes (not from a
 * walk of its graph): each `on` candidate, each `always`, targetless and
 * effect-only ones included.
 */
export function declaredTransitions(machine: AnyStateMachine): Set<TransitionKey> {
  const keys = new Set<TransitionKey>();
  const visit = (node: any) => {
    for (const [type, list] of node.transitions as Map<string, TransitionDef[]>) {
      if (type.startsWith('xstate.')) continue;
      list.forEach((_t, i) => keys.add(`${node.id} ${type}#${i}`));
    }
    (node.always ?? []).forEach((_t: unknown, i: number) => keys.add(`${node.id} always#${i}`));
    for (const child of Object.values(node.states ?? {})) visit(child);
  };
  visit(machine.root);
  return keys;
}

export interface StepRecord {
  eventId: string;
  stream: string;
  taken: TransitionKey[];
  actions: { type: string; params?: unknown }[];
}

/**
 * A pure stepper like machines/step.ts's, that also reports which declared
 * transitions each step took (xstate's microstep inspection) and the actions it
 * asked for.
 */
export function recordingStepper(machine: AnyStateMachine, onStep: (r: StepRecord) => void) {
  let taken: TransitionKey[] = [];
  let actions: { type: string; params?: unknown }[] = [];
  const self = createActor(machine, {
    input: { id: '' },
    inspect: (e: any) => {
      if (e.type === '@xstate.microstep') for (const t of e._transitions ?? []) taken.push(keyOf(t));
    },
  });
  const scope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (a: { type: string; params?: unknown }) => actions.push({ type: a.type, params: a.params }),
  };
  return (snapshot: AnyMachineSnapshot, event: { type: string; id?: string; stream?: string }): [AnyMachineSnapshot, any[]] => {
    taken = [];
    actions = [];
    const next = machine.transition(snapshot, event as never, scope as never) as AnyMachineSnapshot;
    const result = actions;
    onStep({ eventId: event.id ?? '', stream: event.stream ?? '', taken, actions: result });
    return [next, result];
  };
}
