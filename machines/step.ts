import { createActor, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';

export interface ExecutableAction {
  type: string;
  params?: unknown;
}

/**
 * The same pure step as xstate's `transition(machine, snapshot, event)`:
 * returns the next snapshot and the actions it asks for, running none. xstate
 * builds a throwaway actor on every call, which dominated replay and dispatch
 * time; this keeps one inert scope per machine and reuses it.
 */
export function createStepper(machine: AnyStateMachine) {
  const self = createActor(machine, { input: { id: '' } });
  const none = Object.freeze([]) as unknown as ExecutableAction[]; // shared, never written
  let collected = none;
  const scope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (a: ExecutableAction) => {
      if (collected === none) collected = [];
      collected.push(a);
    },
  };
  return (snapshot: AnyMachineSnapshot, event: { type: string }): [AnyMachineSnapshot, ExecutableAction[]] => {
    collected = none; // most steps (a fold, a context update) run no action: allocate only when one does
    const next = machine.transition(snapshot, event as never, scope as never) as AnyMachineSnapshot;
    return [next, collected];
  };
}
