import { describe, expect, it } from 'vitest';
import { machines } from '../../machines/index.js';
import { mutants } from './mutants.js';
import { runModelSuite } from './suite.js';

/** The suite can fail: each mutant (a machine with one transition altered) must break the rule it was made to break. */
describe('model-based: mutated machines fail the suite', () => {
  it.each(mutants.map((m) => [m.name, m] as const))('%s', async (_name, m) => {
    const report = await runModelSuite({ ...machines, [m.kind]: m.machine }, { stopWhen: (p) => m.breaks.some((r) => p.startsWith(`[${r}]`)) });
    const hit = report.problems.filter((p) => m.breaks.some((r) => p.startsWith(`[${r}]`)));
    expect(hit.length, `${m.name}: no rule of ${m.breaks.join(', ')} reported after ${report.paths} paths`).toBeGreaterThan(0);
    console.log(`${m.name}: caught after ${report.paths} paths: ${hit[0]}`);
  }, 300_000);
});
