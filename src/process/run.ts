import { spawn } from 'node:child_process';

/**
 * The one way this project runs ffmpeg and ffprobe (the composer, the
 * recorder's probe and remux, the tools): a child process run to completion,
 * stdout streamed or collected, the tail of stderr kept, an abort signal and
 * a hard timeout.
 */

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** What it wrote to stdout, unless onStdout took it (at most maxStdoutBytes). */
  stdout: Buffer;
  /** The last lines of stderr (blank lines dropped, long ones cut). */
  stderr: string[];
  /** Stopped because the signal was aborted. */
  aborted: boolean;
  /** Killed because it ran longer than timeoutMs. */
  timedOut: boolean;
}

export interface RunOptions {
  /** Streams stdout (UTF-8) to this instead of collecting it. */
  onStdout?(chunk: string): void;
  /** Most stdout bytes collected (default 1 MiB); the rest is dropped. */
  maxStdoutBytes?: number;
  signal?: AbortSignal;
  /** Fed to the child's stdin (closed when it ends); default: no stdin. */
  stdin?: NodeJS.ReadableStream;
  /** SIGKILL after this long (default: no limit). */
  timeoutMs?: number;
  /** Lines of stderr kept (the tail, default 20). */
  keepLines?: number;
  /** After an abort (SIGTERM), SIGKILL if it has not exited after this long (default 5 s). */
  killAfterMs?: number;
}

const MAX_LINE = 1000;

/** Keeps the last `max` non-blank lines of a stream. */
export function lineTail(max: number) {
  const lines: string[] = [];
  let partial = '';
  return {
    push(chunk: string) {
      const parts = (partial + chunk).split(/\r?\n|\r/);
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (l.trim() === '') continue;
        lines.push(l.length > MAX_LINE ? `${l.slice(0, MAX_LINE)}…` : l);
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
 * Runs a binary to completion. Never rejects for a non-zero exit, a timeout
 * or an abort: the result says which, and the caller decides. Rejects only
 * when the binary cannot be started.
 */
export function runProcess(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr: [], aborted: true, timedOut: false });
      return;
    }
    const child = opts.stdin ? spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (opts.stdin && child.stdin) {
      // A child that exits early closes its end: that is its exit code's story, not an error here.
      child.stdin.on('error', () => undefined);
      opts.stdin.pipe(child.stdin);
    }
    const tail = lineTail(opts.keepLines ?? 20);
    const out: Buffer[] = [];
    let outBytes = 0;
    const maxOut = opts.maxStdoutBytes ?? 1024 * 1024;
    let aborted = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timeout =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 5000);
    };
    const done = () => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      clearTimeout(timeout);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.onStdout) {
      const onStdout = opts.onStdout;
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => onStdout(d));
    } else {
      child.stdout.on('data', (d: Buffer) => {
        if (outBytes >= maxOut) return;
        const keep = d.length <= maxOut - outBytes ? d : d.subarray(0, maxOut - outBytes);
        out.push(keep);
        outBytes += keep.length;
      });
    }
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => tail.push(d));
    child.once('error', (err) => {
      done();
      reject(err);
    });
    child.once('close', (code, signal) => {
      done();
      resolve({ exitCode: code, signal, stdout: Buffer.concat(out), stderr: tail.lines(), aborted, timedOut });
    });
  });
}
