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
 * `stopWhen` ends the run at the first problem it accepts (a mutant need not play every path).
 */
export async function runModelSuite(set: MachineSet, opts: { stopWhen?: (problem: string) => boolean } = {}): Promise<SuiteReport> {
  const report: SuiteReport = { problems: [], paths: 0, declared: new Set(), taken: new Set() };
  for (const m of Object.values(set)) for (const k of declaredTransitions(m)) report.declared.add(k);
  await withMachines(set, async () => {
    type Run = { trace: Awaited<ReturnType<typeof playTrace>>; extra: string[] };
    // Lazily, so a mutant caught early never pays for the graphs of the machines after it.
    function* runs(): Generator<() => Promise<Run>> {
      for (const p of meetingPaths()) {
        yield async () => ({
          trace: await playTrace(`meeting: ${p.name}`, [], async (w) => {
            for (const s of p.commands) await playCommand(w, s.command, s.before);
            await settle(w);
          }),
          extra: [],
        });
      }
      for (const kind of ['composition', 'room', 'recording', 'peer', 'upload', 'webhook'] as const) {
        for (const p of machinePaths(set, kind)) {
          yield async () => {
            const trace = await playTrace(p.name, p.steps, settle);
            // these steps came from the machine's own graph: the runtime must take every one (validation, routing)
            const refusedStep = p.steps.find((s) => trace.refused.some((r) => r.startsWith(`${s.type} on ${s.stream}:`)));
            return { trace, extra: refusedStep ? [`[path] the runtime refused a step of the machine's own graph: ${trace.refused[0]} — path ${p.name}`] : [] };
          };
        }
      }
    }
    for (const play of runs()) {
      const { trace, extra } = await play();
      report.paths++;
      for (const k of trace.taken) report.taken.add(k);
      const problems = [...extra, ...checkTrace(trace)];
      report.problems.push(...problems);
      if (opts.stopWhen && problems.some(opts.stopWhen)) return;
    }
  });
  return report;
}
