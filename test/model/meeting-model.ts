import { fromTransition } from 'xstate';
import { TestModel } from 'xstate/graph';
import type { EventInput } from '../../src/runtime/runtime.js';
import type { World } from './harness.js';
import { answerClose, currentOffer } from './world.js';

/**
 * A whole meeting seen from outside, written for the tests and independent of
 * machines/: a host `h` and a participant `p` come and go, the host records
 * (twice at most), participants send offers (the recorder answers, connects
 * and gets media) and segments get written, recordings are stopped with or
 * without a composition, fail, or the server restarts. xstate/graph walks this
 * model; each of its steps becomes the inputs the real adapters and the
 * recorder would hand the runtime.
 */
export interface Meeting {
  room: 'none' | 'open' | 'closed';
  p: boolean;
  /** Recordings started so far; the current one is rec<rec>. */
  rec: number;
  on: boolean;
  offers: { h: number; p: number };
  /** p's recorder peer in the current recording: asked for, left (closing), closed by the recorder. */
  pPeer: 'none' | 'open' | 'closing' | 'closed';
  /** A segment of the current offer was written. */
  seg: { h: boolean; p: boolean };
}

export type Command =
  | 'H_JOIN' | 'P_JOIN' | 'P_LEAVE' | 'H_LEAVE' | 'RESTART' | 'START' | 'STOP' | 'STOP_NO_COMPOSE' | 'FAIL'
  | 'OFFER_H' | 'OFFER_P' | 'SEG_H' | 'SEG_P' | 'CLOSED_P';

const initial: Meeting = { room: 'none', p: false, rec: 0, on: false, offers: { h: 0, p: 0 }, pPeer: 'none', seg: { h: false, p: false } };

function next(m: Meeting, c: Command): Meeting | null {
  const open = m.room === 'open';
  switch (c) {
    case 'H_JOIN': return open ? null : { ...m, room: 'open', p: false };
    // a rejoin while p's old peer still closes is asked again once that one has closed
    case 'P_JOIN': return open && !m.p ? { ...m, p: true, pPeer: m.on && m.pPeer !== 'closing' ? 'open' : m.pPeer } : null;
    case 'P_LEAVE': return m.p ? { ...m, p: false, pPeer: m.on && m.pPeer === 'open' ? 'closing' : m.pPeer } : null;
    case 'CLOSED_P': return m.on && m.pPeer === 'closing' ? { ...m, pPeer: m.p ? 'open' : 'closed' } : null;
    case 'H_LEAVE':
    case 'RESTART': return open ? { ...m, room: 'closed', p: false, on: false, pPeer: 'none' } : null;
    case 'START':
      return open && !m.on && m.rec < 2 ? { ...m, rec: m.rec + 1, on: true, offers: { h: 0, p: 0 }, pPeer: m.p ? 'open' : 'none', seg: { h: false, p: false } } : null;
    case 'STOP':
    case 'STOP_NO_COMPOSE':
    case 'FAIL': return m.on ? { ...m, on: false, pPeer: 'none' } : null;
    case 'OFFER_H': return m.on && m.offers.h < 2 ? { ...m, offers: { ...m.offers, h: m.offers.h + 1 }, seg: { ...m.seg, h: false } } : null;
    case 'OFFER_P': return m.on && m.p && m.offers.p < 2 ? { ...m, offers: { ...m.offers, p: m.offers.p + 1 }, seg: { ...m.seg, p: false } } : null;
    case 'SEG_H': return m.on && m.offers.h > 0 && !m.seg.h ? { ...m, seg: { ...m.seg, h: true } } : null;
    case 'SEG_P': return m.on && m.offers.p > 0 && !m.seg.p ? { ...m, seg: { ...m.seg, p: true } } : null;
  }
}

const COMMANDS: Command[] = ['H_JOIN', 'P_JOIN', 'P_LEAVE', 'H_LEAVE', 'RESTART', 'START', 'STOP', 'STOP_NO_COMPOSE', 'FAIL', 'OFFER_H', 'OFFER_P', 'SEG_H', 'SEG_P', 'CLOSED_P'];

const logic = fromTransition((m: Meeting, e: { type: Command }) => next(m, e.type) ?? m, initial);

