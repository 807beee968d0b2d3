/**
 * Churn: random lifecycles against the real app (werift recorder peers,
 * ffmpeg composer, embedded log) with werift participants: joins, leaves
 * (polite or a dropped socket), the host leaving, starts and stops over HTTP,
 * renegotiations and camera off/on, with random pauses (fast-check
 * `fc.commands`; model and commands in test/helpers/churn-model.ts). After each
 * run: every recording ended within its stop timeout, every segment written is
 * composed or skipped with a reason, and nothing (peer, socket, child process,
 * open file, timer or other handle) outlives the room, nor the app once it is
 * stopped (test/helpers/churn-checks.ts). A failure is shrunk to a minimal
 * command sequence and printed with the seed and path that replay it:
 *
 *   CHURN_SEED=<seed> CHURN_PATH=<path> CHURN_REPLAY=<replayPath> npx vitest run test/integration/churn.test.ts
 *
 * CHURN_RUNS (default 6), CHURN_VERBOSE=1 (print every run's trace), CHURN_KEEP=1 (keep each run's recordings folder), CHURN_MAX_COMMANDS (12: fast-check draws 0 to about 9), CHURN_MAX_SHRINKS (20).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import { pendingTimers, trackTimers, checkActors, checkSegments, openMediaFiles, resources, retryTimers, settleRecordings, settleResources } from '../helpers/churn-checks.js';
import { churnCommands, hostLeaves, newReal, openMeeting, type ChurnModel, type ChurnReal } from '../helpers/churn-model.js';
import { removeDir } from '../helpers/tmp.js';
import { sleep } from '../helpers/wait.js';
import { openFilesUnder } from '../../tools/lib/soak-proc.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const SEED = env('CHURN_SEED', 20_260_115);
const RUNS = env('CHURN_RUNS', 6);
const MAX_COMMANDS = env('CHURN_MAX_COMMANDS', 12);
const MAX_SHRINKS = env('CHURN_MAX_SHRINKS', 20);
const PATH = process.env.CHURN_PATH;
/** fc.commands' own replay hint (which generated commands ran), printed with a counterexample as replayPath. */
const REPLAY = process.env.CHURN_REPLAY;

let runNo = 0;
const timers = trackTimers();
/** Bounded leftovers seen (not failures), printed at the end. */
const boundedSeen = new Map<string, number>();

/** Waits (up to 5 s) until no timer set during the run is pending but allowed ones; returns the others with where they were set. */
async function settleTimers(mark: number, allowedRuntime: () => number): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { leaked, bounded } = pendingTimers(timers.since(mark), allowedRuntime());
    if (leaked.length === 0 || Date.now() > deadline) {
      for (const b of bounded) boundedSeen.set(b, (boundedSeen.get(b) ?? 0) + 1);
      return leaked.map((stack) => `a timer is still pending, set at:\n${stack.replace(/^/gm, '      ')}`);
    }
    await sleep(100);
  }
}

async function churnRun(cmds: Iterable<fc.AsyncCommand<ChurnModel, ChurnReal>>): Promise<void> {
  const n = ++runNo;
  const t0 = Date.now();
  const beforeApp = resources();
  const timersMark = timers.mark();
  const app = await startTestApp();
  const real = newReal(app, `churn-${n}`);
  const problems: string[] = [];
  let ok = false;
  try {
    const inRoom = resources();
    const model = await openMeeting(real);
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    // Wind down: the host leaves (the room closes, its recording stops), then everything must settle.
    const windDownAt = Date.now();
    if (real.members.length) await hostLeaves({ members: real.members.length, recording: !!real.active }, real, false);
    const settled = await settleRecordings(real, windDownAt);
    for (const [id, sess] of settled.sessions) {
      const job = settled.jobs.get(id);
      real.trace.push(`end: ${id} ${sess?.state} (${sess?.stopReason}), ${sess?.segments?.length ?? 0} segment(s); composition ${job?.state ?? '-'}: ${job?.output ? `${job.output.filename}` : (job?.error ?? '')}`);
    }
    problems.push(...settled.problems, ...(await checkSegments(real, settled)), ...checkActors(real));
    problems.push(...(await settleResources(inRoom, 10_000)).map((p) => `after the room closed: ${p}`));
    problems.push(...(await settleTimers(timersMark, () => retryTimers(real))).map((p) => `after the room closed: ${p}`));
    const open = openMediaFiles(app.root);
    if (open.length) problems.push(`files under the recordings root still open after the room closed: ${open.join(', ')}`);
    await app.stop();
    const stillOpen = openFilesUnder('self', app.root);
    if (stillOpen.length) problems.push(`files still open after the app stopped: ${stillOpen.join(', ')}`);
    problems.push(...(await settleResources(beforeApp, 10_000)).map((p) => `after the app stopped: ${p}`));
    problems.push(...(await settleTimers(timersMark, () => 0)).map((p) => `after the app stopped: ${p}`));
    ok = true;
  } finally {
    await Promise.allSettled(real.members.map((m) => m.close()));
    await app.stop().catch(() => undefined);
    if (process.env.CHURN_KEEP) console.log(`[churn] run ${n} kept in ${app.root}`);
    else await removeDir(app.root);
    const took = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(`[churn] run ${n}: ${real.trace.length} steps, ${real.recordings.length} recording(s), ${took} s${ok && !problems.length ? '' : ' — FAILED'}`);
    if (process.env.CHURN_VERBOSE) console.log(real.trace.map((t) => `  ${t}`).join('\n'));
  }
  if (problems.length) {
    throw new Error(
      [`${problems.length} invariant(s) broken:`, ...problems.map((p) => `  - ${p}`), 'trace:', ...real.trace.map((t) => `  ${t}`), ...(real.notes.length ? ['client notes:', ...real.notes.map((x) => `  ${x}`)] : [])].join('\n'),
    );
  }
}

describe('churn: random meeting lifecycles against the real app', () => {
  it(
    `${RUNS} random runs (seed ${SEED}) keep every recording, segment and resource accounted for`,
    async () => {
      console.log(`[churn] seed ${SEED}${PATH ? ` path ${PATH}` : ''}, ${RUNS} runs of up to ${MAX_COMMANDS} commands (a failure prints the line that replays it)`);
      const property = fc.asyncProperty(fc.limitShrink(churnCommands(MAX_COMMANDS, REPLAY), MAX_SHRINKS), (cmds) => churnRun(cmds));
      const details = await fc.check(property, { seed: SEED, numRuns: RUNS, ...(PATH ? { path: PATH } : {}), verbose: 1 });
      if (boundedSeen.size) console.log(`[churn] bounded leftovers seen (not failures): ${[...boundedSeen].map(([why, n]) => `${n}× ${why}`).join('; ')}`);
      if (details.failed) {
        const why = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        const replayPath = /replayPath="([^"]*)"/.exec(String(details.counterexample?.[0] ?? ''))?.[1];
        const replay = `CHURN_SEED=${SEED} CHURN_PATH=${details.counterexamplePath}${replayPath ? ` CHURN_REPLAY='${replayPath}'` : ''}`;
        const report = `${fc.defaultReportMessage(details) ?? 'failed'}\nReplay the minimal case: ${replay} npx vitest run test/integration/churn.test.ts\nWhat the minimal run broke:\n${why}`;
        console.error(`[churn] minimal counterexample (replay: ${replay}):\n${report}`);
        expect.fail(report);
      }
    },
    (RUNS + MAX_SHRINKS) * 90_000,
  );
});
