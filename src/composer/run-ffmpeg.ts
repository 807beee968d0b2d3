import { spawn } from 'node:child_process';

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of stderr. */
  stderr: string[];
  aborted: boolean;
}

export interface RunOptions {
  onStdout?(chunk: string): void;
  signal?: AbortSignal;
  /** Lines of stderr kept (the tail). */
  keepLines?: number;
  /** After an abort, SIGKILL if ffmpeg has not exited after this long. */
  killAfterMs?: number;
}

/** Keeps the last `max` lines of a stream. */
export function lineTail(max: number) {
  const lines: string[] = [];
  let partial = '';
  return {
    push(chunk: string) {
      const parts = (partial + chunk).split(/\r?\n|\r/);
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (l.trim() === '') continue;
        lines.push(l.length > 1000 ? `${l.slice(0, 1000)}…` : l);
        if (lines.length > max) lines.shift();
      }
    },
    lines(): string[] {
      const all = partial.trim() !== '' ? [...lines, partial] : [...lines];
      return all.slice(-max);
    },
  };
}

/**
 * Runs a binary to completion. Never rejects for a non-zero exit: the caller
 * decides. Rejects only when the binary cannot be started.
 */
export function runProcess(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ exitCode: null, signal: null, stderr: [], aborted: true });
      return;
    }
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = lineTail(opts.keepLines ?? 20);
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 5000);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => opts.onStdout?.(d));
    child.stderr.on('data', (d: string) => tail.push(d));
    child.once('error', (err) => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      resolve({ exitCode: code, signal, stderr: tail.lines(), aborted });
    });
  });
}