/** Every step of the model once: the shortest path to its state, then that step. */
export function meetingPaths(): { name: string; commands: { command: Command; before: Meeting }[] }[] {
  const model = new TestModel(logic, {
    events: (s: { context: Meeting }) => COMMANDS.filter((c) => next(s.context, c)).map((type) => ({ type })),
    serializeState: (s: { context: Meeting }) => JSON.stringify(s.context),
  } as never);
  const shortest = model.getShortestPaths({ allowDuplicatePaths: true });
  const paths: ReturnType<typeof meetingPaths> = [];
  for (const p of shortest) {
    const before = p.state.context as Meeting;
    const prefix = p.steps.slice(1).map((s, i) => ({ command: s.event.type as Command, before: p.steps[i].state.context as Meeting }));
    for (const c of COMMANDS.filter((c) => next(before, c))) {
      paths.push({ name: [...prefix.map((s) => s.command), c].join(' '), commands: [...prefix, { command: c, before }] });
    }
  }
  return paths;
}

const ROOM = 'room:m1';
const joined = (participantId: string): EventInput => ({ stream: ROOM, type: 'room.member.joined', data: { participantId, name: null, nodeId: 'n1' } });
const left = (participantId: string): EventInput => ({ stream: ROOM, type: 'room.member.left', data: { participantId, reason: 'left' } });

/** Plays one model step as the adapters (socket, HTTP) and the recorder would. */
export async function playCommand(w: World, command: Command, m: Meeting) {
  const rec = `rec${m.rec}`;
  const recording = `recording:${rec}`;
  const offer = async (pid: 'h' | 'p') => {
    const stream = `peer:${rec}.${pid}`;
    await w.dispatch({ stream, type: 'peer.offer.received', data: { sdp: `v=0 ${pid}` } });
    const n = currentOffer(w, rec, pid);
    if (n === null) return;
    await w.dispatch({ stream, type: 'peer.answered', data: { offerNumber: n, sdp: 'v=0 answer' } });
    await w.dispatch({ stream, type: 'peer.connected', data: { offerNumber: n } });
    await w.dispatch({ stream, type: 'peer.media.started', data: { offerNumber: n, kind: 'audio' } });
  };
  const segment = async (pid: 'h' | 'p') => {
    const n = currentOffer(w, rec, pid);
    if (n === null) return;
    const file = `${rec}-${pid}-${n}.webm`;
    await w.dispatch({
      stream: `peer:${rec}.${pid}`,
      type: 'peer.segment.finalized',
      data: { offerNumber: n, segment: { file, kind: 'audio', segmentIndex: n - 1, offsetMs: 0, durationMs: 1000, codec: 'opus' } },
    });
  };
  switch (command) {
    case 'H_JOIN': return void (await w.dispatch(joined('h')));
    case 'P_JOIN': return void (await w.dispatch(joined('p')));
    case 'P_LEAVE': return void (await w.dispatch(left('p')));
    case 'H_LEAVE': return void (await w.dispatch(left('h')));
    case 'RESTART': return void (await w.dispatch({ stream: ROOM, type: 'room.closed', data: { reason: 'server-restart' } }));
    case 'START': {
      const next = `rec${m.rec + 1}`;
      return void (await w.dispatch({ stream: ROOM, type: 'room.recording.requested', data: { recordingId: next, layout: 'grid', format: 'webm' } }));
    }
    case 'STOP':
    case 'STOP_NO_COMPOSE':
      return void (await w.dispatch({
        stream: recording,
        type: 'recording.stop.requested',
        data: { reason: 'api', compose: command === 'STOP', compositionJobId: `${rec}-api` },
      }));
    case 'FAIL': return void (await w.dispatch({ stream: recording, type: 'recording.failed', data: { error: 'disk full' } }));
    case 'OFFER_H': return offer('h');
    case 'OFFER_P': return offer('p');
    case 'SEG_H': return segment('h');
    case 'SEG_P': return segment('p');
    case 'CLOSED_P': {
      // the recorder finished closing p's peer and reports the files it wrote
      return answerClose(w, `peer:${rec}.p`);
    }
  }
}
