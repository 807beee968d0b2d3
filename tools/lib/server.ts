/**
 * Starts `src/main.ts` as its own process, as `npm start` does: for the load
 * generator (its CPU time read from /proc without counting the generator's)
 * and for the tests that crash, restart or cluster real server processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_ARGS } from '../../src/config.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerProcessOptions {
  /**
   * false: leave this process's NATS_URL out, so the server runs in NATS mode
   * only when `env` says so (tests: CI exports NATS_URL for the NATS tests).
   */
  inheritNatsUrl?: boolean;
  /** Before the script (e.g. --cpu-prof: Node 20 refuses it in NODE_OPTIONS). */
  nodeArgs?: string[];
  timeoutMs?: number;
  /** The log line that says the process is ready; its `url` field, if any, becomes `url`. */
  readyMsg?: string;
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** From the ready line ('' for a process that serves no HTTP, e.g. ROLE=composer). */
  url: string;
  /** Every log line (parsed pino JSON) the process printed. */
  lines: any[];
  /** Counts of log lines by level name, and the first few warnings/errors. */
  levels: Record<string, number>;
  problems: string[];
  stderrTail(): string;
  /** The exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Sends `signal` (unless the process is gone) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGTERM (graceful: recordings finalized, CPU profile written), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<number | null>;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * Spawns the server on a free loopback port with the server's node flags and
 * resolves once its ready line is printed (rejects if the process exits or
 * times out first). The environment is this process's, then PORT 0,
 * HOST 127.0.0.1, LOG_LEVEL info and RECORDER_ICE_LOOPBACK 1, then `env`.
 */
export async function startServerProcess(env: Record<string, string>, opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  const { inheritNatsUrl = true, nodeArgs = [], timeoutMs = 60_000, readyMsg = 'meeting-recorder listening' } = opts;
  const { NATS_URL, ...rest } = process.env;
  const base = inheritNatsUrl ? process.env : rest;
  const child = spawn(process.execPath, [...nodeArgs, ...SERVER_NODE_ARGS, 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...base, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', RECORDER_ICE_LOOPBACK: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines: any[] = [];
  const levels: Record<string, number> = {};
  const problems: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let j: any;
      try {
        j = JSON.parse(line);
      } catch {
        return; // not a log line
      }
      lines.push(j);
      const level = LEVELS[j.level] ?? String(j.level);
      levels[level] = (levels[level] ?? 0) + 1;
      if (j.level >= 40 && problems.length < 20) problems.push(`${level}: ${j.msg}${j.err ? ` (${j.err.message ?? j.err})` : ''}`);
      if (j.msg === readyMsg) {
        clearTimeout(t);
        resolve(j.url ?? '');
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code}\n${stderr}`));
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid!,
    url,
    lines,
    levels,
    problems,
    stderrTail: () => stderr,
    exited,
    async kill(signal = 'SIGTERM') {
      if (running()) child.kill(signal);
      return exited;
    },
    async stop(graceMs = 30_000) {
      if (!running()) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
