export type ComposeErrorCode =
  | 'ffmpeg-missing'
  | 'no-inputs'
  | 'ffmpeg-failed'
  | 'output-invalid'
  | 'aborted'
  | 'io-failed'
  | 'invalid-request'
  | 'disk-full';

/** ffmpeg's words (strerror of ENOSPC / EDQUOT) for an output it could not write for want of space. */
const NO_SPACE = /No space left on device|Disk quota exceeded/i;
export const saysNoSpace = (lines: readonly string[]) => lines.some((l) => NO_SPACE.test(l));

/** A Node error that means the disk is full. */
export const isNoSpaceError = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

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
