import { describe, expect, it } from 'vitest';
import { envelopeSchema } from '../../../events/envelope.js';
import { looksNew, looksStored, parseStored } from '../../../src/log/validate.js';

const valid = {
  id: 'e-1',
  type: 'recording.started',
  stream: 'recording:r-1.a_b',
  position: 1,
  time: 0,
  causationId: null,
  correlationId: 'r-1',
  version: 1,
  data: { a: [1, { b: null }] } as unknown,
};

const s = (n: number) => 'x'.repeat(n);
const variants: Record<keyof typeof valid, unknown[]> = {
  id: ['', s(1), s(64), s(65), 1, null],
  type: ['a.b', 'a', 'A.b', 'a.b-c', 'a.b.c', 'a..b', 'a.b.', 'a.B', '', 'a.b c'],
  stream: ['room:a', 'peer:a.b', 'room:', 'rooms:a', 'room:a b', 'room:a:b', `room:${s(295)}`, `room:${s(296)}`, ''],
  position: [0, 1, -1, 1.5, 2 ** 53, '1', null],
  time: [0, -1, 1.5, 1_700_000_000_000, 2 ** 53, null],
  causationId: [null, '', s(64), s(65), 1],
  correlationId: [null, '', s(128), s(129), 1],
  version: [0, 1, 2, 1.5, '1'],
  data: [{}, { x: 1 }, Object.create(null), [], null, 'x', 1, new Map(), new Date(0)],
};

/** Every single-field change of a valid event, plus missing and extra keys. */
function* corpus(base: Record<string, unknown>): Generator<unknown> {
  yield base;
  for (const [key, values] of Object.entries(variants)) {
    for (const v of values) yield { ...base, [key]: v };
    const { [key]: _, ...missing } = base;
    yield missing;
  }
  yield { ...base, extra: 1 };
  yield [base];
  yield null;
}

const newEventSchema = envelopeSchema.omit({ position: true });
const { position: _, ...validNew } = valid;

describe('envelope fast check', () => {
  it.each([
    ['stored', envelopeSchema, looksStored, valid],
    ['new', newEventSchema, looksNew, validNew],
  ] as const)('agrees with the schema on every single-field change of a valid %s event', (_name, schema, fast, base) => {
    const keyCount = Object.keys(base).length;
    for (const candidate of corpus(base)) {
      const label = JSON.stringify(candidate);
      const zodSays = schema.safeParse(candidate).success;
      // Never more than zod; exactly zod when the keys are the schema's (extra keys are zod's to strip).
      const exactKeys = !!candidate && !Array.isArray(candidate) && Object.keys(candidate).length === keyCount;
      expect(fast(candidate), label).toBe(zodSays && exactKeys);
    }
  });

  it('parses stored text exactly as the schema does', () => {
    for (const candidate of corpus(valid)) {
      expect(parseStored(JSON.stringify(candidate)).ok, JSON.stringify(candidate)).toBe(envelopeSchema.safeParse(JSON.parse(JSON.stringify(candidate))).success);
    }
  });

  it('explains what is wrong', () => {
    expect(parseStored('{"id":')).toMatchObject({ ok: false, problem: expect.stringMatching(/^not JSON/) });
    expect(parseStored(JSON.stringify({ ...valid, type: 'Bad' }))).toMatchObject({ ok: false, problem: expect.stringMatching(/dot-case/) });
  });
});
