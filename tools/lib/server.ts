/**
 * Starts `src/main.ts` as its own process (as `npm start` does) so its CPU
 * time can be read from /proc without counting the load generator's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { SERVER_NODE_ARGS } from '../../src/config.js';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Counts of pino log lines by level name, and the first few warnings/errors. */
  levels: Record<string, number>;
  problems: string[];
  stderrTail(): string;
  /** SIGTERM (graceful: recordings finalized, CPU profile written), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<number | null>;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export interface SpawnedServer {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  stderrTail(): string;
}

/**
 * Spawns `src/main.ts` with the server's node flags, hands every pino line to
 * onLine, and resolves once the ready line names the URL (rejects if the
 * process exits or times out first). nodeArgs go before the script (e.g.
 * --cpu-prof: Node 20 refuses it in NODE_OPTIONS). test/helpers/server-process.ts
 * uses it too.
 */
export async function spawnServer(opts: {
  /** The environment to start from (default: this process's); PORT 0, HOST 127.0.0.1 and LOG_LEVEL info replace its values. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Set last, over those. */
  env: Record<string, string>;
  nodeArgs?: string[];
  timeoutMs?: number;
  readyMsg?: string;
  onLine?: (line: any) => void;
}): Promise<SpawnedServer> {
  const { baseEnv = process.env, env, nodeArgs = [], timeoutMs = 60_000, readyMsg = 'meeting-recorder listening', onLine } = opts;
  const child = spawn(process.execPath, [...nodeArgs, ...SERVER_NODE_ARGS, 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...baseEnv, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let j: any;
      try {
        j = JSON.parse(line);
      } catch {
        return; // not a log line
      }
      onLine?.(j);
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
  return { child, url, exited, stderrTail: () => stderr };
}

/** The loadgen and benchmark server: log lines counted by level, graceful stop. */
export async function startServerProcess(env: Record<string, string>, nodeArgs: string[] = [], timeoutMs = 60_000): Promise<ServerProcess> {
  const levels: Record<string, number> = {};
  const problems: string[] = [];
  const { child, url, exited, stderrTail } = await spawnServer({
    env,
    nodeArgs,
    timeoutMs,
    onLine: (j) => {
      const level = LEVELS[j.level] ?? String(j.level);
      levels[level] = (levels[level] ?? 0) + 1;
      if (j.level >= 40 && problems.length < 20) problems.push(`${level}: ${j.msg}${j.err ? ` (${j.err.message ?? j.err})` : ''}`);
    },
  });
  return {
    child,
    pid: child.pid!,
    url,
    levels,
    problems,
    stderrTail,
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
