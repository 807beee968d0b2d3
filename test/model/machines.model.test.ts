import { beforeAll, describe, expect, it } from 'vitest';
import { machines } from '../../machines/index.js';
import { meetingPaths } from './meeting-model.js';
import { RULES } from './oracle.js';
import { runModelSuite, type SuiteReport } from './suite.js';

/**
 * The model-based suite against machines/: every path of the meeting model and
 * of each machine's graph runs through the real runtime, and the oracle (rules
 * written from protocol.md section 4, not from the machines) judges each run.
 */
describe('model-based: machines/ keep the lifecycle rules', () => {
  let report: SuiteReport;
  beforeAll(async () => {
    report = await runModelSuite({ ...machines });
    const broken = new Set(report.problems.map((p) => p.slice(1, p.indexOf(']'))));
    console.log(
      `model-based: ${report.paths} paths, ${report.taken.size} of ${report.declared.size} declared transitions played` +
        (broken.size ? `; rules broken: ${[...broken].join(', ')}` : ''),
    );
  }, 600_000);

  it('plays every transition the machines declare (effect-only and targetless ones included)', () => {
    expect([...report.declared].filter((k) => !report.taken.has(k))).toEqual([]);
    // counted from the machines' state nodes, not from the paths: a path per edge proves nothing
    expect(report.declared.size).toBeGreaterThan(70);
    for (const k of ['recording.recording recording.participant.left#0', 'composition.queued composition.requeued#0', 'recording.stopping always#0'])
      expect(report.declared).toContain(k);
    for (const s of ['negotiating', 'connected', 'flowing']) expect(report.taken).toContain(`peer.${s} peer.candidate.received#0`);
  });

  it('generates the lifecycles the rules are about', () => {
    const names = meetingPaths().map((p) => p.name);
    expect(names).toContain('H_JOIN START H_LEAVE');
    expect(names.some((n) => /START.*OFFER_P.*SEG_P.*P_LEAVE/.test(n))).toBe(true);
    expect(names.some((n) => /START.*P_LEAVE.*CLOSED_P P_JOIN$/.test(n))).toBe(true);
    expect(names.some((n) => /OFFER_H.*SEG_H.*OFFER_H/.test(n))).toBe(true);
  });

  it.each(RULES)('rule %s holds on every path', (rule) => {
    expect(report.problems.filter((p) => p.startsWith(`[${rule}]`)).slice(0, 10)).toEqual([]);
  });

  it('every problem belongs to a known rule', () => {
    expect(report.problems.filter((p) => !RULES.some((r) => p.startsWith(`[${r}]`)))).toEqual([]);
  });
});
