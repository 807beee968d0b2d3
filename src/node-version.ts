import type { Logger } from 'pino';

/** End of life of each Node.js LTS line (https://nodejs.org/en/about/previous-releases). */
export const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  18: '2025-04-30',
  20: '2026-04-30',
  22: '2027-04-30',
  24: '2028-04-30',
};

export type NodeVersionStatus =
  | { kind: 'lts'; major: number; endOfLife: string }
  | { kind: 'end-of-life'; major: number; endOfLife: string | null }
  /** An odd major: never an LTS line, supported for a few months only. */
  | { kind: 'not-lts'; major: number }
  /** An even major newer than the table. */
  | { kind: 'unknown'; major: number };

export function nodeVersionStatus(version: string, today: Date): NodeVersionStatus {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  const endOfLife = NODE_END_OF_LIFE[major];
  if (endOfLife) return today.toISOString().slice(0, 10) > endOfLife ? { kind: 'end-of-life', major, endOfLife } : { kind: 'lts', major, endOfLife };
  if (major % 2 === 1) return { kind: 'not-lts', major };
  // Older than every line in the table: long past its end of life.
  if (major < Math.min(...Object.keys(NODE_END_OF_LIFE).map(Number))) return { kind: 'end-of-life', major, endOfLife: null };
  return { kind: 'unknown', major };
}

/** LTS lines still maintained on that day, e.g. "22, 24". */
function maintainedLines(today: Date): string {
  const day = today.toISOString().slice(0, 10);
  return Object.entries(NODE_END_OF_LIFE)
    .filter(([, eol]) => eol >= day)
    .map(([major]) => major)
    .join(', ');
}

/** Logs the Node.js version the process runs on, and warns when that line is past its end of life. */
export function logNodeVersion(logger: Logger, version = process.version, today = new Date()): NodeVersionStatus {
  const status = nodeVersionStatus(version, today);
  const endOfLife = 'endOfLife' in status ? status.endOfLife : undefined;
  logger.info({ node: version, endOfLife }, `running on Node.js ${version}`);
  if (status.kind === 'end-of-life') {
    logger.warn(
      { node: version, endOfLife },
      `Node.js ${status.major} is past its end of life${endOfLife ? ` (${endOfLife})` : ''}: no more security fixes; run on a maintained LTS line (${maintainedLines(today)})`,
    );
  } else if (status.kind === 'not-lts') {
    logger.info({ node: version }, `Node.js ${status.major} is not an LTS line (odd major): prefer an LTS line (${maintainedLines(today)}) in production`);
  }
  return status;
}
