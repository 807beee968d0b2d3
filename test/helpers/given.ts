import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { parseEventData, type EventType } from '../../events/catalog.js';
import { type StoredEvent } from '../../events/envelope.js';
import { parseStream } from '../../events/streams.js';
import { machines, type EmitSpec } from '../../machines/index.js';

let clock = 1_700_000_000_000;
let seq = 0;

/** Builds a stored event for a stream: data is parsed by its schema, as at the edge. */
export function ev(stream: string, type: EventType, data: Record<string, unknown> = {}, time?: number): StoredEvent {
  return {
    id: `e${++seq}`,
    type,
    stream,
    position: 0,
    time: time ?? (clock += 1000),
    causationId: null,
    correlationId: null,
    version: 1,
    data: parseEventData(type, data) as Record<string, unknown>,
  };
}

export interface Outcome {
  snapshot: AnyMachineSnapshot;
  accepted: boolean;
  emitted: EmitSpec[];
  effects: { type: string; params: any }[];
}

/** given(events).when(event) → the state and the effects/emitted events of that one step. */
export function given(stream: string, history: StoredEvent[] = []) {
  const { kind, id } = parseStream(stream);
  const machine = machines[kind];
  let [snapshot] = initialTransition(machine, { id });
  for (const e of history) [snapshot] = transition(machine, snapshot, e as never);
  return {
    snapshot,
    when(e: StoredEvent): Outcome {
      const accepted = snapshot.can(e as never);
      const [next, actions] = transition(machine, snapshot, e as never);
      const effects = (actions as { type: string; params?: any }[])
        .filter((a) => !a.type.startsWith('xstate.'))
        .map((a) => ({ type: a.type, params: a.params }));
      const emitted = effects.filter((a) => a.type === 'emit').flatMap((a) => a.params.events as EmitSpec[]);
      return { snapshot: next, accepted, emitted, effects: effects.filter((a) => a.type !== 'emit') };
    },
  };
}
