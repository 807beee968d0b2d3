import { describe, expect, it } from 'vitest';
import { decodeToken, encodeToken, streamOfSubject, subjectOf } from '../../../src/log/subject.js';

describe('NATS subject encoding of stream ids', () => {
  const ids = ['plain', 'a.b.c', 'x*y>z', 'sp ace\ttab', '100%', 'ü-€_😀', '..', '%2E'];

  it.each(ids)('round-trips %j into one safe token', (id) => {
    const token = encodeToken(id);
    expect(token).toMatch(/^[A-Za-z0-9_%-]+$/);
    expect(decodeToken(token)).toBe(id);
  });

  it('keeps distinct ids distinct', () => {
    expect(new Set(ids.map(encodeToken)).size).toBe(ids.length);
  });

  it('maps a stream onto <prefix>.<kind>.<token> and back', () => {
    expect(subjectOf('mr.ev', 'peer:rec-1.alice')).toBe('mr.ev.peer.rec-1%2Ealice');
    expect(streamOfSubject('mr.ev', 'mr.ev.peer.rec-1%2Ealice')).toBe('peer:rec-1.alice');
    expect(streamOfSubject('mr.ev', 'other.peer.x')).toBeNull();
  });

  it('refuses an empty id', () => {
    expect(() => encodeToken('')).toThrow();
  });
});
