/**
 * Where each participant appears, per layout. Pure.
 *
 * Leaving and rejoining: every participant keeps ONE place for the whole
 * recording (no reflow). While they are not in the meeting (before they join,
 * after they leave, in the gap of a leave-and-rejoin) their tile is an empty
 * dark tile; while present without video (audio only, camera off) it is a
 * placeholder with their name; while their video runs, the video with a name
 * plate. Reflowing the grid on every join/leave would move everybody's tile
 * during the recording and make a rejoin land somewhere else; a fixed place is
 * calmer to watch and keeps a rejoin where it was.
 *
 * - grid: one tile per participant (host first, then by arrival), as many
 *   columns/rows as makes tiles largest; any number of participants.
 * - host-led: the host large on a stage (top 3/4), the others in a row below.
 * - host-only: the host alone, full frame (everybody is still heard).
 * - speaker: the active speaker (speaker.ts) on the stage, everybody in the
 *   row below (places in the row stay fixed while the stage changes).
 */
import { gridCells, inset, rowCells, stageAndStrip, type Rect } from './geometry.js';
import type { Interval } from './intervals.js';
import { hostOf, type Participant } from './participants.js';
import type { SpeakerInterval } from './speaker.js';
import type { Layout } from '../../events/catalog.js';

export interface Slot {
  participantId: string;
  rect: Rect;
  /** When this slot shows the participant; null = the whole recording. */
  when: Interval[] | null;
  /** A stage slot (host-led / speaker top area): larger name placeholder. */
  stage: boolean;
}

export interface Scene {
  width: number;
  height: number;
  slots: Slot[];
  /** Static dark boxes drawn on the background (tile places). */
  tiles: Rect[];
}

export function planScene(
  layout: Layout,
  participants: readonly Participant[],
  canvas: { width: number; height: number },
  speakers: readonly SpeakerInterval[] = [],
): Scene {
  const full: Rect = { x: 0, y: 0, w: canvas.width, h: canvas.height };
  const host = hostOf(participants);
  const scene = (slots: Slot[], tiles: Rect[]): Scene => ({ width: canvas.width, height: canvas.height, slots, tiles });

  if (participants.length === 0 || !host) return scene([], []);

  if (layout === 'grid') {
    const cells = gridCells(participants.length, full).map((c) => inset(c));
    return scene(
      participants.map((p, i) => ({ participantId: p.participantId, rect: cells[i]!, when: null, stage: false })),
      cells,
    );
  }

  if (layout === 'host-only') {
    const rect = inset(full, 0);
    return scene([{ participantId: host.participantId, rect, when: null, stage: true }], [rect]);
  }

  const { stage: stageArea, strip } = stageAndStrip(canvas.width, canvas.height);

  if (layout === 'host-led') {
    const others = participants.filter((p) => p !== host);
    if (others.length === 0) {
      return scene([{ participantId: host.participantId, rect: full, when: null, stage: true }], [full]);
    }
    const stage = inset(stageArea);
    const cells = rowCells(others.length, strip).map((c) => inset(c));
    return scene(
      [
        { participantId: host.participantId, rect: stage, when: null, stage: true },
        ...others.map((p, i) => ({ participantId: p.participantId, rect: cells[i]!, when: null, stage: false })),
      ],
      [stage, ...cells],
    );
  }

  // speaker
  if (participants.length === 1) {
    return scene([{ participantId: host.participantId, rect: full, when: null, stage: true }], [full]);
  }
  const stage = inset(stageArea);
  const cells = rowCells(participants.length, strip).map((c) => inset(c));
  const stageSlots: Slot[] = participants
    .map((p) => ({
      participantId: p.participantId,
      rect: stage,
      when: speakers.filter((s) => s.participantId === p.participantId).map(({ start, end }) => ({ start, end })),
      stage: true,
    }))
    .filter((s) => s.when.length > 0);
  return scene(
    [...stageSlots, ...participants.map((p, i) => ({ participantId: p.participantId, rect: cells[i]!, when: null, stage: false }))],
    [stage, ...cells],
  );
}
