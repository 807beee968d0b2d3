import { initialTransition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MAX_CONTEXT_KEYS, machines } from '../../../machines/index.js';

// xstate copies a context with Object.assign({}, context, update) on every assign;
// past MAX_CONTEXT_KEYS top-level keys V8 makes that copy a dictionary and each
// step costs several times more (see machines/index.ts).
describe('machine contexts stay small enough for fast copies', () => {
  for (const [kind, machine] of Object.entries(machines)) {
    it(`${kind}: at most ${MAX_CONTEXT_KEYS} top-level keys`, () => {
      const [snapshot] = initialTransition(machine, { id: 'x' });
      expect(Object.keys(snapshot.context).length).toBeLessThanOrEqual(MAX_CONTEXT_KEYS);
    });
  }
});
