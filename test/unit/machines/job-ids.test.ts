import { describe, expect, it } from 'vitest';
import { compositionJobId, nextCompositionJobId, stopCompositionJobId } from '../../../machines/actions.js';

describe('composition job ids', () => {
  it('a stop names job 1 of its recording, the same every time', () => {
    expect(stopCompositionJobId('rec1')).toBe('rec1-c1');
    expect(stopCompositionJobId('rec1')).toBe(compositionJobId('rec1', 1));
  });

  it('a composition asked for again takes the lowest number from 2 that names no job', () => {
    const jobs = new Set<string>();
    const take = () => {
      const id = nextCompositionJobId('rec1', (j) => jobs.has(j));
      jobs.add(id);
      return id;
    };
    expect(take()).toBe('rec1-c2'); // with or without the stop's job: 1 stays the stop's
    jobs.add('rec1-c1');
    expect([take(), take()]).toEqual(['rec1-c3', 'rec1-c4']);
    jobs.delete('rec1-c3');
    expect(take()).toBe('rec1-c3');
  });

  it('jobs named by an older rule (random uuids) take no number', () => {
    const jobs = new Set(['0b7c6c5e-4f1a-4a7e-9d6c-2f0f3b8f9a11', 'rec1-c1']);
    expect(nextCompositionJobId('rec1', (j) => jobs.has(j))).toBe('rec1-c2');
  });
});
