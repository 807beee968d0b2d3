import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { SERVER_NODE_ARGS } from '../../src/config.js';

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
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, 'src/main.ts'], {
    env: { ...base, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', RECORDER_ICE_LOOPBACK: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: any[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line);
        lines.push(j);
        if (j.msg === readyMsg) {
          clearTimeout(t);
          resolve(j.url ?? '');
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code}\n${stderr}`));
    });
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
