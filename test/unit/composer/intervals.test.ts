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
