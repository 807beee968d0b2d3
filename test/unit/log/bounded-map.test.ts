import { describe, expect, it } from 'vitest';
import { boundedMap } from '../../../src/log/bounded-map.js';

describe('bounded map', () => {
  it('keeps at least the last max entries set and never more than twice as many', () => {
    const m = boundedMap<number, number>(10);
    for (let i = 0; i < 1_000; i++) {
      m.set(i, i * 2);
      expect(m.size).toBeLessThanOrEqual(20);
      for (let j = Math.max(0, i - 9); j <= i; j++) expect(m.get(j)).toBe(j * 2);
    }
    expect(m.has(0)).toBe(false);
    expect([...m.values()].length).toBe(m.size);
  });

  it('setting a key again moves it to the newest generation; delete removes it from either', () => {
    const m = boundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2); // current full: a, b become the previous generation
    m.set('a', 3);
    m.set('c', 4); // a and c now the previous one; b dropped
    expect(m.get('a')).toBe(3);
    expect(m.has('b')).toBe(false);
    expect(m.delete('a')).toBe(true);
    expect(m.get('a')).toBeUndefined();
    expect(m.size).toBe(1);
  });
});
