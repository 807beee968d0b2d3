import type { AnyStateMachine, SnapshotFrom } from 'xstate';
import type { StreamKind } from '../events/streams.js';
import { compositionMachine } from './composition.js';
import { peerMachine } from './peer.js';
import { recordingMachine } from './recording.js';
import { roomMachine } from './room.js';
import { uploadMachine } from './upload.js';
import { webhookMachine } from './webhook.js';

export { compositionMachine, peerMachine, recordingMachine, roomMachine, uploadMachine, webhookMachine };
export * from './actions.js';

/** The machine that owns each kind of stream. */
export const machines: Record<StreamKind, AnyStateMachine> = {
  room: roomMachine,
  recording: recordingMachine,
  peer: peerMachine,
  composition: compositionMachine,
  upload: uploadMachine,
  webhook: webhookMachine,
};

/** Each stream kind's machine, by type: what `SnapshotOf` reads. */
export interface MachineOf {
  room: typeof roomMachine;
  recording: typeof recordingMachine;
  peer: typeof peerMachine;
  composition: typeof compositionMachine;
  upload: typeof uploadMachine;
  webhook: typeof webhookMachine;
}
/** The snapshot of a stream of kind K (its context and state values typed). */
export type SnapshotOf<K extends StreamKind> = SnapshotFrom<MachineOf[K]>;

import { createStepper } from './step.js';

/**
 * Top-level keys a machine context may have. xstate's assign copies the context
 * with `Object.assign({}, context, update)`; V8 turns an object built that way
 * with 20 or more properties into a slow dictionary, and every later step pays
 * for it (a peer step went from 2 µs to 7 µs at 20 keys). Group related fields
 * into nested objects instead; test/unit/machines/context.test.ts holds every
 * machine to this.
 */
export const MAX_CONTEXT_KEYS = 19;

/**
 * Bump when a machine's context changes shape: checkpoints taken with another
 * version are ignored and the log is folded from the start.
 */
export const MACHINES_VERSION = 6;

/** One reusable pure stepper per stream kind. */
export const steppers: Record<StreamKind, ReturnType<typeof createStepper>> = {
  room: createStepper(roomMachine),
  recording: createStepper(recordingMachine),
  peer: createStepper(peerMachine),
  composition: createStepper(compositionMachine),
  upload: createStepper(uploadMachine),
  webhook: createStepper(webhookMachine),
};
