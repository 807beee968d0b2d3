import { describe, expect, it } from 'vitest';
import { createAddressCounter, createFloodGuard, createOfferWindow } from '../../../src/signaling/limits.js';

const clock = (start = 1_000_000) => {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

describe('flood guard (token bucket)', () => {
  it('lets a burst through, then drops with one throttle notice, then says close', () => {
    const c = clock();
    const g = createFloodGuard(50, 200, c.now);
    const verdicts = Array.from({ length: 401 }, () => g.check());
    expect(verdicts.slice(0, 200).every((v) => v === 'ok')).toBe(true);
    expect(verdicts[200]).toBe('throttled');
    expect(verdicts.slice(201, 400).every((v) => v === 'dropped')).toBe(true);
    expect(verdicts[400]).toBe('close'); // the 201st drop: more than a burst dropped
  });

  it('refills at its rate: a sender within the rate is never dropped', () => {
    const c = clock();
    const g = createFloodGuard(50, 200, c.now);
    for (let i = 0; i < 5000; i++) {
      c.advance(20); // 50 per second
      expect(g.check()).toBe('ok');
    }
  });

  it('a throttled sender that slows down until its bucket is full starts afresh', () => {
    const c = clock();
    const g = createFloodGuard(50, 200, c.now);
    for (let i = 0; i < 300; i++) g.check();
    expect(g.dropped).toBe(100);
    c.advance(4000); // 200 tokens at 50/s: full again
    expect(g.check()).toBe('ok');
    expect(g.dropped).toBe(0);
    for (let i = 0; i < 199; i++) expect(g.check()).toBe('ok');
    expect(g.check()).toBe('throttled');
  });

  it('closes a sender that keeps going just above the rate', () => {
    const c = clock();
    const g = createFloodGuard(50, 200, c.now);
    let closedAt: number | null = null;
    for (let i = 0; i < 60 * 300 && closedAt === null; i++) {
      c.advance(1000 / 60); // 60 per second: 10 per second too many
      if (g.check() === 'close') closedAt = i;
    }
    expect(closedAt).not.toBeNull();
  });
});

describe('sockets per address', () => {
  it('admits up to the limit per address and forgets an address with its last socket', () => {
    const a = createAddressCounter(2);
    a.add('1.1.1.1');
    a.add('1.1.1.1');
    expect(a.admits('1.1.1.1')).toBe(false);
    expect(a.admits('2.2.2.2')).toBe(true);
    a.remove('1.1.1.1');
    expect(a.admits('1.1.1.1')).toBe(true);
    a.remove('1.1.1.1');
    expect(a.addresses).toBe(0);
  });
});

describe('re-offers per peer per minute', () => {
  it('allows the first offer plus `max` re-offers in any minute', () => {
    const c = clock();
    const w = createOfferWindow(10, 60_000, c.now);
    for (let i = 0; i < 11; i++) {
      expect(w.allows('rec-1')).toBe(true);
      w.record('rec-1');
      c.advance(1000);
    }
    expect(w.allows('rec-1')).toBe(false);
    expect(w.allows('rec-2')).toBe(true);
    c.advance(50_000); // the first offer is now more than a minute old
    expect(w.allows('rec-1')).toBe(true);
    c.advance(60_000);
    expect(w.allows('rec-1')).toBe(true);
    expect(w.keys).toBe(0);
  });
});
