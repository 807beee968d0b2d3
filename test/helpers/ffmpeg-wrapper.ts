/**
 * Stand-ins for the ffmpeg binary that still run the real one: a composer
 * ffmpeg that fails on purpose (a real non-zero exit with real stderr, seen
 * through FFMPEG_PATH by the whole app), and a sender ffmpeg that paints a
 * flat colour instead of the test pattern (known content for picture checks).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FFMPEG } from '../../tools/lib/compose-fixtures.js';

/** The line the failing wrapper prints last on stderr (ffmpeg's "last line"): `${FAILURE_LINE} <n>`. */
export const FAILURE_LINE = 'injected failure: composer run';

export interface FailingFfmpeg {
  /** Give this as FFMPEG_PATH. */
  path: string;
  /** Composer runs (ffmpeg with a filter graph) seen so far, failed or not. */
  composerRuns(): Promise<number>;
  /** From now on the first `n` composer runs in total fail (runs already made count). */
  failFirst(n: number): Promise<void>;
}

/**
 * An ffmpeg that fails the first `failFirst` composer runs — invocations with
 * `-filter_complex` / `-filter_complex_script`, so the recorder's remuxes and
 * probes are untouched — by exiting 1 after two stderr lines, and execs the
 * real ffmpeg otherwise. The counter and the limit are files in `dir`.
 */
export async function failingFfmpeg(dir: string, failFirst: number): Promise<FailingFfmpeg> {
  const file = path.join(dir, 'ffmpeg');
  const counter = path.join(dir, 'composer-runs');
  const limit = path.join(dir, 'fail-first');
  await writeFile(limit, String(failFirst));
  await writeFile(
    file,
    `#!/bin/bash
compose=0
for a in "$@"; do
  case "$a" in -filter_complex|-filter_complex_script) compose=1 ;; esac
done
if [ "$compose" = 1 ]; then
  n=$(( $(cat '${counter}' 2>/dev/null || echo 0) + 1 ))
  echo "$n" > '${counter}'
  if [ "$n" -le "$(cat '${limit}')" ]; then
    echo "wrapper: refusing composer run $n on purpose" >&2
    echo "${FAILURE_LINE} $n" >&2
    exit 1
  fi
fi
exec '${FFMPEG}' "$@"
`,
  );
  await chmod(file, 0o755);
  return {
    path: file,
    composerRuns: async () => Number((await readFile(counter, 'utf8').catch(() => '0')).trim()),
    failFirst: (n) => writeFile(limit, String(n)),
  };
}

/**
 * An ffmpeg for the synthetic sender (`media.ffmpegPath`) whose video is a flat
 * `color` (0xRRGGBB) instead of testsrc2, at the same size, rate and length.
 */
export async function colourFfmpeg(dir: string, color: string): Promise<string> {
  if (!/^0x[0-9a-fA-F]{6}$/.test(color)) throw new Error(`colour ${color}: expected 0xRRGGBB`);
  const file = path.join(dir, `ffmpeg-${color}`);
  await writeFile(
    file,
    `#!/bin/bash
args=()
for a in "$@"; do
  case "$a" in testsrc2=*) args+=("color=c=${color}:\${a#testsrc2=}") ;; *) args+=("$a") ;; esac
done
exec '${FFMPEG}' "\${args[@]}"
`,
  );
  await chmod(file, 0o755);
  return file;
}
