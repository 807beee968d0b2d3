import { assign, createMachine, type AnyStateMachine } from 'xstate';
import { compositionMachine, peerMachine, recordingMachine, roomMachine } from '../../machines/index.js';
import type { MachineSet } from './harness.js';

/** Plain objects and arrays copied, everything else (functions, strings) shared. */
function cloneConfig<T>(v: T): T {
  if (Array.isArray(v)) return v.map(cloneConfig) as T;
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneConfig(x)])) as T;
  return v;
}

/** A copy of the machine built from its own config with one edit, and its own implementations (actions, guards). */
export function mutate(machine: AnyStateMachine, edit: (config: any) => void): AnyStateMachine {
  const config = cloneConfig(machine.config);
  edit(config);
  return createMachine(config as never, machine.implementations as never) as AnyStateMachine;
}

const asList = (a: unknown): any[] => (Array.isArray(a) ? a : a === undefined ? [] : [a]);

export interface Mutant {
  name: string;
  kind: keyof MachineSet;
  machine: AnyStateMachine;
  /** The rules (oracle tags) the suite must report broken. */
  breaks: string[];
}

export const mutants: Mutant[] = [
  {
    name: 'room: the host leaving no longer stops the recording',
    kind: 'room',
    machine: mutate(roomMachine, (c) => {
      const hostLeft = c.states.open.on['room.member.left'][0];
      hostLeft.actions = asList(hostLeft.actions).filter((a) => a?.type !== 'emit');
    }),
    breaks: ['host-left'],
  },
  {
    name: 'room: a second recording can start while one is active',
    kind: 'room',
    machine: mutate(roomMachine, (c) => {
      delete c.states.open.on['room.recording.requested'].guard;
    }),
    breaks: ['one-active'],
  },
  {
    name: 'recording: a participant leaving no longer closes its recorder peer',
    kind: 'recording',
    machine: mutate(recordingMachine, (c) => {
      c.states.recording.on['recording.participant.left'].actions = [];
    }),
    breaks: ['participant-left'],
  },
  {
    name: 'recording: a stop goes straight to stopped without waiting for the peers',
    kind: 'recording',
    machine: mutate(recordingMachine, (c) => {
      c.states.recording.on['recording.stop.requested'].target = 'stopped';
    }),
    breaks: ['stop-waits'],
  },
  {
    name: 'recording: stopping no longer requests the composition',
    kind: 'recording',
    machine: mutate(recordingMachine, (c) => {
      const emit = asList(c.states.stopped.entry).find((a) => a?.type === 'emit');
      const original = emit.params;
      emit.params = (args: unknown) => ({ events: original(args).events.filter((e: { type: string }) => e.type !== 'composition.requested') });
    }),
    breaks: ['compose'],
  },
  {
    name: 'peer: a new offer while recording forgets the segments written so far',
    kind: 'peer',
    machine: mutate(peerMachine, (c) => {
      const t = c.states.flowing.on['peer.offer.received'];
      c.states.flowing.on['peer.offer.received'] = { ...t, actions: [...asList(t.actions), assign({ segments: [] })] };
    }),
    breaks: ['segments'],
  },
  {
    name: 'composition: a failed run is retried past its bound',
    kind: 'composition',
    machine: mutate(compositionMachine, (c) => {
      c.states.running.on['composition.failed'][0].guard = 'isThisRun';
    }),
    breaks: ['retry-bound'],
  },
  {
    name: 'composition: a duplicate delivery starts a second run beside the first',
    kind: 'composition',
    machine: mutate(compositionMachine, (c) => {
      c.states.running.on['composition.started'].guard = 'isNextRun';
    }),
    breaks: ['one-run'],
  },
];
