import { playTrace, withMachines, type MachineSet } from './harness.js';
import { machinePaths } from './machine-paths.js';
import { meetingPaths, playCommand } from './meeting-model.js';
import { checkTrace } from './oracle.js';
import { declaredTransitions, type TransitionKey } from './transitions.js';
import { settle } from './world.js';

export interface SuiteReport {
  /** One line per broken rule (empty when the machines keep every rule on every path). */
  problems: string[];
  paths: number;
  /** Declared transitions of the machines, and those some path took. */
  declared: Set<TransitionKey>;
  taken: Set<TransitionKey>;
}

/**
 * The model-based suite as a function of the machines it runs: every path of
 * every machine's graph and of the meeting model is played through the real
 * runtime, the world then ends the meeting, and the oracle judges the run.
 * `stopAtFirst` ends at the first path that breaks a rule (for mutants).
 */
export async function runModelSuite(set: MachineSet, opts: { stopAtFirst?: boolean } = {}): Promise<SuiteReport> {
  const report: SuiteReport = { problems: [], paths: 0, declared: new Set(), taken: new Set() };
  for (const m of Object.values(set)) for (const k of declaredTransitions(m)) report.declared.add(k);
  await withMachines(set, async () => {
    const runs: { name: string; play: () => Promise<{ trace: Awaited<ReturnType<typeof playTrace>>; extra: string[] }> }[] = [
      ...meetingPaths().map((p) => ({
        name: p.name,
        play: async () => ({
          trace: await playTrace(`meeting: ${p.name}`, [], async (w) => {
            for (const s of p.commands) await playCommand(w, s.command, s.before);
            await settle(w);
          }),
          extra: [] as string[],
        }),
      })),
      ...(['room', 'recording', 'peer', 'composition'] as const).flatMap((kind) =>
        machinePaths(set, kind).map((p) => ({
          name: p.name,
          play: async () => {
            const trace = await playTrace(p.name, p.steps, settle);
            // these steps came from the machine's own graph: the runtime must take every one (validation, routing)
            const refusedStep = p.steps.find((s) => trace.refused.some((r) => r.startsWith(`${s.type} on ${s.stream}:`)));
            return { trace, extra: refusedStep ? [`[path] the runtime refused a step of the machine's own graph: ${trace.refused[0]} — path ${p.name}`] : [] };
          },
        })),
      ),
    ];
    for (const r of runs) {
      const { trace, extra } = await r.play();
      report.paths++;
      for (const k of trace.taken) report.taken.add(k);
      const problems = [...extra, ...checkTrace(trace)];
      report.problems.push(...problems);
      if (opts.stopAtFirst && problems.length) return;
    }
  });
  return report;
}
