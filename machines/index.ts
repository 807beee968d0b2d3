import type { AnyStateMachine } from 'xstate';
import type { StreamKind } from '../events/envelope.js';
import { compositionMachine } from './composition.js';
import { peerMachine } from './peer.js';
import { recordingMachine } from './recording.js';
import { roomMachine } from './room.js';

export { compositionMachine, peerMachine, recordingMachine, roomMachine };
export * from './actions.js';

/** The machine that owns each kind of stream. */
export const machines: Record<StreamKind, AnyStateMachine> = {
  room: roomMachine,
  recording: recordingMachine,
  peer: peerMachine,
  composition: compositionMachine,
};

import { createStepper } from './step.js';
/** One reusable pure stepper per stream kind. */
export const steppers: Record<StreamKind, ReturnType<typeof createStepper>> = {
  room: createStepper(roomMachine),
  recording: createStepper(recordingMachine),
  peer: createStepper(peerMachine),
  composition: createStepper(compositionMachine),
};
