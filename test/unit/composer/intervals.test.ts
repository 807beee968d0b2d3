import { describe, expect, it } from 'vitest';
import { enableExpr, intersect, subtract, union } from '../../../src/composer/intervals.js';
import { buildParticipants } from '../../../src/composer/participants.js';

const iv = (start: number, end: number) => ({ start, end });

describe('intervals', () => {
  it('union merges overlapping and touching ranges and drops empty ones', () => {
    expect(union([iv(5, 6), iv(0, 2), iv(2, 3), iv(4, 4)])).toEqual([iv(0, 3), iv(5, 6)]);
  });
  it('intersect and subtract', () => {
    expect(intersect([iv(0, 10)], [iv(2, 3), iv(8, 12)])).toEqual([iv(2, 3), iv(8, 10)]);
    expect(subtract([iv(0, 10)], [iv(2, 3), iv(8, 12)])).toEqual([iv(0, 2), iv(3, 8)]);
  });
  it('enable expressions are half-open, and null when always on', () => {
    expect(enableExpr([iv(0, 12_000)], iv(0, 12_000))).toBeNull();
    expect(enableExpr([iv(1500, 3000), iv(9000, 12_000)], iv(0, 12_000))).toBe('gte(t,1.5)*lt(t,3)+gte(t,9)*lt(t,12)');
    expect(enableExpr([], iv(0, 1))).toBe('0');
  });
});

describe('participants', () => {
  it('keeps one place per participant across segments, host first, names from any sidecar', () => {
    const list = buildParticipants(
      [
        { participantId: 'b', participantName: null, role: 'participant', offsetMs: 0, durationMs: 6000 },
        { participantId: 'b', participantName: 'Bea', role: 'participant', offsetMs: 9000, durationMs: 3000 },
        { participantId: 'h', participantName: 'Hal', role: 'host', offsetMs: 500, durationMs: 11_000 },
      ],
      [],
      12_000,
    );
    expect(list.map((p) => [p.participantId, p.name, p.presence])).toEqual([
      ['h', 'Hal', [iv(500, 11_500)]],
      ['b', 'Bea', [iv(0, 6000), iv(9000, 12_000)]],
    ]);
  });
});

describe('participants: names and rejoins', () => {
  const seg = (participantId: string, offsetMs: number, durationMs: number, role: 'host' | 'participant' = 'participant', participantName: string | null = null) => ({
    participantId,
    participantName,
    role,
    offsetMs,
    durationMs,
  });
  const placed = (participantId: string, kind: 'audio' | 'video', offsetMs: number, durationMs: number) => ({
    index: -1,
    path: `/x/${participantId}-${kind}-${offsetMs}.webm`,
    file: `${participantId}-${kind}-${offsetMs}.webm`,
    participantId,
    kind,
    segmentIndex: 0,
    offsetMs,
    durationMs,
    timeScale: 1,
  });

  it('puts a rejoin with the same userId on the first tile: one timeline, the gap dark, the latest identity', () => {
    const segments = [placed('h', 'video', 0, 12_000), placed('p1', 'video', 1000, 3000), placed('p2', 'video', 7000, 5000), placed('p2', 'audio', 7000, 5000)];
    const list = buildParticipants(
      [seg('h', 0, 12_000, 'host'), seg('p1', 1000, 3000), seg('p2', 7000, 5000)],
      segments,
      12_000,
      [
        { participantId: 'h', name: 'Hal' },
        { participantId: 'p1', name: null, userId: 'u-ada' },
        { participantId: 'p2', name: 'Ada', userId: 'u-ada', avatar: 'ada.png' },
      ],
    );
    expect(list).toHaveLength(2);
    const ada = list[1]!;
    expect(ada).toMatchObject({ participantId: 'p1', participantIds: ['p1', 'p2'], userId: 'u-ada', name: 'Ada', label: 'Ada', avatar: 'ada.png' });
    expect(ada.presence).toEqual([iv(1000, 4000), iv(7000, 12_000)]);
    expect(ada.video.map((v) => [v.participantId, v.owner])).toEqual([['p1', 'p1'], ['p2', 'p1']]);
    expect(ada.audio.map((a) => a.owner)).toEqual(['p1']);
  });

  it('groups a rejoin by the sidecars userId when the log gives no members (a composition from sidecars alone)', () => {
    const segments = [placed('h', 'video', 0, 12_000), placed('p1', 'video', 1000, 3000), placed('p2', 'video', 7000, 5000)];
    const list = buildParticipants(
      [seg('h', 0, 12_000, 'host'), { ...seg('p1', 1000, 3000, 'participant', 'Ada'), userId: 'u-ada' }, { ...seg('p2', 7000, 5000), userId: 'u-ada' }, { ...seg('p3', 8000, 1000), userId: 'u-bob' }],
      segments,
      12_000,
    );
    expect(list.map((p) => p.participantIds)).toEqual([['h'], ['p1', 'p2'], ['p3']]);
    expect(list[1]).toMatchObject({ participantId: 'p1', userId: 'u-ada', label: 'Ada' });
    expect(list[1]!.presence).toEqual([iv(1000, 4000), iv(7000, 12_000)]);
    expect(list[1]!.video.map((v) => v.owner)).toEqual(['p1', 'p1']);
    // The log's userId wins over a sidecar's.
    const fromLog = buildParticipants([{ ...seg('p1', 0, 1000), userId: 'stale' }, { ...seg('p2', 2000, 1000), userId: 'u-x' }], [], 3000, [{ participantId: 'p1', userId: 'u-x' }]);
    expect(fromLog.map((p) => p.participantIds)).toEqual([['p1', 'p2']]);
  });

  it('keeps different people apart: no userId, or another userId, is another tile', () => {
    const list = buildParticipants([seg('h', 0, 10, 'host'), seg('a', 1, 5), seg('b', 6, 4), seg('c', 7, 3)], [], 10, [
      { participantId: 'a', userId: 'u1' },
      { participantId: 'b', userId: 'u2' },
    ]);
    expect(list.map((p) => p.participantIds)).toEqual([['h'], ['a'], ['b'], ['c']]);
  });

  it('never labels a tile with an id: the name, else Host / Participant N in order of joining', () => {
    const list = buildParticipants(
      [seg('c0ffee-1', 3000, 1000), seg('beef-2', 1000, 1000, 'participant', '  '), seg('host-id', 0, 5000, 'host'), seg('named', 2000, 1000, 'participant', 'Nia')],
      [],
      5000,
    );
    expect(list.map((p) => p.label)).toEqual(['Host', 'Participant 1', 'Participant 2', 'Participant 3'].map((l, i) => (i === 2 ? 'Nia' : l)));
    expect(list.map((p) => p.participantId)).toEqual(['host-id', 'beef-2', 'named', 'c0ffee-1']);
  });
});
