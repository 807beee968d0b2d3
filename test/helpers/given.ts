import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import type { NewEvent } from '../../events/envelope.js';
import { parseStream } from '../../events/streams.js';
import { machines, type EmitSpec } from '../../machines/index.js';

/** Machine tests build their events with the same `ev` as every other test. */
export { ev } from './events.js';

export interface Outcome {
  snapshot: AnyMachineSnapshot;
  accepted: boolean;
  emitted: EmitSpec[];
  effects: { type: string; params: any }[];
}

/** given(events).when(event) → the state and the effects/emitted events of that one step. */
export function given(stream: string, history: NewEvent[] = []) {
  const { kind, id } = parseStream(stream);
  const machine = machines[kind];
  let [snapshot] = initialTransition(machine, { id });
  for (const e of history) [snapshot] = transition(machine, snapshot, e as never);
  return {
    snapshot,
    when(e: NewEvent): Outcome {
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
