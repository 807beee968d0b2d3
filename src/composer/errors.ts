export type ComposeErrorCode =
  | 'ffmpeg-missing'
  | 'no-inputs'
  | 'ffmpeg-failed'
  | 'output-invalid'
  | 'aborted'
  | 'io-failed'
  | 'invalid-request';

/**
 * A composition that produced no output. For ffmpeg failures it carries the
 * exit code (null when killed by a signal) and the last stderr lines.
 */
export class ComposeError extends Error {
  readonly code: ComposeErrorCode;
  readonly exitCode: number | null;
  readonly stderr: string[];

  constructor(code: ComposeErrorCode, message: string, opts: { exitCode?: number | null; stderr?: string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ComposeError';
    this.code = code;
    this.exitCode = opts.exitCode ?? null;
    this.stderr = opts.stderr ?? [];
  }

  /** Alias the composition worker also reads. */
  get stderrTail(): string[] {
    return this.stderr;
  }
}
