import type { ChildProcess } from 'node:child_process';
import { spawnServer } from '../../tools/lib/server.js';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Every log line (parsed pino JSON) the process printed. */
  lines: any[];
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `src/main.ts` as a real child process (as `npm start` does) and waits for its ready log line. */
export async function startServerProcess(
  env: Record<string, string>,
  timeoutMs = 30_000,
  readyMsg = 'meeting-recorder listening',
): Promise<ServerProcess> {
  // The process runs in NATS mode only when the test says so (CI exports NATS_URL for the NATS tests).
  const { NATS_URL: _inherited, ...base } = process.env;
  const lines: any[] = [];
  const { child, url, exited } = await spawnServer({
    baseEnv: base,
    env: { RECORDER_ICE_LOOPBACK: '1', ...env },
    timeoutMs,
    readyMsg,
    onLine: (j) => lines.push(j),
  });
  return {
    child,
    url,
    lines,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
